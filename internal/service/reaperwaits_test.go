package service

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A task's end is written by the Check that finds it; Collect follows and
// reads the output and artifacts from the sandbox, for up to 900 s an
// attempt (ExecuteFunction's timeout) and 6 retries; CleanUp comes after.
// While the execution is still at Collect, the reaper deletes neither the
// task's sandbox nor makes the notice's first attempt (README: the first
// attempt is the clean-up's, after the release).
func TestReaperLeavesAnEndedTaskWhoseCollectIsStillAtWork(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration // the reaper's run, after the end
	}{
		{"Collect's first attempt failed after 14 minutes; its retry runs", 16 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newHook(t, http.StatusOK)
			h := newNoticeHarness(t, localSender(), nil) // fakeMachine: the execution is running
			tk := h.start(t, &NotifyInput{URL: rc.URL})
			h.advance(10 * time.Minute)
			end := h.collected(t, tk.ID)
			h.clock.Set(end.Add(tt.after))
			h.reap(t)
			if sb, err := h.store.GetSandbox(context.Background(), tk.SandboxID); err != nil || sb.State == sandstep.StateDeleted {
				t.Errorf("the reaper left sandbox %v (%v) of a task whose execution is still at Collect; want it ready", sb.State, err)
			}
			if n := len(rc.requests()); n != 0 {
				t.Errorf("the receiver was told %d times while the task's execution was still at Collect, its sandbox held; want none before the clean-up", n)
			}
		})
	}
}
