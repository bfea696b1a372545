package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// README: "its ttlMinutes backstop is moved to the task's deadline plus 30
// minutes when the command starts". The start moves Daytona's life
// (KeepFor, re-anchored at the start); the reaper goes by the record, so
// when the command starts a while after the sandbox was made (the
// sandbox's create and clone, StartCommand's retries: six attempts of up
// to 930 s), a record whose ttlMinutes still counts from its creation had
// a running task's sandbox, or one its collect is reading, deleted before
// the life Daytona was given ended. The start now records the life it
// gives; and a start of an older version, which running executions call
// for hours after a deploy, leaves the record as it was: the task's own
// deadline (every version's start records it) keeps the sandbox then.
func TestReaperKeepsATaskSandboxItsStartKept(t *testing.T) {
	const timeout = 3 * time.Hour
	cases := []struct {
		name string
		// gap is how long after its sandbox was made the command starts;
		// at is when the reaper runs, after the start.
		gap, at time.Duration
	}{
		{"the command still running, started 50m after its sandbox", 50 * time.Minute, timeout - time.Minute},
		{"its collect at work, started 20m after its sandbox", 20 * time.Minute, timeout + 26*time.Minute},
	}
	for _, older := range []bool{false, true} {
		for _, tc := range cases {
			name := tc.name
			if older {
				name = "an older version's start: " + name
			}
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				p := newFakeProvider()
				svc, st, clk := newTaskService(t, p, nil)
				_, step := taskWithSandbox(t, svc, TaskInput{Command: "make", TimeoutSeconds: intp(int(timeout / time.Second))})
				made, err := st.GetSandbox(ctx, step.SandboxID)
				if err != nil {
					t.Fatal(err)
				}
				clk.Set(clk.Now().Add(tc.gap))
				if _, err := svc.StartTaskCommand(ctx, *step); err != nil {
					t.Fatal(err)
				}
				if older {
					// The record as bb44db0's start leaves it: its
					// ttlMinutes from the create, not moved.
					if _, err := st.TransitionSandbox(ctx, made.ID, []sandstep.State{sandstep.StateReady}, sandstep.StateReady, func(r *sandstep.Sandbox) {
						r.TTLMinutes = made.TTLMinutes
					}); err != nil {
						t.Fatal(err)
					}
				}
				// Daytona keeps it until the start plus timeout plus 30 minutes.
				clk.Set(clk.Now().Add(tc.at))
				if _, err := svc.Reap(ctx, ReapOptions{}); err != nil {
					t.Fatal(err)
				}
				sb, err := st.GetSandbox(ctx, step.SandboxID)
				if err != nil {
					t.Fatal(err)
				}
				if sb.State != sandstep.StateReady || len(p.live()) != 1 {
					t.Errorf("sandbox %s, Daytona's %v, %v after its start (Daytona keeps it %v after); want it kept: its task still needs it",
						sb.State, p.live(), tc.at, timeout+sandstep.TaskCleanupMargin)
				}
			})
		}
	}
}
