package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// README, "Drain and resume": a flip takes hold everywhere within 30 s,
// and an issue's task then waits in the queue, paused. Its CreateSandbox
// attempt asks the switch once, before its first reservation; one the
// create rate refuses then waits in its invocation for the next window
// (up to ~258 s) and made the sandbox after the drain all the same, up to
// about four minutes after the operator drained for a risky deploy or a
// Daytona maintenance.
func TestDrainedWhileWaitingForTheRate(t *testing.T) {
	ctx := context.Background()
	h, comments, d := drainHarness(t)
	step := acceptIssueTask(t, h, "octo/hello", "1")
	q := &rateOnceQuota{Quota: h.svc.quota}
	q.meanwhile = func() { d.set(true) }
	h.svc.quota = q
	// Time to wait for the next window, as a fresh invocation has.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	_, err := h.svc.CreateTaskSandbox(wctx, step)
	if sandstep.ErrorCode(err) != sandstep.EQUEUED {
		t.Errorf("CreateTaskSandbox drained while it waited for the rate = %v (%s), want queued (paused)", err, sandstep.ErrorCode(err))
	}
	h.provider.mu.Lock()
	creates := h.provider.creates
	h.provider.mu.Unlock()
	if creates != 0 {
		t.Errorf("Daytona was asked for %d sandboxes after the drain, want none", creates)
	}
	if n := comments.saying("paused task `" + step.TaskID + "`"); n != 1 {
		t.Errorf("%d comments say the task is paused, want 1", n)
	}
}
