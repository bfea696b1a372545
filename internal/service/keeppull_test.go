package service

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// heldSucceed holds the collect's write of the task's success until go_ is
// closed, telling arrived when it is reached.
type heldSucceed struct {
	Tasks
	arrived chan struct{}
	go_     chan struct{}
	once    sync.Once
}

func (h *heldSucceed) TransitionTask(ctx context.Context, id string, from []sandstep.TaskStatus, to sandstep.TaskStatus, update func(*sandstep.Task)) (*sandstep.Task, error) {
	if to == sandstep.TaskSucceeded {
		h.once.Do(func() { close(h.arrived) })
		<-h.go_
	}
	return h.Tasks.TransitionTask(ctx, id, from, to, update)
}

// hookedComments runs before, once, ahead of the first write it is given
// after armed is set (the clean-up's ended comment, its body already
// made), then writes that body.
type hookedComments struct {
	*fakeComments
	armed  bool
	before func()
}

func (c *hookedComments) UpsertComment(ctx context.Context, inst int64, repo string, issue int, id int64, body string) (int64, error) {
	if c.armed {
		c.armed = false
		c.before()
	}
	return c.fakeComments.UpsertComment(ctx, inst, repo, issue, id, body)
}

// A cancel lands as the pull request is opened; the stopped
// execution's clean-up writes the ended comment while the collect that
// opened the pull request records it (keepPullRequest). Whichever order
// the two writes land in, the issue's last word must name the pull request
// the task records.
func TestKeptPullRequestSurvivesTheCleanUpsComment(t *testing.T) {
	tests := []struct {
		name string
	}{
		{"the clean-up's comment lands after keepPullRequest's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			comments := &hookedComments{fakeComments: &fakeComments{bodies: map[int64]string{}}}
			h.svc.comments = comments
			held := &heldSucceed{Tasks: h.svc.tasks, arrived: make(chan struct{}), go_: make(chan struct{})}
			h.svc.tasks = held
			git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
			ctx := context.Background()
			// The start announced the task: every later write edits that comment.
			h.svc.commentOnIssue(ctx, h.record(t), "started", false)
			if err := h.svc.recordExit(ctx, h.task, 0); err != nil {
				t.Fatal(err)
			}
			cancelled := false
			h.access.limit = func(op string) error {
				if op == "pull" && !cancelled {
					cancelled = true
					if _, err := h.svc.CancelTask(ctx, Call{UserID: h.task.Owner, RequestID: "cancel"}, h.task.ID); err != nil {
						t.Errorf("CancelTask: %v", err)
					}
				}
				return nil
			}
			collected := make(chan struct{})
			go func() {
				defer close(collected)
				_, _ = h.svc.CollectTask(ctx, TaskStep{TaskID: h.task.ID, UserID: h.task.Owner, SandboxID: h.task.SandboxID})
			}()
			<-held.arrived // the pull request is open; its record not yet written
			comments.armed = true
			comments.before = func() {
				close(held.go_)
				<-collected // keepPullRequest records it and writes its comment
			}
			_, _ = h.svc.CleanUpTask(ctx, h.task.ID, nil)
			rec := h.record(t)
			var last string
			for id := int64(1); id <= int64(len(comments.bodies)); id++ {
				last = comments.bodies[id]
			}
			if rec.PullRequest == "" {
				t.Fatalf("the task records no pull request (%s); opened %q", rec.Status, h.access.pulls)
			}
			if !strings.Contains(last, "Pull request: "+rec.PullRequest) {
				t.Errorf("task %s records pull request %q, but the issue's last comment does not name it:\n%s", rec.Status, rec.PullRequest, last)
			}
		})
	}
}
