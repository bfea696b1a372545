package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// README (Quota and queue): "The first time it waits the issue's comment
// says it is queued, and until when". The issue's comment says "started"
// from the delivery that accepted the task (handleIssue writes it). When
// GitHub refuses the first waiting comment (its secondary rate limit, a
// 502), the record must not say the issue was told: a later attempt
// tells it, or the issue says "started task ... Follow it" while nothing
// runs, for the whole queue (GITHUB_QUEUE_TIMEOUT, 30 minutes by default).
func TestFirstWaitingCommentRefusedIsWrittenAgain(t *testing.T) {
	tests := []struct {
		name string
		// drained: the deployment is drained at the first refused attempt
		// and resumed right after it (the task still over its quota).
		drained bool
	}{
		{name: "queued, its first comment refused"},
		{name: "paused, its first comment refused, then queued", drained: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h, _, d := drainHarness(t)
			comments := &refusingComments{}
			h.svc.comments = comments
			// The repository's one slot is taken by its first task.
			if _, err := h.svc.CreateTaskSandbox(ctx, acceptIssueTask(t, h, "octo/hello", "1")); err != nil {
				t.Fatal(err)
			}
			// Accepted as the webhook accepts it: the issue says started.
			in := TaskInput{Command: "./agent.sh", Metadata: sandstep.Metadata{Repo: "octo/hello", IssueID: "2", InstallationID: "7"}}
			tk, err := h.svc.startTask(ctx, Call{UserID: sandstep.RepoUser("octo/hello"), RequestID: "d-2"}, in, func(ctx context.Context, t *sandstep.Task) {
				h.svc.commentOnIssue(ctx, t, h.svc.startedComment(t), false)
			})
			if err != nil {
				t.Fatal(err)
			}
			step := TaskStep{TaskID: tk.ID, UserID: tk.Owner}
			if got := comments.last(); !strings.Contains(got, "started task") {
				t.Fatalf("accepted, the issue says\n%s\nwant started", got)
			}
			// Its first attempt waits; GitHub refuses that one comment.
			d.set(tt.drained)
			comments.mu.Lock()
			comments.refuse = 1
			comments.mu.Unlock()
			h.clock.Set(h.clock.Now().Add(time.Minute))
			if _, err := h.svc.CreateTaskSandbox(ctx, step); sandstep.ErrorCode(err) != sandstep.EQUEUED {
				t.Fatalf("first attempt: %v, want queued", err)
			}
			d.set(false)
			// Twenty more minutes of attempts, every minute, still over
			// the repository's quota.
			for range 20 {
				h.clock.Set(h.clock.Now().Add(time.Minute))
				if _, err := h.svc.CreateTaskSandbox(ctx, step); sandstep.ErrorCode(err) != sandstep.EQUEUED {
					t.Fatalf("over quota: %v, want queued", err)
				}
			}
			if got := comments.last(); !strings.Contains(got, "queued task") {
				t.Errorf("after 21 minutes of waiting (GitHub refused only the first waiting comment), the issue says\n%s\nwant it to say queued", got)
			}
		})
	}
}
