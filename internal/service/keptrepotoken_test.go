package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// README, "The pull request": the agent's read-only token is kept for its
// own fetches while the task runs; docs/architecture.md, "Security": a
// token handed to a sandbox does not outlive its step. An issue's task
// that keeps its sandbox (keepSandbox in the repositories document's
// task) leaves the sandbox standing after the task has ended, for whoever
// looks inside it and for what the agent left running: the agent's token
// must not stay live in its file there for the rest of its hour. The
// clean-up of the kept sandbox revokes the token the file holds and
// removes the file.
func TestKeptIssueSandboxKeepsNoLiveToken(t *testing.T) {
	tests := []struct {
		name   string
		before func(t *testing.T, h *repoHarness) // before the command exits
		code   int
	}{
		{name: "the command failed", code: 1},
		{
			name: "the agent's commits pushed",
			before: func(t *testing.T, h *repoHarness) {
				git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
			},
		},
		{
			name: "the token refreshed while the task ran",
			before: func(t *testing.T, h *repoHarness) {
				h.clock.Set(h.clock.Now().Add(55 * time.Minute))
				if _, err := h.svc.CheckTask(context.Background(), TaskStep{TaskID: h.task.ID, UserID: h.task.Owner}); err != nil {
					t.Fatalf("CheckTask: %v", err)
				}
				if got := slices.Clone(h.access.minted); len(got) != 2 {
					t.Fatalf("minted %q, want the clone's token and its refresh", got)
				}
			},
			code: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarnessSpec(t, nil, func(in *TaskInput) { in.KeepSandbox = true })
			if tt.before != nil {
				tt.before(t, h)
			}
			file := filepath.Join(h.provider.dir, readCredential)
			cred, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, held, _ := strings.Cut(strings.TrimSpace(string(cred)), "password=")
			if !strings.HasPrefix(held, "ghs_read_") {
				t.Fatalf("the credential file holds %q, want the agent's token", cred)
			}
			h.exit(t, tt.code)
			_, err = h.svc.CleanUpTaskStep(context.Background(), h.task.ID, nil)
			var outcome *OutcomeError
			if err != nil && !errors.As(err, &outcome) {
				t.Fatalf("CleanUpTaskStep: %v", err)
			}
			if rec := h.record(t); !rec.Status.Terminal() || !rec.KeepSandbox {
				t.Fatalf("task %s keepSandbox=%v; want ended, its sandbox kept", rec.Status, rec.KeepSandbox)
			}
			h.access.mu.Lock()
			revoked := slices.Clone(h.access.revoked)
			h.access.mu.Unlock()
			if !slices.Contains(revoked, held) {
				t.Errorf("the agent's token in the kept sandbox was not revoked at its task's end (revoked %q); it stays live for up to an hour", revoked)
			}
			if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the agent's credential file is still in the kept sandbox after its task ended (stat: %v)", err)
			}
			if _, err := os.Stat(filepath.Join(h.provider.dir, pushCredential)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the push credential file is in the kept sandbox (stat: %v)", err)
			}
		})
	}
}
