package service

import (
	"context"
	"strings"
	"testing"
)

// A cancel (the label removed, `/sandstep cancel`) that lands while
// sandstep pushes and opens the pull request: either no pull request is
// opened, or the one opened is the task's pullRequest and the issue's
// comment names it. A pull request GitHub has that neither the task nor
// the issue mentions is one nobody is told about.
func TestIssueTaskCancelledWhileItsPullRequestOpens(t *testing.T) {
	tests := []struct {
		name string
		at   string // the call of GitHub's during which the cancel lands
	}{
		{name: "cancelled as the push token is minted", at: "push"},
		{name: "cancelled as the pull request is opened", at: "pull"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			comments := &fakeComments{bodies: map[int64]string{}}
			h.svc.comments = comments
			git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
			ctx := context.Background()
			if err := h.svc.recordExit(ctx, h.task, 0); err != nil {
				t.Fatal(err)
			}
			cancelled := false
			h.access.limit = func(op string) error {
				if op == tt.at && !cancelled {
					cancelled = true
					if _, err := h.svc.CancelTask(ctx, Call{UserID: h.task.Owner, RequestID: "cancel"}, h.task.ID); err != nil {
						t.Errorf("CancelTask: %v", err)
					}
				}
				return nil
			}
			_, cerr := h.svc.CollectTask(ctx, TaskStep{TaskID: h.task.ID, UserID: h.task.Owner, SandboxID: h.task.SandboxID})
			// The cancel's release wrote the ended comment already: the
			// collect that opened the pull request names it there.
			if rec := h.record(t); len(h.access.pulls) > 0 && !strings.Contains(comments.bodies[int64(len(comments.bodies))], "Pull request: "+rec.PullRequest) {
				t.Errorf("after the collect, the issue's comment does not name the pull request %q: %q", rec.PullRequest, comments.bodies[int64(len(comments.bodies))])
			}
			// The execution was stopped: what ends it is the clean-up.
			ended, _ := h.svc.CleanUpTask(ctx, h.task.ID, nil)
			if ended == nil {
				ended = h.record(t)
			}
			opened := len(h.access.pulls) > 0
			var last string
			for id := int64(1); id <= int64(len(comments.bodies)); id++ {
				last = comments.bodies[id]
			}
			t.Logf("collect: %v; task %s (%s), pullRequest %q; pull requests opened %q", cerr, ended.Status, ended.Error, ended.PullRequest, h.access.pulls)
			if opened && ended.PullRequest == "" {
				t.Errorf("a pull request was opened (%q) but the task %s records none, and the issue's last comment says: %q", h.access.pulls, ended.Status, last)
			}
			if opened && !strings.Contains(last, "Pull request: "+ended.PullRequest) {
				t.Errorf("the issue's last comment does not name the pull request %q: %q", ended.PullRequest, last)
			}
		})
	}
}
