package service

import (
	"context"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// An issue's task that opened no pull request says why, in its record and
// in the issue's ended comment: a reader of the issue must tell "done,
// nothing to change" from "done, the pull request is elsewhere", and a
// maintainer whose App may not open the pull request must learn the
// branch was pushed, to open it by hand. GitHub's 403 on the pull request
// (the App lacks pull_requests: write) is a refusal as its 422 is, not a
// sandbox not found (EUNAUTHENTICATED's Step Functions name).
func TestEndedCommentSaysWhyNoPullRequest(t *testing.T) {
	tests := []struct {
		name   string
		commit bool
		// pull is GitHub's answer to the pull request, as githubapp
		// classifies it; branch stands for the task's branch.
		pull       func(branch string) error
		wantStatus sandstep.TaskStatus
		// wantError leads the task's error ("" for none); wantSays is in it
		// and in the issue's ended comment.
		wantError string
		wantSays  []string
	}{
		{
			name:       "nothing committed",
			wantStatus: sandstep.TaskSucceeded,
			wantSays:   []string{"No pull request", "committed nothing"},
		},
		{
			name:   "GitHub forbids the pull request (403)",
			commit: true,
			pull: func(branch string) error {
				return sandstep.Errorf(sandstep.EUNAUTHENTICATED, "opening a pull request on octo/hello from %s into main: GitHub forbids it: Resource not accessible by integration", branch)
			},
			wantStatus: sandstep.TaskFailed,
			wantError:  "no pull request: ",
			wantSays:   []string{"BRANCH was pushed", "GitHub forbids it"},
		},
		{
			name:   "GitHub refuses the pull request (422)",
			commit: true,
			pull: func(branch string) error {
				return sandstep.Errorf(sandstep.EINVALID, "opening a pull request on octo/hello from %s into main: GitHub refused it: Validation Failed", branch)
			},
			wantStatus: sandstep.TaskFailed,
			wantError:  "no pull request: ",
			wantSays:   []string{"BRANCH was pushed", "GitHub refused it"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			comments := &fakeComments{bodies: map[int64]string{}}
			h.svc.comments = comments
			branch := PushBranch(h.task.ID)
			if tt.pull != nil {
				h.access.limit = func(op string) error {
					if op == "pull" {
						return tt.pull(branch)
					}
					return nil
				}
			}
			if tt.commit {
				git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
			}
			ctx := context.Background()
			h.svc.commentOnIssue(ctx, h.record(t), "started", false)
			if err := h.svc.recordExit(ctx, h.task, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := h.svc.CollectTask(ctx, TaskStep{TaskID: h.task.ID, UserID: h.task.Owner, SandboxID: h.task.SandboxID}); err != nil {
				t.Fatalf("collect = %s %q: the step fails as if the sandbox were not found (its Step Functions name), and the task's error will lead with that name; want the collect to end the task, saying no pull request was opened",
					sandstep.ErrorCode(err), sandstep.Clip(err.Error(), 200))
			}
			_, _ = h.svc.CleanUpTaskStep(ctx, h.task.ID, nil)
			got := h.record(t)
			if got.Status != tt.wantStatus || !strings.HasPrefix(got.Error, tt.wantError) || tt.wantError == "" && got.Error != "" {
				t.Errorf("task %s, error %q; want %s, error leading with %q", got.Status, got.Error, tt.wantStatus, tt.wantError)
			}
			comment := comments.bodies[got.IssueComment]
			for _, s := range tt.wantSays {
				s = strings.ReplaceAll(s, "BRANCH", branch)
				if tt.wantError != "" && !strings.Contains(got.Error, s) {
					t.Errorf("the task's error %q does not say %q", got.Error, s)
				}
				if !strings.Contains(comment, s) {
					t.Errorf("the issue's ended comment does not say %q:\n%s", s, comment)
				}
			}
		})
	}
}
