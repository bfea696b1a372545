package service

import (
	"context"
	"sync"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// overlappingStart is exitSessions whose first StartCommand lets another
// invocation of the step run whole before it answers: the state machine
// asked the step again (Lambda.ClientExecutionTimeoutException) while the
// first invocation was still running. Both lines go to the task's one
// session, the second invocation's first: its line runs the command, the
// first invocation's waits behind it and only answers its exit code.
type overlappingStart struct {
	exitSessions
	mu2    sync.Mutex
	starts int
	during func() // run inside the first StartCommand
}

func (s *overlappingStart) StartCommand(_ context.Context, _, _, _ string) (string, error) {
	s.mu2.Lock()
	s.starts++
	n := s.starts
	s.mu2.Unlock()
	if n == 1 && s.during != nil {
		s.during()
		return "cmd-first", nil
	}
	return "cmd-second", nil
}

// A start asked again must never kill the task's command: the command
// that runs in the task's session is the task's, whichever invocation's
// line started it. Killed, the task that was running fine ends failed (or
// its exit code is the kill's) though nothing went wrong with it.
func TestStartTaskCommandAskedAgainNeverKillsTheTasksCommand(t *testing.T) {
	for _, tt := range []struct {
		name string
		// overlap: a second invocation runs whole inside the first's start.
		overlap bool
		// lostThenUnread: the running write lands with its answer lost
		// and the read that would tell fails.
		lostThenUnread bool
	}{
		{name: "a second invocation overlapping the first", overlap: true},
		{name: "the running write landed, its answer lost, the read failed", lostThenUnread: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sess := &overlappingStart{}
			var wrap func(Tasks) Tasks
			if tt.lostThenUnread {
				wrap = func(st Tasks) Tasks { return &runningWriteFails{Tasks: st, applied: true, failRead: true} }
			}
			svc, st, _ := newStepService(t, newFakeProvider(), sess, wrap)
			ctx := context.Background()
			tk, step := taskWithSandbox(t, svc, TaskInput{Command: "make"})
			var secondErr error
			if tt.overlap {
				sess.during = func() { _, secondErr = svc.StartTaskCommand(ctx, *step) }
			}
			firstStep, firstErr := svc.StartTaskCommand(ctx, *step)
			if tt.lostThenUnread && firstErr != nil {
				// The state machine asks again.
				firstStep, firstErr = svc.StartTaskCommand(ctx, *step)
			}
			if n := sess.stopCount(); n != 0 {
				t.Errorf("the task's command was killed (%d stops); first: %+v, %v; second: %v", n, firstStep, firstErr, secondErr)
			}
			rec, err := st.GetTask(ctx, tk.ID)
			if err != nil || rec.Status != sandstep.TaskRunning {
				t.Errorf("task = %+v, %v; want running", rec, err)
			}
		})
	}
}
