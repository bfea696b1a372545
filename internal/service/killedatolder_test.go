package service

import (
	"context"
	"errors"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A running execution calls the versions of the deploy it started under
// for hours; the task-ended clean-up and the reaper run the live alias. A
// check of an older version wrote killedAt only after its kill landed, and
// no other mark: to its clean-up killedAt said the command was stopped,
// and a kept sandbox's failed stop was only logged. The new clean-up of
// such a task (its own execution's clean-up lost: stopped, timed out, the
// reaper's) must read it so, or it fails on a toolbox that does not
// answer: the execution's clean-up fails Sandbox.Transient, the kept
// sandbox's time is never settled and the notice waits, for a command
// that was killed hours before.
func TestOlderVersionsDeadlineKillOwesNoStopAtCleanUp(t *testing.T) {
	ctx := context.Background()
	down := sandstep.Errorf(sandstep.ETRANSIENT, "daytona: 502 from the sandbox's toolbox; try again")
	k := runningPastDeadline(t, true, nil)
	svc, st, sess, tk, step := k.svc, k.st, k.sess, k.tk, k.step
	if _, err := svc.CheckTask(ctx, *step); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CollectTask(ctx, *step); err != nil {
		if _, outcome := err.(*OutcomeError); !outcome {
			t.Fatal(err)
		}
	}
	// The record as the older check left it: killedAt after a landed
	// kill, and none of this version's fields beside it.
	if _, err := st.TransitionTask(ctx, tk.ID, []sandstep.TaskStatus{sandstep.TaskTimedOut}, sandstep.TaskTimedOut,
		func(r *sandstep.Task) { r.KillPending = false }); err != nil {
		t.Fatal(err)
	}
	sess.mu.Lock()
	sess.stopErr = down
	sess.mu.Unlock()
	_, err := svc.CleanUpTaskStep(ctx, tk.ID, nil)
	var oe *OutcomeError
	if !errors.As(err, &oe) || oe.Name() != "Task.TimedOut" {
		t.Errorf("clean-up of an older version's task killed at its deadline: %v (%s); want Task.TimedOut: its kill landed, the stop is owed to nothing", err, sandstep.ErrorCode(err))
	}
	rec, err := st.GetTask(ctx, tk.ID)
	if err != nil || rec.Status != sandstep.TaskTimedOut {
		t.Fatalf("task = %+v, %v; want timed_out", rec, err)
	}
	if u := rec.Usage; u == nil || u.SandboxFrom == nil || u.SandboxTo == nil {
		t.Errorf("usage = %+v: the kept sandbox's time is never settled", u)
	}
}
