package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A task's steps run the function version its execution started under,
// for up to 14 hours after a deploy; the reaper runs the new version at
// once. Before 854bc55 a start moved Daytona's life (KeepFor, from the
// start) but left the sandbox's recorded ttlMinutes counting from its
// creation. The new reaper goes by the record, so a task started by such a
// version a while after its sandbox was made has its sandbox deleted by
// the new reaper while its command runs, or while its collect reads it.
// The task's own deadline (recorded by every version's start) says how
// long its start kept the sandbox.
func TestReaperKeepsASandboxAnOlderStartKept(t *testing.T) {
	const timeout = 3 * time.Hour
	cases := []struct {
		name    string
		gap, at time.Duration
	}{
		{"the command still running, started 50m after its sandbox", 50 * time.Minute, timeout - time.Minute},
		{"its collect at work, started 20m after its sandbox", 20 * time.Minute, timeout + 26*time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			p := newFakeProvider()
			svc, st, clk := newTaskService(t, p, nil)
			_, step := taskWithSandbox(t, svc, TaskInput{Command: "make", TimeoutSeconds: int(timeout / time.Second)})
			made, err := st.GetSandbox(ctx, step.SandboxID)
			if err != nil {
				t.Fatal(err)
			}
			clk.Set(clk.Now().Add(tc.gap))
			if _, err := svc.StartTaskCommand(ctx, *step); err != nil {
				t.Fatal(err)
			}
			// The record as bb44db0's start leaves it: its ttlMinutes from
			// the create, not moved.
			if _, err := st.TransitionSandbox(ctx, made.ID, []sandstep.State{sandstep.StateReady}, sandstep.StateReady, func(r *sandstep.Sandbox) {
				r.TTLMinutes = made.TTLMinutes
			}); err != nil {
				t.Fatal(err)
			}
			clk.Set(clk.Now().Add(tc.at))
			if _, err := svc.Reap(ctx, ReapOptions{}); err != nil {
				t.Fatal(err)
			}
			sb, err := st.GetSandbox(ctx, step.SandboxID)
			if err != nil {
				t.Fatal(err)
			}
			if sb.State != sandstep.StateReady || len(p.live()) != 1 {
				t.Errorf("sandbox %s, Daytona's %v, %v after an older version's start (Daytona keeps it %v after); want it kept: its task still needs it",
					sb.State, p.live(), tc.at, timeout+sandstep.TaskCleanupMargin)
			}
		})
	}
}
