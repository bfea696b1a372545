package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// README (Drain and resume) says to drain "before a risky deploy", and
// that after the resume an issue's waiting task's "comment says what it
// waits for then: its repository's quota, or Daytona's capacity (up to
// CAPACITY_WAIT more)". The tasks waiting while the deploy that brings
// the wait reason lands were recorded by the version before it: queuedAt
// set, a `paused` flag the new code does not read, no `waiting`. Their
// issue was told queued or paused, yet the new code takes an empty
// `waiting` for "never told" and keeps the comment when the task then
// waits for Daytona: it goes on saying "drained for maintenance" (or
// "queued", failing by GITHUB_QUEUE_TIMEOUT) for up to CAPACITY_WAIT.
func TestTaskRecordedBeforeTheWaitReasonIsToldItsCapacityWait(t *testing.T) {
	tests := []struct {
		name string
		// wait makes the task wait as the version before recorded it and
		// tells its issue so.
		wait func(t *testing.T, h *faultHarness, d *fakeDrain, step TaskStep)
		told string
	}{
		{name: "paused by the drain before the deploy", told: "paused task",
			wait: func(t *testing.T, h *faultHarness, d *fakeDrain, step TaskStep) {
				d.set(true)
				if _, err := h.svc.CreateTaskSandbox(context.Background(), step); sandstep.ErrorCode(err) != sandstep.EQUEUED {
					t.Fatalf("drained: %v, want queued", err)
				}
				d.set(false)
			}},
		{name: "queued for its quota before the deploy", told: "queued task",
			wait: func(t *testing.T, h *faultHarness, _ *fakeDrain, step TaskStep) {
				tk, err := h.store.GetTask(context.Background(), step.TaskID)
				if err != nil {
					t.Fatal(err)
				}
				h.svc.refusedAgain(context.Background(), tk, waitQueued)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h, comments, d := drainHarness(t)
			step := acceptIssueTask(t, h, "octo/hello", "1")
			h.clock.Set(h.clock.Now().Add(time.Minute))
			tt.wait(t, h, d, step)
			if got := comments.lastAbout(step.TaskID); !strings.Contains(got, tt.told) {
				t.Fatalf("the issue says\n%s\nwant %q", got, tt.told)
			}
			// The record as the version before wrote it: queuedAt, and no
			// wait reason (its `paused` flag is read by nothing now).
			if _, err := h.store.TransitionTask(ctx, step.TaskID, []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskQueued,
				func(r *sandstep.Task) { r.Waiting = "" }); err != nil {
				t.Fatal(err)
			}
			// Deployed and resumed: Daytona has no room, for ten minutes.
			h.provider.failOn("create", sandstep.Errorf(sandstep.ECAPACITY, "no capacity"))
			for range 10 {
				h.clock.Set(h.clock.Now().Add(time.Minute))
				if _, err := h.svc.CreateTaskSandbox(ctx, step); sandstep.ErrorCode(err) != sandstep.ECAPACITY {
					t.Fatalf("no capacity: %v, want capacity", err)
				}
			}
			tk, err := h.store.GetTask(ctx, step.TaskID)
			if err != nil {
				t.Fatal(err)
			}
			by := tk.CreatedAt.Add(h.svc.opts.QueueTimeout + h.svc.opts.CapacityWait).UTC().Format(time.RFC3339)
			if got := comments.lastAbout(step.TaskID); !strings.Contains(got, "Daytona has room") || !strings.Contains(got, by) {
				t.Errorf("after ten minutes waiting for Daytona, the issue says\n%s\nwant it waiting for Daytona until %s", got, by)
			}
		})
	}
}
