package service

import (
	"context"
	"testing"
	"time"
)

// README, "Task cost": sandboxSeconds run from Daytona's create of the
// sandbox to its delete, and a sandbox an earlier attempt of the create
// made is counted too. An attempt killed after Daytona's create (its
// Lambda's timeout) leaves that sandbox to the reaper, which deletes it
// once the task names another (or ended): Daytona billed it from its
// create to the reaper's delete, and the task must show that life too.
func TestReapedEarlierSandboxCounts(t *testing.T) {
	tests := []struct {
		name string
		// lived is how long the killed attempt's sandbox lived before the
		// retry made the task's own.
		lived time.Duration
	}{
		{name: "a retry a minute after the killed attempt", lived: time.Minute},
		{name: "a retry ten minutes after", lived: 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newNoticeHarness(t, nil, nil)
			ctx := context.Background()
			tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "make"})
			if err != nil {
				t.Fatal(err)
			}
			// The first attempt: Daytona makes the sandbox, then the
			// invocation is killed before it records it on the task.
			never, ttl := 0, 60
			in := CreateSandboxInput{AutoStopMinutes: &never, TTLMinutes: &ttl}
			plan, err := h.svc.validateCreate(&in)
			if err != nil {
				t.Fatal(err)
			}
			plan.task = tk.ID
			madeA := h.clock.Now()
			a, err := h.svc.create(ctx, Call{UserID: "alice", RequestID: tk.ID}, in, plan)
			if err != nil {
				t.Fatal(err)
			}
			h.advance(tt.lived)
			// The state machine asks again: the task's own sandbox.
			madeB := h.clock.Now()
			step, err := h.svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			if step.SandboxID == a.ID {
				t.Fatalf("the retry took the killed attempt's sandbox %s", a.ID)
			}
			if _, err := h.svc.StartTaskCommand(ctx, *step); err != nil {
				t.Fatal(err)
			}
			h.advance(time.Minute)
			h.collected(t, tk.ID)
			cleaned := h.clock.Now()
			if _, err := h.svc.CleanUpTask(ctx, tk.ID, nil); err != nil {
				t.Fatal(err)
			}
			h.svc.machine = endedMachine{}
			h.advance(abandonedAfter + time.Minute)
			reaped := h.clock.Now()
			h.reap(t)
			if live := h.provider.live(); len(live) != 0 {
				t.Fatalf("the reaper left %v", live)
			}
			h.advance(time.Hour)
			shown, err := h.svc.GetTask(ctx, alice(), tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := cleaned.Sub(madeB).Seconds() + reaped.Sub(madeA).Seconds()
			if shown.Usage == nil || shown.Usage.SandboxSeconds != want {
				t.Errorf("sandboxSeconds %v (cost %s); want %v: the task's sandbox's %v s and the killed attempt's %v s to the reaper's delete",
					shown.Usage.SandboxSeconds, shown.Cost.Sandbox, want, cleaned.Sub(madeB).Seconds(), reaped.Sub(madeA).Seconds())
			}
		})
	}
}
