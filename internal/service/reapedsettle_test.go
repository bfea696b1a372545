package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
)

// refusingTaskWrites is the store's tasks with every transition refused
// while refuse is set (DynamoDB throttling, or the run's time running out).
type refusingTaskWrites struct {
	*store.Store
	refuse error
}

func (r *refusingTaskWrites) TransitionTask(ctx context.Context, id string, from []sandstep.TaskStatus, to sandstep.TaskStatus, update func(*sandstep.Task)) (*sandstep.Task, error) {
	if r.refuse != nil {
		return nil, r.refuse
	}
	return r.Store.TransitionTask(ctx, id, from, to, update)
}

// docs/architecture.md, "Failures and the reaper": what a clean-up cannot
// do is left in a state something will find, never only in a log line,
// and the run's failed is what the reaper-failed alarm watches. Once the
// reaper has deleted an ended task's sandbox its record is final: no later
// run comes back to it, so a task whose sandbox time the reaper could not
// end shows a cost that grows for as long as it is kept. That must count
// as the run's failure, not pass as a finding done.
func TestReapedTaskNotSettledIsAFailure(t *testing.T) {
	tests := []struct {
		name   string
		refuse error
	}{
		{name: "the task's write throttled", refuse: sandstep.Errorf(sandstep.ETRANSIENT, "throughput exceeded")},
		{name: "the run's time spent", refuse: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tasks := &refusingTaskWrites{}
			svc, st, clk := newTaskService(t, newFakeProvider(), func(st *store.Store, d *Deps) {
				tasks.Store = st
				d.Tasks = tasks
			})
			ctx := context.Background()
			tk, _ := runningTaskIn(t, svc, TaskInput{Command: "make"})
			clk.Set(clk.Now().Add(time.Minute))
			zero, now := 0, clk.Now()
			if _, err := st.TransitionTask(ctx, tk.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskSucceeded,
				func(r *sandstep.Task) { r.ExitCode, r.FinishedAt = &zero, &now }); err != nil {
				t.Fatal(err)
			}
			// Its clean-up never comes; its execution has ended.
			svc.machine = endedMachine{}
			clk.Set(clk.Now().Add(abandonedAfter + time.Minute))
			tasks.refuse = tt.refuse
			rep, err := svc.Reap(ctx, ReapOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tasks.refuse = nil
			got, err := st.GetTask(ctx, tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Usage == nil || got.Usage.SandboxTo != nil {
				t.Fatalf("the task's sandbox time was ended (%+v): the case's refusal did not reach it", got.Usage)
			}
			if rep.Tasks != 1 || rep.Failed != 1 {
				t.Errorf("Reap = tasks %d, failed %d; want the delete counted and the task's time left open a failure (1, 1)", rep.Tasks, rep.Failed)
			}
		})
	}
}
