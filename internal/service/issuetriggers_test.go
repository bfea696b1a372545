package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A trigger answered busy while the issue's task waits its turn leaves the
// issue's one comment saying why it waits (queued for the repository's
// quota, paused while sandstep is drained), and until when: not that it
// started.
func TestBusyNoteWhileQueuedKeepsItQueued(t *testing.T) {
	tests := []struct {
		name      string
		byComment bool
		drained   bool
		says      string
	}{
		{name: "the command commented again", byComment: true, says: "queued task"},
		{name: "the label added by another delivery", says: "queued task"},
		{name: "while sandstep is drained", byComment: true, drained: true, says: "paused task"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			comments := &fakeComments{bodies: map[int64]string{}}
			h := issueHarness(t, comments)
			h.svc.opts.QueueTimeout = 30 * time.Minute
			taskID := startedIssueTask(t, h)
			tk, err := h.store.GetTask(ctx, taskID)
			if err != nil {
				t.Fatal(err)
			}
			// Its sandbox was refused for the repository's quota: it waits.
			h.svc.markQueued(ctx, tk, h.svc.queuedComment)
			if body := comments.bodies[tk.IssueComment]; !strings.Contains(body, "queued task") {
				t.Fatalf("the comment before: %q, want it queued", body)
			}
			h.svc.drain = &fakeDrain{on: tt.drained}
			out, err := h.svc.HandleIssue(ctx, IssueEvent{Delivery: "again", Repo: "octo/hello", InstallationID: 7, Issue: 3, Sender: "maintainer", ByComment: tt.byComment})
			if err != nil || out.Action != "busy" {
				t.Fatalf("asked again = %+v, %v; want busy", out, err)
			}
			rec, err := h.store.GetTask(ctx, taskID)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Status != sandstep.TaskQueued || rec.QueuedAt == nil {
				t.Fatalf("task %s, queuedAt %v: want it still waiting", rec.Status, rec.QueuedAt)
			}
			body := comments.bodies[rec.IssueComment]
			if strings.Contains(body, "started task") || !strings.Contains(body, tt.says) || !strings.Contains(body, "Asked again while it waits by @maintainer") {
				t.Errorf("the issue's comment while the task waits:\n%s\nwant it saying %q, and until when, with the note", body, tt.says)
			}
		})
	}
}

// heldPut holds the first task record's write until release closes: a
// start on its way to writing the issue's task and claim.
type heldPut struct {
	Tasks
	held    bool
	entered chan struct{}
	release chan struct{}
}

func (p *heldPut) PutTask(ctx context.Context, t *sandstep.Task) error {
	if !p.held {
		p.held = true
		close(p.entered)
		<-p.release
	}
	return p.Tasks.PutTask(ctx, t)
}

// The label added and removed at once (a mislabel put right): the
// removal's delivery, handled while the start is writing the task, finds
// no task and is answered so, but not remembered: its redelivery (GitHub's,
// on the sender's ask) cancels the task.
func TestCancelWhileTheStartIsWritingTheTask(t *testing.T) {
	tests := []struct {
		name      string
		byComment bool
	}{
		{"the label removed", false},
		{"the cancel command", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h := issueHarness(t, nil)
			held := &heldPut{Tasks: h.svc.tasks, entered: make(chan struct{}), release: make(chan struct{})}
			h.svc.tasks = held
			ev := IssueEvent{Delivery: "labeled", Repo: "octo/hello", InstallationID: 7, Issue: 12, Sender: "maintainer"}
			first := make(chan *IssueOutcome, 1)
			go func() {
				out, err := h.svc.HandleIssue(ctx, ev)
				if err != nil {
					t.Error(err)
				}
				first <- out
			}()
			<-held.entered
			cancel := ev
			cancel.Delivery, cancel.Cancel, cancel.ByComment = "unlabeled", true, tt.byComment
			out, err := h.svc.HandleIssue(ctx, cancel)
			if err != nil {
				t.Fatal(err)
			}
			close(held.release)
			started := <-first
			if started == nil || started.Action != "started" {
				t.Fatalf("the start = %+v", started)
			}
			// GitHub's redelivery of the removal, or the same removal seen again.
			again, err := h.svc.HandleIssue(ctx, cancel)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := h.store.GetTask(ctx, started.TaskID)
			if err != nil {
				t.Fatal(err)
			}
			if !rec.Status.Terminal() {
				t.Errorf("the cancel answered %+v, its redelivery %+v; the task %s is %s: the label is gone and it runs on",
					out, again, rec.ID, rec.Status)
			}
		})
	}
}
