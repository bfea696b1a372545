package service

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// README (Tasks): a command that runs past timeoutSeconds is killed and
// the task ends timed_out, whatever happens. When a check at the deadline
// cannot kill the command and the state machine gives up on it and cleans
// up (its own kill landing), the task still ends timed_out, not failed
// with the check's error.
func TestDeadlineKillFailedThenCleanUpTimesOut(t *testing.T) {
	down := sandstep.Errorf(sandstep.ETRANSIENT, "daytona: 502 from the sandbox's toolbox; try again")
	tests := []struct {
		name string
		keep bool
	}{
		{name: "sandbox deleted", keep: false},
		{name: "sandbox kept", keep: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			k := runningPastDeadline(t, tt.keep, nil)
			svc, st, sess, tk, step := k.svc, k.st, k.sess, k.tk, k.step
			sess.mu.Lock()
			sess.stopErr = down
			sess.mu.Unlock()
			_, cerr := svc.CheckTask(ctx, *step)
			if cerr == nil {
				t.Fatal("the check answered; want the failed kill's error")
			}
			sess.mu.Lock()
			sess.stopErr = nil // the toolbox answers again by the clean-up
			sess.mu.Unlock()
			_, _ = svc.CleanUpTaskStep(ctx, tk.ID, &TaskFailure{Error: "Sandbox.Transient", Cause: cerr.Error()})
			rec, err := st.GetTask(ctx, tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Status != sandstep.TaskTimedOut {
				t.Errorf("task past its deadline ended %s (%q), want timed_out", rec.Status, rec.Error)
			}
		})
	}
}

// stopHooked answers each StopCommand with hook(n), n counting from 1.
type stopHooked struct {
	*exitSessions
	mu   sync.Mutex
	n    int
	hook func(n int) error
}

func (s *stopHooked) StopCommand(context.Context, string, string) error {
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	return s.hook(n)
}

// A check asked again while the first still runs (its answer lost) finds
// the first's killedAt and kills the command; the first's kill fails. The
// mark stays, so a cancel that comes then is refused, and the task whose
// command its deadline killed ends timed_out as README promises ("A task
// whose command was already killed at its deadline ... is answered as it
// is: it ends timed_out").
func TestOverlappingChecksKeepTheKillsMark(t *testing.T) {
	ctx := context.Background()
	p := newFakeProvider()
	bKilled, proceed := make(chan struct{}), make(chan struct{})
	sess := &stopHooked{exitSessions: &exitSessions{}}
	svc, st, clk := newStepService(t, p, sess, nil)
	tk, step := taskWithSandbox(t, svc, TaskInput{Command: "make", TimeoutSeconds: intp(60)})
	p.mu.Lock()
	p.execResult = ExecResult{Stdout: "aGk=\n\n"}
	p.mu.Unlock()
	if _, err := svc.StartTaskCommand(ctx, *step); err != nil {
		t.Fatal(err)
	}
	clk.Set(clk.Now().Add(2 * time.Minute)) // past its deadline
	bDone := make(chan error, 1)
	sess.hook = func(n int) error {
		switch n {
		case 1: // check A's kill: check B comes meanwhile and kills it
			go func() {
				_, err := svc.CheckTask(ctx, *step)
				bDone <- err
			}()
			<-bKilled
			return sandstep.Errorf(sandstep.ETRANSIENT, "daytona: timeout waiting for the toolbox")
		case 2: // check B's kill lands
			close(bKilled)
			<-proceed
			return nil
		}
		return nil // the cancel's and clean-ups' stops
	}
	if _, err := svc.CheckTask(ctx, *step); err == nil {
		t.Fatal("check A answered; want its failed kill's error")
	}
	_, _ = svc.CancelTask(ctx, alice(), tk.ID)
	close(proceed)
	<-bDone
	rec, err := st.GetTask(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != sandstep.TaskTimedOut {
		t.Errorf("task whose command its deadline killed ended %s (%q), want timed_out", rec.Status, rec.Error)
	}
}
