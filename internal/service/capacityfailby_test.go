package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// README (Quota and queue): the issue's comment says what the task waits
// for "and until when"; after its quota, "a queued task may then still
// wait CAPACITY_WAIT for Daytona's capacity". A task handed a slot of its
// repository's quota just before GITHUB_QUEUE_TIMEOUT whose create met no
// Daytona capacity is told it waits for Daytona until
// GITHUB_QUEUE_TIMEOUT + CAPACITY_WAIT; its slot goes back with the
// refused create, and when its next attempt, within that time, finds the
// slot taken (another task got Daytona's room), it fails for its quota's
// GITHUB_QUEUE_TIMEOUT. The comment says so: both times are in it.
func TestTaskToldItWaitsForDaytonaIsToldTheQuotasTimeToo(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration // since acceptance, the attempt that finds the slot taken
	}{
		{name: "a minute past the queue's time", after: 31 * time.Minute},
		{name: "ten minutes past the queue's time", after: 40 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h, comments, _ := drainHarness(t)
			step := acceptIssueTask(t, h, "octo/hello", "1")
			tk, err := h.store.GetTask(ctx, step.TaskID)
			if err != nil {
				t.Fatal(err)
			}
			accepted := tk.CreatedAt
			// Another task of the repository holds its one slot: queued.
			other := &sandstep.Sandbox{ID: "sb-other", Owner: step.UserID}
			if err := h.store.ReserveSlot(ctx, other); err != nil {
				t.Fatal(err)
			}
			h.clock.Set(accepted.Add(time.Minute))
			if _, err := h.svc.CreateTaskSandbox(ctx, step); sandstep.ErrorCode(err) != sandstep.EQUEUED {
				t.Fatalf("over quota: %v, want queued", err)
			}
			// That task ends at 28 minutes; Daytona has no room.
			if _, err := h.store.ReleaseSlot(ctx, step.UserID, other.ID); err != nil {
				t.Fatal(err)
			}
			h.provider.failOn("create", sandstep.Errorf(sandstep.ECAPACITY, "no capacity"))
			h.clock.Set(accepted.Add(28 * time.Minute))
			if _, err := h.svc.CreateTaskSandbox(ctx, step); sandstep.ErrorCode(err) != sandstep.ECAPACITY {
				t.Fatalf("no capacity: %v, want capacity", err)
			}
			by := accepted.Add(h.svc.opts.QueueTimeout + h.svc.opts.CapacityWait)
			quota := accepted.Add(h.svc.opts.QueueTimeout)
			told := comments.lastAbout(step.TaskID)
			if !strings.Contains(told, "Daytona has room") || !strings.Contains(told, by.UTC().Format(time.RFC3339)) ||
				!strings.Contains(told, "quota again after "+quota.UTC().Format(time.RFC3339)) {
				t.Fatalf("the issue says\n%s\nwant it waiting for Daytona until %s, or its quota past %s", told, by, quota)
			}
			// Another task of the repository got Daytona's room and holds
			// the slot when this one tries again, before the time told.
			if err := h.store.ReserveSlot(ctx, &sandstep.Sandbox{ID: "sb-third", Owner: step.UserID}); err != nil {
				t.Fatal(err)
			}
			h.clock.Set(accepted.Add(tt.after))
			if _, err = h.svc.CreateTaskSandbox(ctx, step); sandstep.ErrorCode(err) != sandstep.ETIMEOUT {
				t.Errorf("at %s, the slot taken past the quota's time its comment named: %v, want it failed", tt.after, err)
			}
		})
	}
}
