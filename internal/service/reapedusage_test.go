package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// README, "Task cost": sandboxSeconds run to the sandbox's delete, "until
// now while it lives". The reaper is the clean-up's backstop: it deletes
// the sandbox of an ended task whose clean-up never came, and finishes a
// delete the clean-up could not (Daytona failing). The sandbox is then
// gone, and the task's time and cost must stop there, not grow for as
// long as anyone reads the task.
func TestReapedSandboxEndsTheTasksTime(t *testing.T) {
	tests := []struct {
		name string
		// cleanUp runs after the task's end, before the reaper's run.
		cleanUp func(t *testing.T, h *noticeHarness, id string)
	}{
		{name: "its clean-up never came", cleanUp: func(*testing.T, *noticeHarness, string) {}},
		{name: "its clean-up's delete failed", cleanUp: func(t *testing.T, h *noticeHarness, id string) {
			h.provider.failOn("delete", sandstep.Errorf(sandstep.ETRANSIENT, "Daytona is busy"))
			if _, err := h.svc.CleanUpTask(context.Background(), id, nil); err == nil {
				t.Fatal("the clean-up deleted the sandbox Daytona refused to delete")
			}
			h.provider.failOn("delete", nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newNoticeHarness(t, nil, nil)
			made := h.clock.Now()
			tk := h.start(t, nil)
			h.advance(time.Minute)
			h.collected(t, tk.ID)
			h.advance(time.Minute)
			tt.cleanUp(t, h, tk.ID)
			h.svc.machine = endedMachine{} // the execution has ended
			h.advance(abandonedAfter + time.Minute)
			reaped := h.clock.Now()
			h.reap(t)
			if live := h.provider.live(); len(live) != 0 {
				t.Fatalf("the reaper left the task's sandbox %v", live)
			}
			h.advance(time.Hour)
			shown, err := h.svc.GetTask(context.Background(), alice(), tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if want := reaped.Sub(made).Seconds(); shown.Usage.SandboxSeconds != want {
				t.Errorf("an hour after the reaper deleted the sandbox, sandboxSeconds %v (cost %s); want %v, its life", shown.Usage.SandboxSeconds, shown.Cost.Sandbox, want)
			}
		})
	}
}
