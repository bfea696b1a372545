package service

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// refusingComments is GitHub refusing the next refuse comment writes (its
// secondary rate limit), and keeping every body it accepted.
type refusingComments struct {
	mu     sync.Mutex
	refuse int
	kept   []string
}

func (c *refusingComments) UpsertComment(_ context.Context, _ int64, _ string, _ int, _ int64, body string) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refuse > 0 {
		c.refuse--
		return 0, sandstep.Errorf(sandstep.ETRANSIENT, "update the comment: GitHub's secondary rate limit; try again later")
	}
	c.kept = append(c.kept, body)
	return 1, nil
}

func (c *refusingComments) last() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.kept) == 0 {
		return ""
	}
	return c.kept[len(c.kept)-1]
}

// README (Drain and resume): while drained an issue's task waits and "its
// comment says it is paused". The record keeps that the task was told it
// is paused in the attempt's write, before the comment is written; when
// GitHub refuses that one write (a drain edits every waiting task's
// comment within a minute, which is what GitHub's secondary rate limit
// refuses), no later attempt tells it again, and the issue says "queued
// ... starts when one of them ends" for the whole drain.
func TestRefusedWaitingCommentIsWrittenAgain(t *testing.T) {
	tests := []struct {
		name    string
		refused int // comment writes GitHub refuses after the drain
		retries int // attempts while drained
	}{
		{name: "one write refused, five attempts", refused: 1, retries: 5},
		{name: "two writes refused, twenty attempts", refused: 2, retries: 20},
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
			step := acceptIssueTask(t, h, "octo/hello", "2")
			h.clock.Set(h.clock.Now().Add(time.Minute))
			if _, err := h.svc.CreateTaskSandbox(ctx, step); sandstep.ErrorCode(err) != sandstep.EQUEUED {
				t.Fatalf("over quota: %v, want queued", err)
			}
			if got := comments.last(); !strings.Contains(got, "queued task") {
				t.Fatalf("over quota the comment says\n%s\nwant queued", got)
			}
			d.set(true)
			comments.mu.Lock()
			comments.refuse = tt.refused
			comments.mu.Unlock()
			for range tt.retries {
				h.clock.Set(h.clock.Now().Add(time.Minute))
				if _, err := h.svc.CreateTaskSandbox(ctx, step); sandstep.ErrorCode(err) != sandstep.EQUEUED {
					t.Fatalf("drained: %v, want queued", err)
				}
			}
			if got := comments.last(); !strings.Contains(got, "paused task") {
				t.Errorf("drained for %d attempts (GitHub refused %d writes), the issue's comment says\n%s\nwant it to say paused",
					tt.retries, tt.refused, got)
			}
		})
	}
}
