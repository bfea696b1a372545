package service

import (
	"context"
	"testing"

	"github.com/sandstep/sandstep/internal/cost"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// A CreateSandbox attempt that fails after claiming the making of the
// task's sandbox lets the claim go in a write that carries what the
// attempt used (README, "Task cost": only what an invocation uses after
// its last write of the task goes uncounted). The state machine asks a
// failed create again up to 20 times (Sandbox.Transient).
func TestFailedCreateAttemptsCarryTheirUsage(t *testing.T) {
	tests := []struct {
		name string
		err  error // what Daytona's create answers the failed attempt
	}{
		{name: "daytona transient", err: sandstep.Errorf(sandstep.ETRANSIENT, "daytona answered 503")},
		{name: "daytona internal", err: sandstep.Errorf(sandstep.EINTERNAL, "daytona answered 500")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newUsageHarness(t, nil)
			tk, err := h.svc.StartTask(context.Background(), alice(), TaskInput{Command: "make", TimeoutSeconds: intp(600)})
			if err != nil {
				t.Fatal(err)
			}
			step := TaskStep{TaskID: tk.ID, UserID: "alice"}
			before, err := h.store.GetTask(context.Background(), tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			h.provider.fail = map[string]error{"create": tt.err}
			m := cost.NewMeter(h.clock.Now, 1024, 1)
			if _, err := h.svc.CreateTaskSandbox(cost.WithMeter(context.Background(), m), step); err == nil {
				t.Fatal("the attempt made the sandbox; the test did not test")
			}
			after, err := h.store.GetTask(context.Background(), tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			invocations := func(u *sandstep.TaskUsage) int {
				if u == nil {
					return 0
				}
				return u.LambdaInvocations
			}
			if got, want := invocations(after.Usage), invocations(before.Usage)+1; got != want {
				p := m.Pending()
				t.Errorf("after a failed attempt that claimed the create and let it go: %d invocations on the record, want %d; the attempt's meter still holds %d invocation(s), %d reads, %d writes, lost with it",
					got, want, p.LambdaInvocations, p.DynamoDBReadRequests, p.DynamoDBWriteRequests)
			}
		})
	}
}
