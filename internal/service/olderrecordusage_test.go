package service

import (
	"context"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A task run by an older version of the functions (the state machine
// calls them for hours after a deploy) has a record without usage; its
// execution's end brings this version's task-ended clean-up (EventBridge
// calls the new version), a metered invocation. Its writes must not start
// a usage on that record: the task would show a cost of that one
// invocation, no sandbox seconds and no size, for a run that used an
// hour's sandbox. README: older records show no usage and no cost.
func TestOlderRecordGetsNoPartialUsage(t *testing.T) {
	tests := []struct {
		name    string
		failure *TaskFailure
	}{
		{"the execution succeeded", nil},
		{"the execution timed out in its wait", &TaskFailure{Error: "Execution.TIMED_OUT", Cause: "the execution ended timed_out"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newUsageHarness(t, nil)
			ctx := context.Background()
			tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "make", TimeoutSeconds: intp(600),
				Sandbox: CreateSandboxInput{Image: "ubuntu:24.04", Resources: &sandstep.Resources{CPU: 2, MemoryGiB: 4, DiskGiB: 8}}})
			if err != nil {
				t.Fatal(err)
			}
			// The older version's steps: no meter.
			step := TaskStep{TaskID: tk.ID, UserID: "alice"}
			if _, err := h.svc.CreateTaskSandbox(ctx, step); err != nil {
				t.Fatal(err)
			}
			if _, err := h.svc.StartTaskCommand(ctx, step); err != nil {
				t.Fatal(err)
			}
			if tt.failure == nil {
				if _, err := h.svc.CheckTask(ctx, step); err != nil {
					t.Fatal(err)
				}
				if _, err := h.svc.CollectTask(ctx, step); err != nil {
					t.Fatal(err)
				}
				if _, err := h.svc.CleanUpTask(ctx, tk.ID, nil); err != nil {
					t.Fatal(err)
				}
			}
			// As the older version wrote it: no usage at all.
			cur, err := h.store.GetTask(ctx, tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.store.TransitionTask(ctx, tk.ID, []sandstep.TaskStatus{cur.Status}, cur.Status,
				func(r *sandstep.Task) { r.Usage = nil }); err != nil {
				t.Fatal(err)
			}
			// This version's task-ended clean-up (internal/api: metered, no state).
			h.invoke(t, 0, func(ctx context.Context) error {
				_, err := h.svc.CleanUpTask(ctx, tk.ID, tt.failure)
				return err
			})
			got, err := h.svc.GetTask(ctx, alice(), tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Usage != nil || got.Cost != nil {
				t.Errorf("a task the older version ran shows usage %+v and cost %+v; want neither (not known)", got.Usage, got.Cost)
			}
		})
	}
}
