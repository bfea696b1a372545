package service

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The first attempt of a notice is the clean-up's, once the task's sandbox
// and slot are released, with the task's final usage. A reaper run between
// the task's end (Collect) and its clean-up tells the receiver nothing; one
// long after an end whose clean-up never came makes the attempt, once the
// sandbox is deleted.
func TestTheFirstNoticeFollowsTheRelease(t *testing.T) {
	tests := []struct {
		name    string
		cleanUp bool          // the clean-up comes, 5 minutes after the end
		reapAt  time.Duration // a second reaper run, after the end
	}{
		{name: "the clean-up comes after a reaper run", cleanUp: true, reapAt: 6 * time.Minute},
		{name: "no clean-up comes", reapAt: abandonedAfter + time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newHook(t, http.StatusOK)
			h := newNoticeHarness(t, localSender(), nil)
			tk := h.start(t, &NotifyInput{URL: rc.URL})
			var held []bool
			rc.during = func() {
				q, _ := h.store.GetQuota(context.Background(), "alice")
				held = append(held, q.Active != 0 || len(h.provider.live()) != 0)
			}
			end := h.collected(t, tk.ID)
			h.reap(t)
			if len(held) != 0 {
				t.Fatalf("a reaper run right after the end told the receiver (%d requests)", len(held))
			}
			h.svc.machine = endedMachine{} // the execution has ended
			if tt.cleanUp {
				h.advance(5 * time.Minute)
				if _, err := h.svc.CleanUpTask(context.Background(), tk.ID, nil); err != nil {
					t.Fatal(err)
				}
			}
			h.clock.Set(end.Add(tt.reapAt))
			h.reap(t)
			if len(held) != 1 || held[0] {
				t.Fatalf("the receiver was told %d times, the task holding its sandbox or slot: %v; want once, released", len(held), held)
			}
			var told struct {
				Usage sandstep.TaskUsage `json:"usage"`
			}
			_ = json.Unmarshal(rc.requests()[0].body, &told)
			final, err := h.svc.GetTask(context.Background(), alice(), tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if tt.cleanUp && told.Usage.SandboxSeconds != final.Usage.SandboxSeconds {
				t.Errorf("the notice says sandboxSeconds %v; the task's final usage is %v", told.Usage.SandboxSeconds, final.Usage.SandboxSeconds)
			}
		})
	}
}
