package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// rateSpentQuota refuses every reservation for the create rate, as the
// store does while the deployment's minute is spent.
type rateSpentQuota struct{ Quota }

func (rateSpentQuota) ReserveSlot(context.Context, *sandstep.Sandbox) error {
	e := sandstep.Wrap(sandstep.ErrCreateRate, sandstep.ETRANSIENT,
		"the deployment has created its sandboxes for this minute (DAYTONA_CREATE_RATE); try again in 1m0s")
	e.RetryAfter = time.Minute
	return e
}

// docs/architecture.md, "Tasks": the execution's timeout holds the
// admission's bounds, the retries' delays and one admitted create before
// the command starts. A CreateSandbox attempt refused for Daytona's create
// rate waits inside its invocation for up to about 260 s of its 300 before
// it answers Sandbox.Transient, which the state machine asks again 20
// times; no bound counted that time (up to 20 × ~260 s ≈ 87 minutes past
// CAPACITY_WAIT, against 3m37s the margin has spare), so a task admitted
// late and running to its timeoutSeconds had its execution time out before
// its clean-up. Past the task's capacity bound the rate's refusal ends it,
// as a capacity refusal does.
func TestRateRefusalBoundedByCapacityWait(t *testing.T) {
	tests := []struct {
		name  string
		owner string
		after time.Duration // since the task was accepted
		want  sandstep.Code
	}{
		{"a user's task within CAPACITY_WAIT: asked again", "alice", 14 * time.Minute, sandstep.ETRANSIENT},
		{"a user's task past CAPACITY_WAIT: ends", "alice", 16 * time.Minute, sandstep.ETIMEOUT},
		{"a repository's task within its queue's time and CAPACITY_WAIT: asked again", "github:octo/hello", 44 * time.Minute, sandstep.ETRANSIENT},
		{"a repository's task past both: ends", "github:octo/hello", 46 * time.Minute, sandstep.ETIMEOUT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := admissionHarness(t)
			step := startTask(t, h, tt.owner, "1")
			h.svc.quota = rateSpentQuota{h.svc.quota}
			h.clock.Set(h.clock.Now().Add(tt.after))
			// Too little of the invocation left to wait for the next
			// minute: the refusal is answered at once.
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			_, err := h.svc.CreateTaskSandbox(ctx, step)
			if sandstep.ErrorCode(err) != tt.want {
				t.Errorf("refused for the create rate %s after its acceptance: %v (%s), want %s", tt.after, err, sandstep.ErrorCode(err), tt.want)
			}
		})
	}
}
