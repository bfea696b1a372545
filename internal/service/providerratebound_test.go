package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// limitingProvider answers every create with Daytona's 429, as while the
// organisation's create budget is spent by someone else (another
// deployment, the dashboard) or is lower than DAYTONA_CREATE_RATE.
type limitingProvider struct{ Provider }

func (limitingProvider) Create(context.Context, ProviderSpec) (*ProviderSandbox, error) {
	e := sandstep.Errorf(sandstep.ETRANSIENT, "provider create: Daytona is rate limiting us; try again")
	e.RetryAfter = time.Minute
	return nil, e
}

// docs/architecture.md, "Tasks": past the task's capacity bound a
// refusal for the create rate ends the task, since each refused attempt
// has waited most of its invocation (up to ~288 s) and the execution's
// margin has 3m37s to spare. Daytona's own 429 is that same refusal: an
// attempt it ends after the in-invocation waits is as long, and was asked
// again 20 times past the bound (up to ~96 minutes the margin does not
// hold), and a task admitted after them times out before its clean-up.
func TestProviderRateRefusalBoundedByCapacityWait(t *testing.T) {
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
			h.svc.provider = limitingProvider{h.svc.provider}
			h.clock.Set(h.clock.Now().Add(tt.after))
			// Too little of the invocation left to wait out Daytona's
			// minute: its 429 is answered, as after the attempt's waits.
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			_, err := h.svc.CreateTaskSandbox(ctx, step)
			if sandstep.ErrorCode(err) != tt.want {
				t.Errorf("refused by Daytona's create rate %s after its acceptance: %v (%s), want %s", tt.after, err, sandstep.ErrorCode(err), tt.want)
			}
		})
	}
}
