package service

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// README (Tasks): a command that runs past timeoutSeconds is killed and
// the task ends timed_out; a keepSandbox sandbox stays for a look inside,
// without the command. 71e326a writes killedAt before the kill: when the
// kill then fails for good (the sandbox's toolbox refusing the session's
// stop), the clean-up of a kept sandbox takes killedAt for a kill that
// landed, only logs its own failed stop, and ends the task timed_out: the
// agent goes on running in the kept sandbox past its deadline, and no one
// stops it again. A clean-up that could not stop it must fail (be asked
// again), as it does for any running command it could not stop.
func TestDeadlineKillThatNeverLandsIsTriedAgain(t *testing.T) {
	down := sandstep.Errorf(sandstep.ETRANSIENT, "daytona: 502 from the sandbox's toolbox; try again")
	tests := []struct {
		name   string
		checks int // the check at the deadline, as the state machine asks it
	}{
		{name: "the check asked once, then caught", checks: 1},
		{name: "the check asked again through its retries, then caught", checks: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			k := runningPastDeadline(t, true, nil)
			svc, st, sess, tk, step := k.svc, k.st, k.sess, k.tk, k.step
			sess.mu.Lock()
			sess.stopErr = down // the toolbox refuses every stop from now on
			sess.mu.Unlock()
			var cerr error
			for range tt.checks {
				if _, cerr = svc.CheckTask(ctx, *step); cerr == nil {
					t.Fatal("the check answered; want the failed kill's error")
				}
			}
			_, err := svc.CleanUpTaskStep(ctx, tk.ID, &TaskFailure{Error: "Sandbox.Transient", Cause: cerr.Error()})
			rec, gerr := st.GetTask(ctx, tk.ID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			var oe *OutcomeError
			if !sess.wasStopped() && (err == nil || errors.As(err, &oe)) {
				t.Errorf("clean-up answered %v with the task %s (%q) and killedAt %v, its command never stopped (%d stops refused): the agent runs on in the kept sandbox past its deadline",
					err, rec.Status, rec.Error, rec.KilledAt, sess.stopCount())
			}
		})
	}
}

// runningPastDeadline is a task of 60 s (its sandbox kept when keep)
// whose command still runs two minutes after its start, past its
// deadline; wrap, when given, wraps the service's task store.
func runningPastDeadline(t *testing.T, keep bool, wrap func(Tasks) Tasks) keptTask {
	t.Helper()
	p := newFakeProvider()
	sess := &exitSessions{}
	svc, st, clk := newStepService(t, p, sess, wrap)
	tk, step := taskWithSandbox(t, svc, TaskInput{Command: "make", KeepSandbox: keep, TimeoutSeconds: intp(60)})
	k := keptTask{svc: svc, st: st, clk: clk, p: p, sess: sess, tk: tk, step: step}
	k.start(t)
	clk.Set(clk.Now().Add(2 * time.Minute))
	return k
}
