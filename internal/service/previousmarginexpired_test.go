package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A task started by the version before 7731ef1 recorded its sandbox's life
// as the command's deadline plus that version's margin, 30 minutes. A
// sandbox Daytona still has 15 minutes past that recorded life is leaked,
// and the reaper deletes it (architecture.md: "a live record 15 min past
// createdAt + ttlMinutes | deletes it"; README: the recorded ttlMinutes
// "that the reaper goes by"). keptByTask, judging the task's life by this
// version's 45-minute margin, keeps it 15 minutes more.
func TestTaskSandboxOfAnEarlierMarginPastItsLifeIsDeleted(t *testing.T) {
	const timeout = 3 * time.Hour
	for _, tc := range []struct {
		name        string
		margin      time.Duration // the margin of the version that started the task
		wantExpired int
	}{
		{"this version's start, past its recorded life and grace", sandstep.TaskCleanupMargin, 1},
		{"the previous version's start, past its recorded life and grace", 30 * time.Minute, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			p := newFakeProvider()
			svc, st, clk := newTaskService(t, p, nil)
			_, step := taskWithSandbox(t, svc, TaskInput{Command: "make", TimeoutSeconds: intp(int(timeout / time.Second))})
			kept := clk.Now()
			if _, err := svc.StartTaskCommand(ctx, *step); err != nil {
				t.Fatal(err)
			}
			life := kept.Add(timeout + tc.margin)
			// The ttlMinutes that version's moveLife recorded.
			if _, err := st.TransitionSandbox(ctx, step.SandboxID, []sandstep.State{sandstep.StateReady}, sandstep.StateReady, func(r *sandstep.Sandbox) {
				r.TTLMinutes = int(life.Sub(r.CreatedAt) / time.Minute)
			}); err != nil {
				t.Fatal(err)
			}
			// Daytona did not end it; the reaper runs 16 minutes past the
			// recorded life (the previous version's execution, which
			// timed out at the deadline plus 80 minutes, may be over).
			clk.Set(life.Add(abandonedAfter + time.Minute))
			rep, err := svc.Reap(ctx, ReapOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Expired != tc.wantExpired {
				t.Errorf("report expired %d, want %d: a task's sandbox is deleted 15 minutes past the life its record says", rep.Expired, tc.wantExpired)
			}
		})
	}
}
