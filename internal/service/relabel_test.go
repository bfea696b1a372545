package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// cancelThenRun runs then once, just before a task is written cancelled:
// a delivery that arrives while a cancel is still cancelling the task it
// found (storing its last output, asking Daytona, a second or more).
type cancelThenRun struct {
	Tasks
	then func()
}

func (c *cancelThenRun) TransitionTask(ctx context.Context, id string, from []sandstep.TaskStatus, to sandstep.TaskStatus, update func(*sandstep.Task)) (*sandstep.Task, error) {
	if then := c.then; then != nil && to == sandstep.TaskCancelled {
		c.then = nil
		then()
	}
	return c.Tasks.TransitionTask(ctx, id, from, to, update)
}

// The label removed and put back a moment later (GitHub's usual way to
// run an issue's task again): the cancel is still ending the running task
// when the label's delivery comes. README: a cancel cancels only what was
// asked for before it, and labelling the issue again starts a task. The
// label put back cancels the task it found, asked for before the cancel,
// and starts one; answered busy instead ("this one goes on"), it would
// leave the issue labelled with no task once the cancel ended the one it
// found.
func TestLabelPutBackWhileTheCancelEndsTheTaskStartsAnew(t *testing.T) {
	ctx := context.Background()
	first := helloIssue("labeled", "maintainer")
	unlabeled := first
	unlabeled.Delivery, unlabeled.Cancel = "unlabeled", true
	again := first
	again.Delivery = "labeled-again"

	h := issueHarness(t, nil)
	out, err := h.svc.HandleIssue(ctx, first)
	if err != nil || out.Action != "started" {
		t.Fatalf("the first label = %+v, %v", out, err)
	}
	running := out.TaskID
	h.clock.Set(h.clock.Now().Add(time.Minute))

	var relabel *IssueOutcome
	h.svc.tasks = &cancelThenRun{Tasks: h.svc.tasks, then: func() {
		// The label is put back a second after it was removed.
		h.clock.Set(h.clock.Now().Add(time.Second))
		var err error
		if relabel, err = h.svc.HandleIssue(ctx, again); err != nil {
			t.Errorf("the label put back: %v", err)
		}
	}}
	cancel, err := h.svc.HandleIssue(ctx, unlabeled)
	if err != nil || cancel.Action != "cancelled" || cancel.TaskID != running {
		t.Fatalf("the cancel = %+v, %v; want %s cancelled", cancel, err, running)
	}
	if relabel == nil {
		t.Fatal("the label put back was never delivered")
	}
	live, err := h.store.IssueTask(ctx, "octo/hello", "12")
	if err != nil {
		t.Fatal(err)
	}
	if relabel.Action != "started" || live == nil || live.ID != relabel.TaskID {
		t.Errorf("the label put back = %+v; the issue's live task = %+v; want a new task started and running", relabel, live)
	}
}
