package service

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// rateOnceQuota refuses the first reservation for the create rate, asking
// for a short wait, and runs meanwhile while the create waits.
type rateOnceQuota struct {
	Quota
	once      sync.Once
	meanwhile func()
}

func (q *rateOnceQuota) ReserveSlot(ctx context.Context, sb *sandstep.Sandbox) error {
	refused := false
	q.once.Do(func() { refused = true })
	if !refused {
		return q.Quota.ReserveSlot(ctx, sb)
	}
	q.meanwhile()
	e := sandstep.Wrap(sandstep.ErrCreateRate, sandstep.ETRANSIENT,
		"the deployment has created its sandboxes for this minute (DAYTONA_CREATE_RATE); try again in 10ms")
	e.RetryAfter = 10 * time.Millisecond
	return e
}

// A task's CreateSandbox attempt the create rate refuses waits inside its
// invocation for the next window, up to about 260 s; stopping the
// execution does not end that invocation. A task cancelled meanwhile must
// not then take a create of the deployment's rate from a live task and
// have Daytona make (and bill) a sandbox that is deleted at once.
func TestCancelledWhileWaitingForTheRateMakesNoSandbox(t *testing.T) {
	ctx := context.Background()
	h, _ := admissionHarness(t)
	step := startTask(t, h, "alice", "1")
	q := &rateOnceQuota{Quota: h.svc.quota}
	q.meanwhile = func() {
		if _, err := h.svc.CancelTask(ctx, Call{UserID: "alice", RequestID: "cancel"}, step.TaskID); err != nil {
			t.Errorf("cancel: %v", err)
		}
	}
	h.svc.quota = q
	// Time to wait for the next window, as a fresh invocation has.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	_, err := h.svc.CreateTaskSandbox(wctx, step)
	if err == nil {
		t.Errorf("the cancelled task's create succeeded")
	}
	h.provider.mu.Lock()
	creates := h.provider.creates
	h.provider.mu.Unlock()
	if creates != 0 {
		t.Errorf("Daytona was asked for %d sandboxes for a task cancelled while its create waited for the rate, want none", creates)
	}
	tk, err := h.store.GetTask(ctx, step.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Status != sandstep.TaskCancelled {
		t.Errorf("the task is %s, want cancelled", tk.Status)
	}
}
