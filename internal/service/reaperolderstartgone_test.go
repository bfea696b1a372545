package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A task started by a version before 854bc55 had Daytona keep its sandbox
// until the command's deadline plus the clean-up margin, with the record's
// ttlMinutes left counting from the create (see
// TestReaperKeepsASandboxAnOlderStartKept). A sandbox that vanishes while
// its command still runs vanished before the life it was given: a "gone"
// finding (README: only one Daytona ended at its ttlMinutes is "lived",
// not a finding), which ReaperGoneAlarm watches. keptByTask's rule is the
// expired finding's alone; the gone-vs-lived finding goes by the record.
func TestReaperCountsATaskSandboxVanishedBeforeItsTaskKeptItAsGone(t *testing.T) {
	const timeout = 3 * time.Hour
	ctx := context.Background()
	p := newFakeProvider()
	svc, st, clk := newTaskService(t, p, nil)
	_, step := taskWithSandbox(t, svc, TaskInput{Command: "make", TimeoutSeconds: intp(int(timeout / time.Second))})
	made, err := st.GetSandbox(ctx, step.SandboxID)
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(clk.Now().Add(50 * time.Minute))
	if _, err := svc.StartTaskCommand(ctx, *step); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TransitionSandbox(ctx, made.ID, []sandstep.State{sandstep.StateReady}, sandstep.StateReady, func(r *sandstep.Sandbox) {
		r.TTLMinutes = made.TTLMinutes
	}); err != nil {
		t.Fatal(err)
	}
	// The command still runs (a minute before its deadline): Daytona loses
	// the sandbox, 19 minutes after the record's ttlMinutes but well
	// before the life the start gave it.
	clk.Set(clk.Now().Add(timeout - time.Minute))
	p.mu.Lock()
	clear(p.sandboxes)
	p.mu.Unlock()
	rep, err := svc.Reap(ctx, ReapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Gone != 1 || rep.Lived != 0 {
		t.Errorf("report gone %d, lived %d; want the sandbox gone (vanished before its task's deadline), not lived", rep.Gone, rep.Lived)
	}
}
