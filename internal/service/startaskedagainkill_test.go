package service

import (
	"context"
	"sync"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// slowFirstMark is a store whose first write marking a task running (the
// first invocation's, slow under throttling) lets a second invocation of
// the step, asked again meanwhile, run whole before it lands; the second
// invocation's own mark is refused (throttled) without landing.
type slowFirstMark struct {
	Tasks
	mu     sync.Mutex
	marks  int
	during func() // run inside the first mark, before it lands
}

func (f *slowFirstMark) TransitionTask(ctx context.Context, id string, from []sandstep.TaskStatus, to sandstep.TaskStatus, update func(*sandstep.Task)) (*sandstep.Task, error) {
	if to != sandstep.TaskRunning || len(from) != 1 || from[0] != sandstep.TaskQueued {
		return f.Tasks.TransitionTask(ctx, id, from, to, update)
	}
	f.mu.Lock()
	f.marks++
	n := f.marks
	f.mu.Unlock()
	switch n {
	case 1:
		if f.during != nil {
			f.during()
		}
	case 2:
		return nil, sandstep.Errorf(sandstep.ETRANSIENT, "store: throughput exceeded; try again")
	}
	return f.Tasks.TransitionTask(ctx, id, from, to, update)
}

// A start asked again while the first invocation still runs (its answer
// lost: Lambda.ServiceException) may have its own running mark refused
// for a moment while the first's is still on its way: it reads the task
// queued and kills the task's session, where the first invocation's line
// runs the task's command. The first's mark then lands: the task is
// running, its command killed, and the next check finds the command gone
// from its running sandbox, which fails a task nothing was wrong with.
func TestStartAskedAgainLeavesTheOtherStartsCommand(t *testing.T) {
	for _, tt := range []struct {
		name string
		keep bool
	}{
		{name: "a sandbox deleted at the end"},
		{name: "a kept sandbox", keep: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sess := &exitSessions{goneOnStop: true}
			var st *slowFirstMark
			p := newFakeProvider()
			p.execResult = ExecResult{Stdout: "aGk=\n\n"} // the command wrote "hi"
			svc, _, _ := newStepService(t, p, sess, func(inner Tasks) Tasks {
				st = &slowFirstMark{Tasks: inner}
				return st
			})
			ctx := context.Background()
			tk, step := taskWithSandbox(t, svc, TaskInput{Command: "make", KeepSandbox: tt.keep})
			var secondErr error
			st.during = func() { _, secondErr = svc.StartTaskCommand(ctx, *step) }
			next, firstErr := svc.StartTaskCommand(ctx, *step)
			if firstErr != nil {
				t.Fatalf("first start: %v", firstErr)
			}
			if sandstep.ErrorCode(secondErr) != sandstep.ETRANSIENT {
				t.Errorf("second start: %v; want a transient error (the state machine's retry then finds the task running)", secondErr)
			}
			if n := sess.stopCount(); n != 0 {
				t.Errorf("the task's session was stopped %d times while the first start's command ran in it", n)
			}
			// The watch goes on: the command runs, nothing has ended.
			got, err := svc.CheckTask(ctx, *next)
			if err != nil || got.Ended {
				t.Errorf("check after the starts = %+v, %v; want the command still running", got, err)
			}
			rec, err := svc.tasks.GetTask(ctx, tk.ID)
			if err != nil || rec.Status != sandstep.TaskRunning {
				t.Errorf("task = %+v, %v; want running", rec, err)
			}
		})
	}
}
