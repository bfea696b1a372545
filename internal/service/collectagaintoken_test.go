package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// docs/architecture.md, "Security": the push token (contents: write)
// is bounded by its revocation right after the push. A Collect that died
// with its push token in the sandbox is run again, and the step asked
// again mints its own, whose upload overwrites the first: the first must
// be revoked then, or by the clean-up, since it stays live at GitHub for
// up to its hour otherwise. The stage's answer can be lost after its
// command ran (the toolbox's 502 on the read of its logs, the invocation
// dying): the step is asked again, and the dead token must still be found.
func TestCollectAgainRevokesTheDeadOnesPushToken(t *testing.T) {
	tests := []struct {
		name      string
		keep      bool
		loseStage bool // the first stage's answer is lost after it ran
	}{
		{name: "the sandbox deleted"},
		{name: "the sandbox kept", keep: true},
		{name: "the stage's answer lost", loseStage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarnessSpec(t, nil, func(in *TaskInput) { in.KeepSandbox = tt.keep })
			git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
			ctx := context.Background()
			if err := h.svc.recordExit(ctx, h.task, 0); err != nil {
				t.Fatal(err)
			}
			collectDies(t, h)
			cred, err := os.ReadFile(filepath.Join(h.provider.dir, pushCredential))
			if err != nil {
				t.Fatalf("the dead invocation left no push credential: %v", err)
			}
			_, dead, _ := strings.Cut(strings.TrimSpace(string(cred)), "password=")
			step := TaskStep{TaskID: h.task.ID, UserID: h.task.Owner, SandboxID: h.task.SandboxID}
			if tt.loseStage {
				lost := false
				h.provider.after = func(_ int, res *ExecResult) error {
					h.provider.shellProvider.mu.Lock()
					line := h.provider.lines[len(h.provider.lines)-1]
					h.provider.shellProvider.mu.Unlock()
					if lost || !strings.Contains(line, "killall_marked") || !strings.Contains(line, pushCredential) {
						return nil
					}
					lost = true
					return sandstep.Errorf(sandstep.ETRANSIENT, "read command logs: the toolbox answered 502")
				}
				if _, err := h.svc.CollectTask(ctx, step); err == nil || !lost {
					t.Fatalf("CollectTask = %v (stage's answer lost: %v); want the lost answer's error", err, lost)
				}
			}
			if _, err := h.svc.CollectTask(ctx, step); err != nil {
				t.Fatalf("CollectTask again: %v", err)
			}
			if _, err := h.svc.CleanUpTaskStep(ctx, h.task.ID, nil); err != nil {
				var outcome *OutcomeError
				if !errors.As(err, &outcome) {
					t.Fatalf("CleanUpTaskStep: %v", err)
				}
			}
			if rec := h.record(t); rec.PullRequest == "" {
				t.Fatalf("task %s (%q); want its pull request", rec.Status, rec.Error)
			}
			h.access.mu.Lock()
			minted, revoked := slices.Clone(h.access.minted), slices.Clone(h.access.revoked)
			h.access.mu.Unlock()
			if !slices.Contains(revoked, dead) {
				t.Errorf("minted %q, revoked %d: the dead Collect's push token was never revoked, live for up to an hour", minted, len(revoked))
			}
		})
	}
}
