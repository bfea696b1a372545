package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/cost"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// invokeMayFail is usageHarness.invoke for a step whose invocation fails
// (the state machine then retries it or catches the error).
func (h *usageHarness) invokeMayFail(states int, step func(ctx context.Context) error) error {
	m := cost.NewMeter(h.clock.Now, 1024, states)
	h.meters = append(h.meters, m)
	return step(cost.WithMeter(context.Background(), m))
}

// A task whose CreateSandbox finds Daytona without capacity is retried by
// the state machine (Sandbox.Capacity: up to 1000 attempts, 30 s growing
// to 5 min apart) until a create succeeds. Each attempt is an invocation
// and a state the execution's history shows and AWS bills (README, "Task
// cost": "A state retried after its Lambda ran is counted again, as AWS
// counts it"), with its reads of the task, its spec and the quota: each
// refused attempt writes the task to carry them, or the task would show
// only the one create that succeeded.
func TestRefusedCreateAttemptsAreCounted(t *testing.T) {
	h := newUsageHarness(t, nil)
	p := h.provider
	ctx := context.Background()
	tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "make", TimeoutSeconds: intp(600)})
	if err != nil {
		t.Fatal(err)
	}
	step := TaskStep{TaskID: tk.ID, UserID: "alice"}
	create := func(ctx context.Context) error { _, err := h.svc.CreateTaskSandbox(ctx, step); return err }
	const refused = 3
	p.mu.Lock()
	p.fail = map[string]error{"create": sandstep.Errorf(sandstep.ECAPACITY, "no runner available")}
	p.mu.Unlock()
	for i := range refused {
		if err := h.invokeMayFail(1, create); sandstep.ErrorCode(err) != sandstep.ECAPACITY {
			t.Fatalf("attempt %d: err %v, want Daytona's capacity, which the state machine retries", i+1, err)
		}
		h.clock.Set(h.clock.Now().Add(30 * time.Second))
	}
	p.mu.Lock()
	p.fail = nil
	p.mu.Unlock()
	if err := h.invokeMayFail(1, create); err != nil {
		t.Fatal(err)
	}
	shown, err := h.svc.GetTask(ctx, alice(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	u := shown.Usage
	if u == nil {
		t.Fatal("no usage shown")
	}
	// Prepare, then four CreateSandbox attempts.
	want := 1 + refused + 1
	if u.StateTransitions != want || u.LambdaInvocations != want {
		t.Errorf("stateTransitions %d, lambdaInvocations %d; want %d of each: Prepare and %d CreateSandbox attempts",
			u.StateTransitions, u.LambdaInvocations, want, refused+1)
	}
	var lost sandstep.TaskUsage
	for _, m := range h.meters[:refused] {
		p := m.Pending()
		lost.DynamoDBReadRequests += p.DynamoDBReadRequests
		lost.DynamoDBWriteRequests += p.DynamoDBWriteRequests
		lost.S3GetRequests += p.S3GetRequests
	}
	if lost.DynamoDBReadRequests+lost.DynamoDBWriteRequests+lost.S3GetRequests != 0 {
		t.Errorf("the refused attempts' %d DynamoDB reads, %d writes and %d S3 GETs are on no record",
			lost.DynamoDBReadRequests, lost.DynamoDBWriteRequests, lost.S3GetRequests)
	}
}
