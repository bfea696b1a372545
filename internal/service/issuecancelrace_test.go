package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// hookedCollaborators runs then once, at the permission check of the
// delivery named first: what happens between a start's delivery and its
// task's write.
type hookedCollaborators struct {
	fakeCollaborators
	first string
	then  func()
}

func (c *hookedCollaborators) CanTrigger(ctx context.Context, inst int64, repo, login string) (bool, error) {
	if then := c.then; then != nil && login == c.first {
		c.then = nil
		then()
	}
	return c.fakeCollaborators.CanTrigger(ctx, inst, repo, login)
}

// cancelOnItsWay is collaborators that, at the permission check of a
// start sent by sender, handle the cancel a second later (its outcome into
// *out); the start then writes its task a second later still.
func cancelOnItsWay(t *testing.T, h *faultHarness, collaborators fakeCollaborators, sender string, cancel IssueEvent, out **IssueOutcome) *hookedCollaborators {
	return &hookedCollaborators{fakeCollaborators: collaborators, first: sender, then: func() {
		h.clock.Set(h.clock.Now().Add(time.Second))
		var err error
		if *out, err = h.svc.HandleIssue(context.Background(), cancel); err != nil {
			t.Error(err)
		}
		h.clock.Set(h.clock.Now().Add(time.Second))
	}}
}

// markThenRun runs then once, before the cancel's mark is written: a
// start's task written between the cancel's read of the claim and its mark.
type markThenRun struct {
	Tasks
	then func()
}

func (m *markThenRun) MarkIssueCancelled(ctx context.Context, repo, issue string, at time.Time) error {
	if then := m.then; then != nil {
		m.then = nil
		then()
	}
	return m.Tasks.MarkIssueCancelled(ctx, repo, issue, at)
}

// A label removed (or cancel commented) while its start is between the
// delivery and the task's write cancels that start: the task asked for
// before the cancel does not run, nothing is held, and the label put back
// afterwards starts a task as usual.
func TestACancelWhileTheStartIsOnItsWay(t *testing.T) {
	ctx := context.Background()
	labeled := helloIssue("labeled", "labeller")
	unlabeled := labeled
	unlabeled.Delivery, unlabeled.Cancel, unlabeled.Sender = "unlabeled", true, "maintainer"

	t.Run("the cancel comes before the task is written", func(t *testing.T) {
		h := issueHarness(t, nil)
		var cancel *IssueOutcome
		h.svc.collaborators = cancelOnItsWay(t, h, fakeCollaborators{"maintainer": true, "labeller": true}, "labeller", unlabeled, &cancel)
		out, err := h.svc.HandleIssue(ctx, labeled)
		if err != nil || out.Action != "ignored" {
			t.Fatalf("the start = %+v, %v; want ignored: cancelled as it started", out, err)
		}
		if cancel == nil || cancel.Action != "ignored" {
			t.Fatalf("the cancel = %+v; want ignored: no task yet", cancel)
		}
		if live, err := h.store.IssueTask(ctx, "octo/hello", "12"); err != nil || live != nil {
			t.Fatalf("the issue's task = %+v, %v; want none", live, err)
		}
		if n := h.liveSlots(t, sandstep.RepoUser("octo/hello")); n != 0 {
			t.Errorf("the repository holds %d slots, want 0", n)
		}
		h.clock.Set(h.clock.Now().Add(time.Second))
		again := labeled
		again.Delivery = "labeled-again"
		if out, err := h.svc.HandleIssue(ctx, again); err != nil || out.Action != "started" {
			t.Fatalf("the label put back = %+v, %v; want started", out, err)
		}
	})

	t.Run("the task is written between the cancel's read and its mark", func(t *testing.T) {
		h := issueHarness(t, nil)
		var start *IssueOutcome
		h.svc.tasks = &markThenRun{Tasks: h.svc.tasks, then: func() {
			var err error
			if start, err = h.svc.HandleIssue(ctx, labeled); err != nil {
				t.Error(err)
			}
			h.clock.Set(h.clock.Now().Add(time.Second))
		}}
		h.svc.collaborators = fakeCollaborators{"maintainer": true, "labeller": true}
		out, err := h.svc.HandleIssue(ctx, unlabeled)
		if err != nil || start == nil || start.Action != "started" || out.Action != "cancelled" || out.TaskID != start.TaskID {
			t.Fatalf("the start = %+v, the cancel = %+v, %v; want the started task cancelled", start, out, err)
		}
	})
}

