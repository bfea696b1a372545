package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// README (Drain and resume): while drained an issue's task waits and "its
// comment says it is paused"; it "starts once sandstep resumes". A task
// paused by the drain whose next attempt, after the resume, meets Daytona
// out of capacity (CAPACITY_WAIT, 15m by default) keeps a comment saying
// "sandstep is drained for maintenance" and that it starts "when sandstep
// resumes", though sandstep has resumed. It says it waits for Daytona,
// and fails by CAPACITY_WAIT after the queue's time.
func TestPausedCommentAfterResumeIntoCapacityWait(t *testing.T) {
	tests := []struct {
		name    string
		retries int // attempts after the resume that meet no capacity
	}{
		{name: "one attempt after the resume", retries: 1},
		{name: "ten minutes of attempts after the resume", retries: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h, comments, d := drainHarness(t)
			step := acceptIssueTask(t, h, "octo/hello", "1")
			d.set(true)
			h.clock.Set(h.clock.Now().Add(time.Minute))
			if _, err := h.svc.CreateTaskSandbox(ctx, step); sandstep.ErrorCode(err) != sandstep.EQUEUED {
				t.Fatalf("drained: %v, want queued", err)
			}
			if got := comments.lastAbout(step.TaskID); !strings.Contains(got, "paused task") {
				t.Fatalf("while drained the comment says\n%s\nwant paused", got)
			}
			d.set(false)
			h.provider.failOn("create", sandstep.Errorf(sandstep.ECAPACITY, "no capacity"))
			for range tt.retries {
				h.clock.Set(h.clock.Now().Add(time.Minute))
				if _, err := h.svc.CreateTaskSandbox(ctx, step); sandstep.ErrorCode(err) != sandstep.ECAPACITY {
					t.Fatalf("resumed, no capacity: %v, want capacity", err)
				}
			}
			tk, err := h.store.GetTask(ctx, step.TaskID)
			if err != nil {
				t.Fatal(err)
			}
			by := tk.CreatedAt.Add(h.svc.opts.QueueTimeout + h.svc.opts.CapacityWait).UTC().Format(time.RFC3339)
			if got := comments.lastAbout(step.TaskID); strings.Contains(got, "drained for maintenance") ||
				!strings.Contains(got, "Daytona has room") || !strings.Contains(got, by) {
				t.Errorf("resumed %d minutes ago, the issue's comment says\n%s\nwant it waiting for Daytona until %s", tt.retries, got, by)
			}
		})
	}
}
