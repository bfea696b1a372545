package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A trigger answered busy leaves the issue's one comment as it stands,
// with its note: a task that waits its turn still says why (queued for the
// repository's quota, paused while sandstep is drained) and until when; a
// task admitted, its command about to start, still says it started; one
// that lost its sandbox and waits again does not say it started.
func TestABusyNoteKeepsTheTasksComment(t *testing.T) {
	tests := []struct {
		name      string
		byComment bool
		// bring brings the issue's queued task (on h, draining per drain)
		// to the case's state.
		bring     func(t *testing.T, h *faultHarness, tk *sandstep.Task, drain *fakeDrain)
		says, not string
		note      string
	}{
		{name: "queued, the command commented again", byComment: true, bring: queuedForQuota,
			says: "queued task", not: "started task", note: "while it waits"},
		{name: "queued, the label added by another delivery", bring: queuedForQuota,
			says: "queued task", not: "started task", note: "while it waits"},
		{name: "queued while sandstep is drained", byComment: true, bring: func(t *testing.T, h *faultHarness, tk *sandstep.Task, drain *fakeDrain) {
			queuedForQuota(t, h, tk, drain)
			drain.set(true)
		}, says: "paused task", not: "started task", note: "while it waits"},
		{name: "admitted from the queue, its command starting", bring: func(t *testing.T, h *faultHarness, tk *sandstep.Task, drain *fakeDrain) {
			queuedForQuota(t, h, tk, drain)
			// A slot came free: CreateTaskSandbox makes and records the
			// sandbox and tells the issue it started.
			if _, err := h.svc.CreateTaskSandbox(context.Background(), TaskStep{TaskID: tk.ID, UserID: tk.Owner}); err != nil {
				t.Fatal(err)
			}
		}, says: "started task", not: "queued task", note: "while it runs"},
		{name: "waiting again after its sandbox was lost", byComment: true, bring: func(t *testing.T, h *faultHarness, tk *sandstep.Task, drain *fakeDrain) {
			ctx := context.Background()
			// Its first CreateTaskSandbox recorded a sandbox, since lost;
			// the retry finds it gone, and sandstep drained: it is paused.
			if _, err := h.store.TransitionTask(ctx, tk.ID, []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskQueued, func(r *sandstep.Task) {
				r.SandboxID = "sb-lost"
			}); err != nil {
				t.Fatal(err)
			}
			drain.set(true)
			if _, err := h.svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: tk.Owner}); sandstep.ErrorCode(err) != sandstep.EQUEUED {
				t.Fatalf("CreateTaskSandbox = %v; want EQUEUED", err)
			}
		}, says: "paused task", not: "started task", note: "while it waits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			comments := &fakeComments{bodies: map[int64]string{}}
			h := issueHarness(t, comments)
			h.svc.opts.QueueTimeout = 30 * time.Minute
			drain := &fakeDrain{}
			h.svc.drain = drain
			tk, err := h.store.GetTask(ctx, startedIssueTask(t, h))
			if err != nil {
				t.Fatal(err)
			}
			tt.bring(t, h, tk, drain)
			out, err := h.svc.HandleIssue(ctx, IssueEvent{Delivery: "again", Repo: "octo/hello", InstallationID: 7, Issue: 3, Sender: "maintainer", ByComment: tt.byComment})
			if err != nil || out.Action != "busy" {
				t.Fatalf("asked again = %+v, %v; want busy", out, err)
			}
			rec, err := h.store.GetTask(ctx, tk.ID)
			if err != nil || rec.Status != sandstep.TaskQueued {
				t.Fatalf("task %+v, %v: want it still queued", rec, err)
			}
			body := comments.bodies[rec.IssueComment]
			if !strings.Contains(body, tt.says) || strings.Contains(body, tt.not) || !strings.Contains(body, "Asked again "+tt.note+" by @maintainer") {
				t.Errorf("the issue's comment after the busy note:\n%s\nwant it saying %q (not %q), noted %q", body, tt.says, tt.not, tt.note)
			}
		})
	}
}

// queuedForQuota is the issue's task refused its sandbox for the
// repository's quota: it waits, and the issue is told so.
func queuedForQuota(t *testing.T, h *faultHarness, tk *sandstep.Task, _ *fakeDrain) {
	t.Helper()
	h.svc.refusedAgain(context.Background(), tk, waitQueued)
}

// A removal of the label that found no task, sent again after a later
// label started a new task, does not cancel that task: a redelivery is
// answered as the first delivery was.
func TestAStaleCancelRedeliveredSparesALaterTask(t *testing.T) {
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
			cancel := IssueEvent{Delivery: "unlabeled-long-ago", Repo: "octo/hello", InstallationID: 7, Issue: 3, Sender: "maintainer", Cancel: true, ByComment: tt.byComment}
			first, err := h.svc.HandleIssue(ctx, cancel)
			if err != nil || first.Action != "ignored" {
				t.Fatalf("the first cancel = %+v, %v; want ignored (no task)", first, err)
			}
			// Later the issue is labelled again: a new task starts.
			h.clock.Set(h.clock.Now().Add(time.Minute))
			taskID := startedIssueTask(t, h)
			again, err := h.svc.HandleIssue(ctx, cancel)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := h.store.GetTask(ctx, taskID)
			if err != nil {
				t.Fatal(err)
			}
			if again.Action != first.Action || rec.Status.Terminal() {
				t.Errorf("the old cancel answered %+v, its redelivery %+v; the newer task %s is %s", first, again, taskID, rec.Status)
			}
		})
	}
}
