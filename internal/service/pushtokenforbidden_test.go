package service

import (
	"context"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The push's token refused for good (the App suspended or uninstalled as
// the agent worked) fails the task in the step, saying there is no pull
// request and why, as a refused pull request does: not a step's error
// whose name at the edge (unauthenticated: Sandbox.NotFound) says the
// sandbox was not found, which the error table says no direct caller
// meets.
func TestPushTokenRefusedForGoodFailsTheTaskSayingWhy(t *testing.T) {
	tests := []struct {
		name    string
		refusal error
	}{
		{"the App uninstalled", sandstep.Errorf(sandstep.ENOTFOUND, "not found at GitHub")},
		{"the installation suspended", sandstep.Errorf(sandstep.EUNAUTHENTICATED, "GitHub forbids it: This installation has been suspended")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
			h.access.mu.Lock()
			h.access.limit = func(op string) error {
				if op == "push" {
					return tt.refusal
				}
				return nil
			}
			h.access.mu.Unlock()
			ctx := context.Background()
			if err := h.svc.recordExit(ctx, h.task, 0); err != nil {
				t.Fatal(err)
			}
			step := TaskStep{TaskID: h.task.ID, UserID: h.task.Owner, SandboxID: h.task.SandboxID}
			if _, err := h.svc.CollectTask(ctx, step); err != nil {
				t.Fatalf("CollectTask = %v (%s), want the task failed in the step", err, sandstep.ErrorCode(err))
			}
			got := h.record(t)
			if got.Status != sandstep.TaskFailed || !strings.HasPrefix(got.Error, "no pull request: ") || !strings.Contains(got.Error, sandstep.ErrorMessage(tt.refusal)) {
				t.Errorf("task %s (%q); want failed, no pull request, saying GitHub's refusal", got.Status, got.Error)
			}
		})
	}
}
