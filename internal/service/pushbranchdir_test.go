package service

import (
	"context"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A repository with a branch named `sandstep` can never hold the task's
// branch sandstep/<taskId>: git refuses to create a ref beneath a ref, and says
// so ("remote: error: cannot lock ref 'refs/heads/sandstep/…':
// 'refs/heads/sandstep' exists; cannot create …", then "! [remote
// rejected] … (failed to update ref)"). README, "The pull request": a
// push GitHub refuses fails the task, `no pull request: ...`; only a push
// that does not reach GitHub is asked again. This one is read as refused;
// read as not reaching GitHub, the state machine would ask again six
// times (minting and pushing each time, about three minutes), then fail
// the task saying the push "did not reach GitHub".
func TestPushUnderABranchOfTheSameNameIsRefused(t *testing.T) {
	tests := []struct {
		name     string
		existing string // a branch already in the repository
	}{
		{"a branch named sandstep", "sandstep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			git(t, h.origin, "branch", tt.existing, "main")
			git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")

			ctx := context.Background()
			if err := h.svc.recordExit(ctx, h.task, 0); err != nil {
				t.Fatal(err)
			}
			_, err := h.svc.CollectTask(ctx, TaskStep{TaskID: h.task.ID, UserID: h.task.Owner, SandboxID: h.task.SandboxID})
			got := h.record(t)
			if err != nil || got.Status != sandstep.TaskFailed || !strings.HasPrefix(got.Error, "no pull request: the push to "+PushBranch(h.task.ID)+" was refused") {
				t.Errorf("CollectTask = %v (%s); task %s, %q; want it failed: no pull request, the push refused",
					err, sandstep.ErrorCode(err), got.Status, got.Error)
			}
		})
	}
}
