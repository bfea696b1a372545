package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// hangingComments is GitHub accepting a comment's request and not
// answering it before its caller gives up (an API having a slow minute).
type hangingComments struct{}

func (hangingComments) UpsertComment(ctx context.Context, _ int64, _ string, _ int, _ int64, _ string) (int64, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

// ctxMachine is Step Functions answering a start at once, as the AWS
// client does, unless the call's context has already ended.
type ctxMachine struct{ fakeMachine }

func (ctxMachine) Start(ctx context.Context, name string, _ []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return "arn:exec:" + name, nil
}

// README: "A GitHub that cannot be told fails nothing." The started
// comment, written before the execution starts, is bounded to leave the
// start its time; bounded only by the delivery's whole time
// (CleanupTimeout, 8 s, of GitHub's 10), a GitHub slow to answer it would
// leave the start none, and the issue's task would fail "could not be
// started" while Step Functions was there all along.
func TestASlowStartedCommentLeavesTheStartItsTime(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5})
	svc, err := New(Deps{Provider: newFakeProvider(), Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
		Tasks: st, Objects: newFakeObjects(), Machine: ctxMachine{}, Sessions: fakeSessions{}},
		Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment)})
	if err != nil {
		t.Fatal(err)
	}
	svc.repos = fakeRepos{"octo/hello": {Command: "./agent.sh", TimeoutSeconds: intp(600)}}
	svc.collaborators = fakeCollaborators{"maintainer": true}
	svc.comments = hangingComments{}
	// The delivery's time: the start's reserve and a second or so more.
	ctx, cancel := context.WithTimeout(context.Background(), startReserve+1500*time.Millisecond)
	defer cancel()
	out, err := svc.HandleIssue(ctx, helloIssue("d1", "maintainer"))
	if err != nil || out.Action != "started" {
		t.Fatalf("HandleIssue = %+v, %v; want the task started, the issue not told", out, err)
	}
	tk, err := st.GetTask(context.Background(), out.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Status != sandstep.TaskQueued {
		t.Errorf("task %s: %s; want queued, its execution started", tk.Status, tk.Error)
	}
}
