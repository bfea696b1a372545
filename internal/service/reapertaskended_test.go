package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
)

// justEndedMachine is a state machine whose executions all ended at
// stopped (DescribeExecution's stopDate), as EventBridge's status change
// of each is on its way to the task-ended clean-up.
type justEndedMachine struct {
	fakeMachine
	stopped time.Time
}

func (m *justEndedMachine) Running(context.Context, string) (bool, time.Time, error) {
	return false, m.stopped, nil
}

// A task whose execution ended a moment ago (timed out, aborted, or its
// clean-up step failed for good) is cleaned up by the status-change rule's
// clean-up (task-ended), which the event starts within seconds and which
// stores the task's last output (up to 10 s) before it ends the task with
// the execution's own error. The reaper is the backstop for a change whose
// event was lost (README, "When something fails"; reaper.go: "its
// status-change event was lost"): it must give that clean-up its time, as
// it gives an ended task's clean-up 15 minutes after finishedAt before it
// takes the sandbox. Waiting only on the task's age (createdAt), a run
// that met the execution just ended counted a "tasks" finding (a false
// alarm: nothing was lost) and ended the task with its own
// "Execution.Gone" in place of the execution's error the user should see.
func TestReapLeavesATaskWhoseExecutionJustEndedToItsEvent(t *testing.T) {
	ctx := context.Background()
	var m *justEndedMachine
	svc, st, clk := newTaskService(t, newFakeProvider(), func(_ *store.Store, d *Deps) {
		m = &justEndedMachine{}
		d.Machine = m
	})
	tk, _ := runningTaskIn(t, svc, TaskInput{Command: "make", TimeoutSeconds: intp(3 * 3600)})
	// An hour on, its execution ends (here stopped from the console);
	// the reaper's run comes a second later.
	clk.Set(clk.Now().Add(time.Hour))
	m.stopped = clk.Now()
	clk.Set(clk.Now().Add(time.Second))

	rep, err := svc.Reap(ctx, ReapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Findings() != 0 {
		t.Errorf("Reap = %+v; want no finding: the execution ended a second ago, its status change is on its way", *rep)
	}
	got, err := st.GetTask(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != sandstep.TaskRunning || strings.Contains(got.Error, "Execution.Gone") {
		t.Errorf("task = %s %q; want left running for its status change's clean-up (which records the execution's own error)", got.Status, got.Error)
	}
}
