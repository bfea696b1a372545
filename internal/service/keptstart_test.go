package service

import (
	"context"
	"sync"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// countingStarts is exitSessions that counts the lines sent to the task's
// session: a line sent and no stop after it is a command still running.
type countingStarts struct {
	exitSessions
	mu2    sync.Mutex
	starts int
}

func (s *countingStarts) StartCommand(_ context.Context, _, _, _ string) (string, error) {
	s.mu2.Lock()
	defer s.mu2.Unlock()
	s.starts++
	return "cmd-1", nil
}

func (s *countingStarts) startCount() int {
	s.mu2.Lock()
	defer s.mu2.Unlock()
	return s.starts
}

// README: with keepSandbox the sandbox stays after the task ends, "without
// the command" (releaseTask). A start whose command reached the session but
// whose running mark never landed leaves the task queued, with no session
// on its record; the clean-up that fails it stops the command all the
// same. Otherwise it would keep the sandbox with the agent still running
// in it, for the task's whole timeout and 30 minutes.
func TestKeptSandboxOfAStartNeverMarkedRunsNoCommand(t *testing.T) {
	for _, tt := range []struct {
		name string
		// code: the running write's error (the read after it fails); ""
		// when the start's invocation died after sending the line.
		code sandstep.Code
		// attempts: how many times the state machine runs the step.
		attempts int
		failure  string
	}{
		{name: "the running write refused for good, the read after it failed", code: sandstep.EINTERNAL, attempts: 1, failure: "Sandbox.Internal"},
		{name: "every retry's running write lost, each read after it failed", code: sandstep.ETRANSIENT, attempts: 7, failure: "Sandbox.Transient"},
		{name: "the start's invocation died after the line was sent", attempts: 0, failure: "Lambda.Unknown"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sess := &countingStarts{}
			svc, st, _ := newStepService(t, newFakeProvider(), sess, func(st Tasks) Tasks {
				return &runningWriteFails{Tasks: st, code: tt.code, every: true, failRead: true}
			})
			ctx := context.Background()
			tk, step := taskWithSandbox(t, svc, TaskInput{Command: "make", KeepSandbox: true})
			if tt.attempts == 0 {
				sb, err := st.GetSandbox(ctx, step.SandboxID)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := sess.StartCommand(ctx, sb.DaytonaID, taskSession(tk.ID), "make"); err != nil {
					t.Fatal(err)
				}
			}
			for range tt.attempts {
				if _, err := svc.StartTaskCommand(ctx, *step); err == nil {
					t.Fatal("the start answered; want the write's error")
				}
			}
			_, _ = svc.CleanUpTaskStep(ctx, tk.ID, &TaskFailure{Error: tt.failure, Cause: "the start failed"})
			rec, err := st.GetTask(ctx, tk.ID)
			if err != nil || !rec.Status.Terminal() {
				t.Fatalf("task = %+v, %v; want it ended", rec, err)
			}
			if sess.startCount() > 0 && sess.stopCount() == 0 {
				t.Errorf("task %s: %d line(s) sent to its session, none stopped: the command runs on in the kept sandbox", rec.Status, sess.startCount())
			}
		})
	}
}
