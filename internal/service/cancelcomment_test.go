package service

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// lateComments is countingComments whose write of a body containing
// match runs before first, once: a comment GitHub takes a moment to
// write, during which the task is cancelled and its clean-up writes the
// ended comment, which lands first.
type lateComments struct {
	*countingComments
	match  string
	once   sync.Once
	before func()
}

func (c *lateComments) UpsertComment(ctx context.Context, inst int64, repo string, issue int, id int64, body string) (int64, error) {
	if c.match != "" && strings.Contains(body, c.match) {
		c.once.Do(c.before)
	}
	return c.countingComments.UpsertComment(ctx, inst, repo, issue, id, body)
}

// An issue's task's comment ends saying how it ended (README: the issue
// is told when its task ends). A comment the sandbox step writes as the
// task waits or starts, landing after a cancel's clean-up wrote the ended
// comment, must not leave the issue saying the task waits or started.
func TestCancelledIssueTaskKeepsItsEndedComment(t *testing.T) {
	tests := []struct {
		name  string
		match string // the step's comment the cancel lands under
	}{
		{name: "cancelled as its start after the queue is told", match: "started task"},
		{name: "cancelled as its wait in the queue is told", match: "queued task"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h, counting := admissionHarness(t)
			comments := &lateComments{countingComments: counting}
			h.svc.comments = comments
			first := acceptIssueTask(t, h, "octo/hello", "1")
			if _, err := h.svc.CreateTaskSandbox(ctx, first); err != nil {
				t.Fatal(err)
			}
			step := acceptIssueTask(t, h, "octo/hello", "2")
			repo := Call{UserID: step.UserID, RequestID: "cancel"}
			comments.before = func() {
				if _, err := h.svc.CancelTask(ctx, repo, step.TaskID); err != nil {
					t.Errorf("CancelTask: %v", err)
				}
				// The stopped execution's task-ended event.
				_, _ = h.svc.CleanUpTask(ctx, step.TaskID, nil)
			}
			if tt.match == "queued task" {
				comments.match = tt.match
				if _, err := h.svc.CreateTaskSandbox(ctx, step); sandstep.ErrorCode(err) != sandstep.EQUEUED {
					t.Fatalf("CreateTaskSandbox = %v, want queued", err)
				}
			} else {
				if _, err := h.svc.CreateTaskSandbox(ctx, step); sandstep.ErrorCode(err) != sandstep.EQUEUED {
					t.Fatalf("CreateTaskSandbox = %v, want queued", err)
				}
				// The first task ends; the second is admitted.
				if _, err := h.svc.CancelTask(ctx, repo, first.TaskID); err != nil {
					t.Fatal(err)
				}
				h.clock.Set(h.clock.Now().Add(time.Minute))
				comments.match = tt.match
				_, _ = h.svc.CreateTaskSandbox(ctx, step)
			}
			got, err := h.store.GetTask(ctx, step.TaskID)
			if err != nil {
				t.Fatal(err)
			}
			last := counting.lastAbout(step.TaskID)
			t.Logf("task %s; comments %d; last:\n%s", got.Status, len(counting.bodies), last)
			if got.Status != sandstep.TaskCancelled {
				t.Fatalf("task %s, want cancelled", got.Status)
			}
			if counting.saying("cancelled") == 0 {
				t.Fatal("the clean-up wrote no ended comment")
			}
			if !strings.Contains(last, "cancelled") || strings.Contains(last, tt.match) {
				t.Errorf("the issue's last comment on the cancelled task says:\n%s", last)
			}
		})
	}
}