// A cancel cancels only a task asked for before it: the label put back a
// second after the cancel came, its task written before the cancel read
// the issue's task, runs.
func TestALabelPutBackAfterTheCancelIsNotCancelledByIt(t *testing.T) {
	ctx := context.Background()
	labeled := helloIssue("labeled-again", "labeller")
	unlabeled := labeled
	unlabeled.Delivery, unlabeled.Cancel, unlabeled.Sender = "unlabeled", true, "maintainer"

	h := issueHarness(t, nil)
	h.svc.collaborators = fakeCollaborators{"maintainer": true, "labeller": true}
	var start *IssueOutcome
	h.svc.tasks = &markThenRun{Tasks: h.svc.tasks, then: func() {
		// The label is put back a second after the cancel came, and its
		// task is written before the cancel's mark.
		h.clock.Set(h.clock.Now().Add(time.Second))
		var err error
		if start, err = h.svc.HandleIssue(ctx, labeled); err != nil {
			t.Error(err)
		}
	}}
	cancel, err := h.svc.HandleIssue(ctx, unlabeled)
	if err != nil || start == nil || start.Action != "started" {
		t.Fatalf("the cancel = %+v, %v; the label put back = %+v", cancel, err, start)
	}
	live, err := h.store.IssueTask(ctx, "octo/hello", "12")
	if err != nil || live == nil || live.ID != start.TaskID {
		t.Fatalf("the cancel = %+v; the issue's task = %+v, %v; want %s, asked for after the cancel, still running", cancel, live, err, start.TaskID)
	}
}

// A cancel that finds a task running also refuses a start asked for before
// it (a "/sandstep" comment on its way): the task it cancels lets the
// issue's claim go, and the label was removed last.
func TestACancelThatFindsATaskAlsoRefusesAStartOnItsWay(t *testing.T) {
	ctx := context.Background()
	first := helloIssue("labeled", "maintainer")
	comment := first
	comment.Delivery, comment.ByComment, comment.Sender = "commented", true, "commenter"
	unlabeled := first
	unlabeled.Delivery, unlabeled.Cancel = "unlabeled", true

	h := issueHarness(t, nil)
	h.svc.collaborators = fakeCollaborators{"maintainer": true, "commenter": true}
	out, err := h.svc.HandleIssue(ctx, first)
	if err != nil || out.Action != "started" {
		t.Fatalf("the first label = %+v, %v", out, err)
	}
	h.clock.Set(h.clock.Now().Add(time.Second))
	// The label is removed while the comment's start is on its way.
	var cancel *IssueOutcome
	h.svc.collaborators = cancelOnItsWay(t, h, fakeCollaborators{"maintainer": true, "commenter": true}, "commenter", unlabeled, &cancel)
	started, err := h.svc.HandleIssue(ctx, comment)
	if err != nil || cancel == nil || cancel.Action != "cancelled" {
		t.Fatalf("the comment's start = %+v, %v; the cancel = %+v", started, err, cancel)
	}
	if live, err := h.store.IssueTask(ctx, "octo/hello", "12"); err != nil || live != nil {
		t.Fatalf("the comment's start = %+v; the issue's task = %+v, %v; want none: the start was asked for before the cancel", started, live, err)
	}
}

// helloIssue is a delivery of octo/hello's issue 12 (issueHarness's
// repository) sent by sender.
func helloIssue(delivery, sender string) IssueEvent {
	return IssueEvent{Delivery: delivery, Repo: "octo/hello", InstallationID: 7, Issue: 12, Sender: sender,
		CloneURL: "https://github.com/octo/hello.git", DefaultBranch: "main"}
}
