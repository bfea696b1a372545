package service

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
)

// README (Tasks): the execution fails with Task.* (or succeeds), and with
// a Sandbox.* error only when the table would not record the task's end.
// A kept sandbox's clean-up stops the task's session by name; a toolbox
// that fails that stop (Daytona's proxy 502s, a daemon OOM:
// daytonaio/daytona#5140) must not fail the clean-up of a task that owes
// no stop. Otherwise the clean-up fails after the task's end is written,
// is asked again 8 times and ends the execution Sandbox.Transient, the
// kept sandbox's time is never settled (its cost grows for as long as the
// sandbox lives; README: counted until the clean-up) and the notice waits
// for the reaper (15 minutes).
//
// A task never marked running: a keepSandbox task whose start failed
// because its sandbox's toolbox does not answer (the nudge file's upload
// refused through every retry) never reached its session; it ends
// Task.Failed. 0c7ed41 let a kept sandbox's failed session stop pass only
// for such a task (t.SessionID == "").
//
// A task whose command has ended (its exit code read by the check, its
// output and artifacts collected, the task succeeded) owes no stop either:
// there is no command to end.
func TestKeptSandboxStopFailureAtCleanUpEndsTheTask(t *testing.T) {
	down := sandstep.Errorf(sandstep.ETRANSIENT, "daytona: 502 from the sandbox's toolbox; try again")
	// neverReached fails the task's start on a toolbox that does not
	// answer, as the state machine asks it, and answers the failure the
	// clean-up is given.
	neverReached := func(t *testing.T, k keptTask) *TaskFailure {
		k.sess.mu.Lock()
		k.sess.stopErr = k.stopErr
		k.sess.mu.Unlock()
		k.p.mu.Lock()
		k.p.fail["upload-secrets"] = down // the toolbox does not answer
		k.p.mu.Unlock()
		// As task.asl.json's StartCommand: Sandbox.Transient asked
		// again 6 times, then caught.
		var serr error
		for range 7 {
			if _, serr = k.svc.StartTaskCommand(context.Background(), *k.step); serr == nil {
				t.Fatal("the start answered; want the toolbox's error")
			}
		}
		return &TaskFailure{Error: "Sandbox.Transient", Cause: serr.Error()}
	}
	// ended runs the task's command to its exit 0 and collects it; the
	// toolbox fails only at the clean-up.
	ended := func(t *testing.T, k keptTask) *TaskFailure {
		ctx := context.Background()
		k.start(t)
		zero := 0
		k.sess.mu.Lock()
		k.sess.code = &zero // the command exited 0
		k.sess.mu.Unlock()
		k.clk.Set(k.clk.Now().Add(time.Minute))
		if _, err := k.svc.CheckTask(ctx, *k.step); err != nil {
			t.Fatal(err)
		}
		if _, err := k.svc.CollectTask(ctx, *k.step); err != nil {
			t.Fatal(err)
		}
		if rec, err := k.st.GetTask(ctx, k.tk.ID); err != nil || rec.Status != sandstep.TaskSucceeded {
			t.Fatalf("task after collect = %+v, %v; want succeeded", rec, err)
		}
		k.sess.mu.Lock()
		k.sess.stopErr = k.stopErr
		k.sess.mu.Unlock()
		return nil
	}
	// killedAtDeadline runs the task's command past its deadline, where a
	// check kills it (the kill lands) and the collect times it out; the
	// toolbox fails only at the clean-up.
	killedAtDeadline := func(t *testing.T, k keptTask) *TaskFailure {
		ctx := context.Background()
		k.start(t)
		rec, err := k.st.GetTask(ctx, k.tk.ID)
		if err != nil || rec.Deadline == nil {
			t.Fatalf("task after its start = %+v, %v; want a deadline", rec, err)
		}
		k.clk.Set(rec.Deadline.Add(time.Second))
		if _, err := k.svc.CheckTask(ctx, *k.step); err != nil {
			t.Fatal(err)
		}
		if _, err := k.svc.CollectTask(ctx, *k.step); err != nil {
			if _, outcome := err.(*OutcomeError); !outcome {
				t.Fatal(err)
			}
		}
		if rec, err := k.st.GetTask(ctx, k.tk.ID); err != nil || rec.Status != sandstep.TaskTimedOut {
			t.Fatalf("task after collect = %+v, %v; want timed_out", rec, err)
		}
		k.sess.mu.Lock()
		k.sess.stopErr = k.stopErr
		k.sess.mu.Unlock()
		return nil
	}
	tests := []struct {
		name    string
		stopErr error // the toolbox's answer to the session's stop at the clean-up
		// run takes the task to its clean-up and answers the failure the
		// clean-up is given.
		run  func(t *testing.T, k keptTask) *TaskFailure
		want sandstep.TaskStatus
		// outcome is the clean-up's OutcomeError; "": it answers none.
		outcome string
	}{
		{"never marked running: the toolbox answers the stop (no session: 404)", nil, neverReached, sandstep.TaskFailed, "Task.Failed"},
		{"never marked running: the toolbox that refused the start refuses the stop", down, neverReached, sandstep.TaskFailed, "Task.Failed"},
		{"command ended: the toolbox answers the stop", nil, ended, sandstep.TaskSucceeded, ""},
		{"command ended: the toolbox fails the stop of a command that has exited", down, ended, sandstep.TaskSucceeded, ""},
		{"killed at its deadline: the toolbox fails the stop of a command the kill ended", down, killedAtDeadline, sandstep.TaskTimedOut, "Task.TimedOut"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newFakeProvider()
			sess := &exitSessions{}
			svc, st, clk := newStepService(t, p, sess, nil)
			tk, step := taskWithSandbox(t, svc, TaskInput{Command: "make", KeepSandbox: true})
			failure := tt.run(t, keptTask{svc: svc, st: st, clk: clk, p: p, sess: sess, tk: tk, step: step, stopErr: tt.stopErr})
			ctx := context.Background()
			_, err := svc.CleanUpTaskStep(ctx, tk.ID, failure)
			var oe *OutcomeError
			switch {
			case tt.outcome == "" && err != nil:
				t.Errorf("clean-up of a succeeded task: %v (%s, outcome %v); want none: its command had exited, the stop was owed to nothing",
					err, sandstep.ErrorCode(err), errors.As(err, &oe))
			case tt.outcome != "" && (!errors.As(err, &oe) || oe.Name() != tt.outcome):
				t.Errorf("clean-up: %v (%s); want the execution's %s (the task's end is recorded)", err, sandstep.ErrorCode(err), tt.outcome)
			}
			rec, gerr := st.GetTask(ctx, tk.ID)
			if gerr != nil || rec.Status != tt.want {
				t.Fatalf("task = %+v, %v; want %s", rec, gerr, tt.want)
			}
			if u := rec.Usage; u == nil || u.SandboxFrom == nil || u.SandboxTo == nil {
				t.Errorf("usage = %+v: the kept sandbox's time is never settled, its cost grows while the task shows %s", u, rec.Status)
			}
		})
	}
}

// keptTask is a keepSandbox task with its sandbox, on its way to its
// clean-up, and the toolbox's answer to its session's stop there.
type keptTask struct {
	svc     *Service
	st      *store.Store
	clk     *settableClock
	p       *fakeProvider
	sess    *exitSessions
	tk      *sandstep.Task
	step    *TaskStep
	stopErr error
}

// start starts k's command, whose output the watch reads as "hi" on
// stdout and nothing on stderr (base64, a line each).
func (k keptTask) start(t *testing.T) {
	t.Helper()
	k.p.mu.Lock()
	k.p.execResult = ExecResult{Stdout: "aGk=\n\n"}
	k.p.mu.Unlock()
	if _, err := k.svc.StartTaskCommand(context.Background(), *k.step); err != nil {
		t.Fatal(err)
	}
}
