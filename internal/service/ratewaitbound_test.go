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

// limitingProvider answers every create with Daytona's 429, as while the
// organisation's create budget is spent by someone else (another
// deployment, the dashboard) or is lower than DAYTONA_CREATE_RATE.
type limitingProvider struct{ Provider }

func (limitingProvider) Create(context.Context, ProviderSpec) (*ProviderSandbox, error) {
	e := sandstep.Errorf(sandstep.ETRANSIENT, "provider create: Daytona is rate limiting us; try again")
	e.RetryAfter = time.Minute
	return nil, e
}

// docs/architecture.md, "Tasks": the execution's timeout holds the
// admission's bounds, the retries' delays and one admitted create before
// the command starts. A CreateSandbox attempt refused for the create rate,
// the deployment's or Daytona's own 429, waits inside its invocation for
// up to about 260-288 s of its 300 before it answers Sandbox.Transient,
// which the state machine asks again 20 times; no bound counted that time
// (up to ~96 minutes past CAPACITY_WAIT, against 3m37s the margin has
// spare), so a task admitted late and running to its timeoutSeconds had
// its execution time out before its clean-up. Past the task's capacity
// bound the rate's refusal ends it, as a capacity refusal does.
func TestRateRefusalBoundedByCapacityWait(t *testing.T) {
	refusers := []struct {
		name   string
		refuse func(h *faultHarness)
	}{
		{"the deployment's rate", func(h *faultHarness) { h.svc.quota = rateSpentQuota{h.svc.quota} }},
		{"Daytona's 429", func(h *faultHarness) { h.svc.provider = limitingProvider{h.svc.provider} }},
	}
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
	for _, r := range refusers {
		for _, tt := range tests {
			t.Run(r.name+"/"+tt.name, func(t *testing.T) {
				h, _ := admissionHarness(t)
				step := startTask(t, h, tt.owner, "1")
				r.refuse(h)
				h.clock.Set(h.clock.Now().Add(tt.after))
				// Too little of the invocation left to wait for the next
				// minute: the refusal is answered at once.
				ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
				defer cancel()
				_, err := h.svc.CreateTaskSandbox(ctx, step)
				if sandstep.ErrorCode(err) != tt.want {
					t.Errorf("refused by %s %s after its acceptance: %v (%s), want %s", r.name, tt.after, err, sandstep.ErrorCode(err), tt.want)
				}
			})
		}
	}
}
