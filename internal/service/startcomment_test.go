package service

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// slowComments is GitHub answering a comment's first write at once and
// each later one in latency (an issue comment's PATCH is hundreds of
// milliseconds, often more than a second), or when its caller's time ends.
type slowComments struct {
	fakeComments
	latency time.Duration
	mu      sync.Mutex
	calls   int
}

func (c *slowComments) UpsertComment(ctx context.Context, inst int64, repo string, issue int, id int64, body string) (int64, error) {
	c.mu.Lock()
	c.calls++
	first := c.calls == 1
	c.mu.Unlock()
	if !first {
		select {
		case <-time.After(c.latency):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fakeComments.UpsertComment(ctx, inst, repo, issue, id, body)
}

// An issue whose task's start is never answered is told that its task did
// not start: the start's reserve holds its second try, the task's failure
// and the issue's comment, a GitHub write that may take over a second.
func TestAnIssueWhoseStartIsNotAnsweredIsToldItFailed(t *testing.T) {
	comments := &slowComments{fakeComments: fakeComments{bodies: map[int64]string{}}, latency: 1200 * time.Millisecond}
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5})
	svc, err := New(Deps{Provider: newFakeProvider(), Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
		Tasks: st, Objects: newFakeObjects(), Machine: &slowMachine{running: map[string]bool{}}, Sessions: fakeSessions{}},
		Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment)})
	if err != nil {
		t.Fatal(err)
	}
	svc.repos = fakeRepos{"octo/hello": {Command: "./agent.sh", TimeoutSeconds: intp(600)}}
	svc.collaborators = fakeCollaborators{"maintainer": true}
	svc.comments = comments
	ctx, cancel := context.WithTimeout(context.Background(), startReserve+700*time.Millisecond)
	defer cancel()
	_, err = svc.HandleIssue(ctx, IssueEvent{Delivery: "d1", Repo: "octo/hello", InstallationID: 7, Issue: 3, Sender: "maintainer"})
	if err == nil {
		t.Fatal("HandleIssue started a task without an execution")
	}
	t.Logf("HandleIssue: %v", err)
	comments.mu.Lock()
	defer comments.mu.Unlock()
	if len(comments.bodies) == 0 {
		t.Fatal("the issue was never commented on")
	}
	for id, body := range comments.bodies {
		if !strings.Contains(body, "failed") {
			t.Errorf("the issue's comment %d, after its task failed to start: %q; want it to say the task failed", id, body)
		}
	}
}
