package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// docs/architecture.md, "Security": an issue's agent reads anyone's
// text, and what it was steered to copy out of its sandbox lives on
// after it. The tokens the sandbox held when its task ended (the agent's
// read token; a push token a Collect that died before its push left) are
// revoked at the task's end whether the sandbox is kept or deleted: a
// deleted sandbox's must not stay live at GitHub for the rest of their
// hour.
func TestDeletedIssueSandboxLeavesNoLiveToken(t *testing.T) {
	tests := []struct {
		name    string
		commit  bool
		code    int
		died    bool // a Collect died with the push token in the sandbox
		file    string
		failure *TaskFailure
	}{
		{name: "the command failed", code: 1, file: readCredential},
		{name: "the agent's commits pushed", commit: true, file: readCredential},
		{name: "a Collect died at its push", commit: true, died: true, file: pushCredential,
			failure: &TaskFailure{Error: "Sandbox.Internal", Cause: "Collect died"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			if tt.commit {
				git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
			}
			ctx := context.Background()
			if tt.died {
				if err := h.svc.recordExit(ctx, h.task, 0); err != nil {
					t.Fatal(err)
				}
				collectDies(t, h)
			}
			cred, err := os.ReadFile(filepath.Join(h.provider.dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			_, held, _ := strings.Cut(strings.TrimSpace(string(cred)), "password=")
			if !strings.HasPrefix(held, "ghs_") {
				t.Fatalf("%s holds %q, want a token", tt.file, cred)
			}
			if !tt.died {
				h.exit(t, tt.code)
			}
			_, err = h.svc.CleanUpTaskStep(ctx, h.task.ID, tt.failure)
			var outcome *OutcomeError
			if err != nil && !errors.As(err, &outcome) {
				t.Fatalf("CleanUpTaskStep: %v", err)
			}
			if live := h.provider.live(); len(live) != 0 {
				t.Fatalf("sandboxes %v run; want the task's deleted", live)
			}
			h.access.mu.Lock()
			minted, revoked := slices.Clone(h.access.minted), slices.Clone(h.access.revoked)
			h.access.mu.Unlock()
			if !slices.Contains(revoked, held) {
				t.Errorf("minted %q, revoked %d: the token in %s outlives its deleted sandbox, live for up to an hour", minted, len(revoked), tt.file)
			}
		})
	}
}
