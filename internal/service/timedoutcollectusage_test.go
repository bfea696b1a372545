package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Each step's invocation and state are on the task (README, "Task cost":
// lambdaInvocations are the task's own invocations, stateTransitions the
// states its execution entered). A command killed at its deadline ends
// the task at the Check; the Collect after it still runs (Ended? →
// Collect), and is counted as it is after a command that exited.
func TestTimedOutCollectIsCounted(t *testing.T) {
	tests := []struct {
		name   string
		code   *int // the command's exit; nil: still running
		late   bool // the check comes after the deadline
		status sandstep.TaskStatus
	}{
		{"exited 0", intp(0), false, sandstep.TaskSucceeded},
		{"exited 1", intp(1), false, sandstep.TaskFailed},
		{"killed at its deadline", nil, true, sandstep.TaskTimedOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newUsageHarness(t, nil)
			sess := &exitSessions{}
			h.svc.sessions = sess
			ctx := context.Background()
			tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "make", TimeoutSeconds: intp(60)})
			if err != nil {
				t.Fatal(err)
			}
			step := TaskStep{TaskID: tk.ID, UserID: "alice"}
			// Prepare is counted when the task is accepted; the states
			// each invocation stands for are internal/api's (metered).
			h.invoke(t, 1, func(ctx context.Context) error { _, err := h.svc.CreateTaskSandbox(ctx, step); return err })
			h.invoke(t, 1, func(ctx context.Context) error { _, err := h.svc.StartTaskCommand(ctx, step); return err })
			h.invoke(t, 1, func(ctx context.Context) error { return h.svc.WaitTask(ctx, step, "tok-1") })
			sess.mu.Lock()
			sess.code = tt.code
			sess.mu.Unlock()
			if tt.late {
				h.clock.Set(h.clock.Now().Add(2 * time.Minute))
			}
			h.invoke(t, 0, func(ctx context.Context) error {
				next, err := h.svc.CheckTask(ctx, step)
				if err == nil && !next.Ended {
					t.Fatal("the check did not end the watch")
				}
				return err
			})
			h.invoke(t, 1, func(ctx context.Context) error { _, err := h.svc.CollectTask(ctx, step); return err })
			h.invoke(t, 1, func(ctx context.Context) error { _, err := h.svc.CleanUpTask(ctx, tk.ID, nil); return err })
			shown, err := h.svc.GetTask(ctx, alice(), tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if shown.Status != tt.status {
				t.Fatalf("task %s, want %s", shown.Status, tt.status)
			}
			// Prepare, CreateSandbox, StartCommand, Wait, Check, Ended?,
			// Collect, CleanUp: 8 states, 7 invocations.
			if u := shown.Usage; u == nil || u.StateTransitions != 8 || u.LambdaInvocations != 7 {
				t.Errorf("%s task shows %+v; want 8 state transitions and 7 invocations", shown.Status, u)
			}
		})
	}
}
