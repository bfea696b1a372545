package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// lastAbout is the last comment body written about task id.
func (c *countingComments) lastAbout(id string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.bodies) - 1; i >= 0; i-- {
		if strings.Contains(c.bodies[i], id) {
			return c.bodies[i]
		}
	}
	return ""
}

// README (Drain and resume): while drained an issue's task waits in the
// queue and "its comment says it is paused". A task that first waited for
// its repository's quota keeps a comment saying it starts "when one of
// them ends" after sandstep is drained, when it will not; and one first
// paused by the drain keeps saying "sandstep is drained for maintenance"
// once sandstep has resumed and it waits for the quota instead.
func TestWaitingCommentFollowsWhy(t *testing.T) {
	tests := []struct {
		name          string
		first, second bool   // drained at the first and the second attempt
		want          string // what the issue's comment says after the second
	}{
		{name: "queued for the quota, then drained", first: false, second: true, want: "paused task"},
		{name: "paused by the drain, then resumed over the quota", first: true, second: false, want: "queued task"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h, comments, d := drainHarness(t)
			// The repository's one slot is taken by its first task.
			if _, err := h.svc.CreateTaskSandbox(ctx, acceptIssueTask(t, h, "octo/hello", "1")); err != nil {
				t.Fatal(err)
			}
			step := acceptIssueTask(t, h, "octo/hello", "2")
			for _, drained := range []bool{tt.first, tt.second} {
				d.set(drained)
				h.clock.Set(h.clock.Now().Add(time.Minute))
				if _, err := h.svc.CreateTaskSandbox(ctx, step); sandstep.ErrorCode(err) != sandstep.EQUEUED {
					t.Fatalf("drained %v: %v, want queued", drained, err)
				}
			}
			if got := comments.lastAbout(step.TaskID); !strings.Contains(got, tt.want+" `"+step.TaskID+"`") {
				t.Errorf("the issue's comment says\n%s\nwant it to say %q", got, tt.want)
			}
		})
	}
}
