package service

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// settleFailsOnce fails the first write that settles a timed-out task (the
// clean-up's settleTask), as DynamoDB may.
type settleFailsOnce struct {
	Tasks
	mu   sync.Mutex
	done bool
}

func (f *settleFailsOnce) TransitionTask(ctx context.Context, id string, from []sandstep.TaskStatus, to sandstep.TaskStatus, update func(*sandstep.Task)) (*sandstep.Task, error) {
	f.mu.Lock()
	fail := !f.done && to == sandstep.TaskTimedOut && slices.Equal(from, []sandstep.TaskStatus{sandstep.TaskTimedOut})
	if fail {
		f.done = true
	}
	f.mu.Unlock()
	if fail {
		return nil, sandstep.Errorf(sandstep.ETRANSIENT, "dynamodb: throttled; try again")
	}
	return f.Tasks.TransitionTask(ctx, id, from, to, update)
}

// The deadline's kill a check marked pending did not land (the toolbox
// did not answer); the execution's clean-up kills the command itself, and
// that kill lands, then its settle fails and the state machine asks the
// clean-up again. killPending still stands on the record: the clean-up
// asked again owes the kept sandbox a stop for a command that was killed,
// and fails on a toolbox that does not answer (Sandbox.Transient through
// every retry: the kept sandbox's time never settled, the notice held).
func TestCleanUpsOwnDeadlineKillOwesNoStopWhenAskedAgain(t *testing.T) {
	ctx := context.Background()
	down := sandstep.Errorf(sandstep.ETRANSIENT, "daytona: 502 from the sandbox's toolbox; try again")
	k := runningPastDeadline(t, true, func(ts Tasks) Tasks { return &settleFailsOnce{Tasks: ts} })
	svc, st, sess, tk, step := k.svc, k.st, k.sess, k.tk, k.step
	sess.mu.Lock()
	sess.stopErr = down
	sess.mu.Unlock()
	if _, err := svc.CheckTask(ctx, *step); err == nil {
		t.Fatal("check with a kill that failed: no error")
	}
	if rec, err := st.GetTask(ctx, tk.ID); err != nil || rec.KilledAt == nil || !rec.KillPending {
		t.Fatalf("task after the failed kill = %+v, %v; want killedAt with killPending", rec, err)
	}
	// The execution's retries spent, its clean-up kills the command: the
	// toolbox answers now. Its settle fails.
	sess.mu.Lock()
	sess.stopErr = nil
	sess.mu.Unlock()
	if _, err := svc.CleanUpTaskStep(ctx, tk.ID, nil); err == nil || sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
		t.Fatalf("first clean-up: %v; want the settle's transient failure", err)
	}
	// Asked again; the toolbox does not answer.
	sess.mu.Lock()
	sess.stopErr = down
	sess.mu.Unlock()
	_, err := svc.CleanUpTaskStep(ctx, tk.ID, nil)
	var oe *OutcomeError
	if !errors.As(err, &oe) || oe.Name() != "Task.TimedOut" {
		t.Errorf("clean-up asked again after its own kill landed: %v (%s); want Task.TimedOut: the command was killed, no stop is owed", err, sandstep.ErrorCode(err))
	}
	if rec, err := st.GetTask(ctx, tk.ID); err != nil || rec.Usage == nil || rec.Usage.SandboxTo == nil {
		t.Errorf("task = %+v, %v: the kept sandbox's time is never settled", rec, err)
	}
}
