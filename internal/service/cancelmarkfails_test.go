package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// failingMark is a store whose cancel mark cannot be written (DynamoDB
// throttling, a conflict past writeRate's tries, a network blip).
type failingMark struct{ Tasks }

func (failingMark) MarkIssueCancelled(context.Context, string, string, time.Time) error {
	return sandstep.Errorf(sandstep.ETRANSIENT, "throttled")
}

// A cancel whose mark cannot be written still cancels the task it finds
// (the mark only stops a start on its way), and its delivery fails, so
// GitHub shows it and it can be sent again.
func TestAMarkThatCannotBeWrittenStillCancelsTheFoundTask(t *testing.T) {
	ctx := context.Background()
	h := issueHarness(t, nil)
	label := helloIssue("labeled", "maintainer")
	out, err := h.svc.HandleIssue(ctx, label)
	if err != nil || out.Action != "started" {
		t.Fatalf("the label = %+v, %v", out, err)
	}
	h.clock.Set(h.clock.Now().Add(time.Minute))
	h.svc.tasks = failingMark{h.svc.tasks}
	unlabel := label
	unlabel.Delivery, unlabel.Cancel = "unlabeled", true
	cancel, cerr := h.svc.HandleIssue(ctx, unlabel)
	live, err := h.store.IssueTask(ctx, "octo/hello", "12")
	if err != nil {
		t.Fatal(err)
	}
	if live != nil {
		t.Fatalf("the cancel = %+v, %v; the issue's task %s is still %s: a cancel that found it running left it running because the mark failed", cancel, cerr, live.ID, live.Status)
	}
	if sandstep.ErrorCode(cerr) != sandstep.ETRANSIENT {
		t.Errorf("the cancel = %+v, %v; want the mark's failure answered, so the delivery can be sent again", cancel, cerr)
	}
}
