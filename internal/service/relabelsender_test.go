package service

import (
	"context"
	"testing"
	"time"
)

// The label removed by one maintainer and put back by another while the
// removal's cancel is still ending the task: the label's delivery finishes
// that cancel (endCancelled) and starts a new task. The trail is there to
// say who stopped a running agent: the one who removed the label, not the
// one who put it back to have the agent run (whose delivery asked for a
// start, and whose name the old task's cancel then carried alone, the
// removal's own cancel finding it cancelled and writing nothing). The
// remover's name is not on the issue's cancel mark, so the cancel finished
// for it names no sender rather than the wrong one.
func TestRelabelDoesNotClaimTheCancel(t *testing.T) {
	ctx := context.Background()
	first := helloIssue("labeled", "starter")
	unlabeled := helloIssue("unlabeled", "remover")
	unlabeled.Cancel = true
	again := helloIssue("labeled-again", "relabeller")

	h := issueHarness(t, nil)
	h.svc.collaborators = fakeCollaborators{"starter": true, "remover": true, "relabeller": true}
	out, err := h.svc.HandleIssue(ctx, first)
	if err != nil || out.Action != "started" {
		t.Fatalf("the first label = %+v, %v", out, err)
	}
	running := out.TaskID
	h.clock.Set(h.clock.Now().Add(time.Minute))
	var relabel *IssueOutcome
	h.svc.tasks = &cancelThenRun{Tasks: h.svc.tasks, then: func() {
		h.clock.Set(h.clock.Now().Add(time.Second))
		var err error
		if relabel, err = h.svc.HandleIssue(ctx, again); err != nil {
			t.Errorf("the label put back: %v", err)
		}
	}}
	if cancel, err := h.svc.HandleIssue(ctx, unlabeled); err != nil || cancel.TaskID != running {
		t.Fatalf("the cancel = %+v, %v", cancel, err)
	}
	if relabel == nil || relabel.Action != "started" {
		t.Fatalf("the label put back = %+v; want started", relabel)
	}
	events, _, err := h.store.ListAudit(ctx, "", running, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	var senders []string
	for _, ev := range events {
		if ev.Action == ActionTaskCancel {
			senders = append(senders, ev.Detail["sender"])
		}
	}
	if len(senders) != 1 || senders[0] != "remover" && senders[0] != "" {
		t.Errorf("task.cancel events of %s name the senders %q; want one, naming the label's remover %q or no one", running, senders, "remover")
	}
}
