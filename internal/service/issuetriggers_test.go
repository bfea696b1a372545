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

// A task that queued, then was admitted (its sandbox made, the issue told
// it started), is still queued until its command starts: a trigger
// answered busy then leaves the comment saying it started, not queued
// again until its end.
func TestBusyNoteAfterAdmissionKeepsItStarted(t *testing.T) {
	tests := []struct {
		name      string
		byComment bool
	}{
		{"the command commented again", true},
		{"the label added by another delivery", false},
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
			h.svc.markQueued(ctx, tk, h.svc.queuedComment)
			// A slot came free: CreateTaskSandbox makes and records the
			// sandbox and tells the issue it started; StartTaskCommand is
			// next.
			if _, err := h.svc.CreateTaskSandbox(ctx, TaskStep{TaskID: taskID, UserID: tk.Owner}); err != nil {
				t.Fatal(err)
			}
			if tk, err = h.store.GetTask(ctx, taskID); err != nil || tk.Status != sandstep.TaskQueued || tk.SandboxID == "" {
				t.Fatalf("task %+v, %v; want it queued with its sandbox", tk, err)
			}
			if body := comments.bodies[tk.IssueComment]; !strings.Contains(body, "started task") {
				t.Fatalf("the comment once admitted: %q, want it started", body)
			}
			out, err := h.svc.HandleIssue(ctx, IssueEvent{Delivery: "again", Repo: "octo/hello", InstallationID: 7, Issue: 3, Sender: "maintainer", ByComment: tt.byComment})
			if err != nil || out.Action != "busy" {
				t.Fatalf("asked again = %+v, %v; want busy", out, err)
			}
			body := comments.bodies[tk.IssueComment]
			if !strings.Contains(body, "started task") || strings.Contains(body, "queued task") {
				t.Errorf("the comment of a task admitted, its command starting:\n%s\nwant it still saying it started", body)
			}
		})
	}
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

// A task whose recorded sandbox was lost before its command started, and
// whose retried CreateTaskSandbox was then refused (drained: paused), waits
// again with its old SandboxID still on the record: a busy note keeps the
// paused comment, not saying it started.
func TestBusyNoteAfterALostSandboxKeepsItWaiting(t *testing.T) {
	tests := []struct {
		name      string
		byComment bool
	}{
		{"the command commented again", true},
		{"the label added by another delivery", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			comments := &fakeComments{bodies: map[int64]string{}}
			h := issueHarness(t, comments)
			h.svc.opts.QueueTimeout = 30 * time.Minute
			taskID := startedIssueTask(t, h)
			// Its first CreateTaskSandbox recorded a sandbox, since lost.
			tk, err := h.store.TransitionTask(ctx, taskID, []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskQueued, func(r *sandstep.Task) {
				r.SandboxID = "sb-lost"
			})
			if err != nil {
				t.Fatal(err)
			}
			// The retry finds it gone, and sandstep drained: the task is paused.
			h.svc.drain = &fakeDrain{on: true}
			_, err = h.svc.CreateTaskSandbox(ctx, TaskStep{TaskID: taskID, UserID: tk.Owner})
			if sandstep.ErrorCode(err) != sandstep.EQUEUED {
				t.Fatalf("CreateTaskSandbox = %v; want EQUEUED", err)
			}
			tk, err = h.store.GetTask(ctx, taskID)
			if err != nil {
				t.Fatal(err)
			}
			if body := comments.bodies[tk.IssueComment]; !strings.Contains(body, "paused task") {
				t.Fatalf("the comment before: %q, want it paused", body)
			}
			out, err := h.svc.HandleIssue(ctx, IssueEvent{Delivery: "again", Repo: "octo/hello", InstallationID: 7, Issue: 3, Sender: "maintainer", ByComment: tt.byComment})
			if err != nil || out.Action != "busy" {
				t.Fatalf("asked again = %+v, %v; want busy", out, err)
			}
			body := comments.bodies[tk.IssueComment]
			if strings.Contains(body, "started task") || !strings.Contains(body, "paused task") {
				t.Errorf("task %s (queuedAt %v, sandbox %q) waits; its comment after the busy note:\n%s\nwant it still paused", tk.Status, tk.QueuedAt, tk.SandboxID, body)
			}
		})
	}
}
