package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// runningWriteFails makes the write marking a task running answer an
// error once: after applying it (an answer lost on the way) or instead.
type runningWriteFails struct {
	Tasks
	applied bool
	done    bool
}

func (f *runningWriteFails) TransitionTask(ctx context.Context, id string, from []sandstep.TaskStatus, to sandstep.TaskStatus, update func(*sandstep.Task)) (*sandstep.Task, error) {
	if f.done || to != sandstep.TaskRunning || from[0] != sandstep.TaskQueued {
		return f.Tasks.TransitionTask(ctx, id, from, to, update)
	}
	f.done = true
	if f.applied {
		if _, err := f.Tasks.TransitionTask(ctx, id, from, to, update); err != nil {
			return nil, err
		}
	}
	return nil, sandstep.Errorf(sandstep.ETRANSIENT, "store: the database is unreachable; try again")
}

// A failed write marking the task running kills the command it started,
// unless the write landed (its answer lost): then the command is the
// task's, and the step answers as if it had heard.
func TestStartTaskCommandWhenMarkingItRunningFails(t *testing.T) {
	for _, tt := range []struct {
		name       string
		applied    bool
		wantKilled bool
	}{
		{"the write landed", true, false},
		{"the write did not land", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5, Now: clk.Now})
			p := newFakeProvider()
			sess := &exitSessions{}
			svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
				Tasks: &runningWriteFails{Tasks: st, applied: tt.applied}, Objects: newFakeObjects(), Machine: fakeMachine{}, Sessions: sess},
				Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			tk, step := taskWithSandbox(t, svc, TaskInput{Command: "make"})
			next, err := svc.StartTaskCommand(ctx, *step)
			if killed := sess.wasStopped(); killed != tt.wantKilled {
				t.Errorf("command killed = %v, want %v (step %+v, %v)", killed, tt.wantKilled, next, err)
			}
			if tt.wantKilled != (err != nil) {
				t.Errorf("StartTaskCommand = %+v, %v; want an error only when the command was killed", next, err)
			}
			rec, err := st.GetTask(ctx, tk.ID)
			if want := map[bool]sandstep.TaskStatus{true: sandstep.TaskRunning, false: sandstep.TaskQueued}[tt.applied]; err != nil || rec.Status != want {
				t.Errorf("task = %+v, %v; want %s", rec, err, want)
			}
		})
	}
}
