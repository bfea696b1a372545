package service

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A task's create whose sandbox never starts runs out of its invocation's
// time: timeout, which the fault alarm does not count, whether or not it
// first waited a second for the deployment's DAYTONA_CREATE_RATE. Answered
// transient after such a wait, a burst served at the rate, as designed,
// would count toward <stack>-fault-rate-<function> (Faults counts a
// transient answer unless it is a refusal for the rate), and the state
// machine would ask the step again though a sandbox that never starts
// gains nothing from the second the wait took.
func TestTimeoutAfterDeploymentRateWaitIsNoFault(t *testing.T) {
	tests := []struct {
		name string
		held time.Duration // the deployment's create budget is spent for this long
	}{
		{"no wait", 0},
		{"a second's wait for DAYTONA_CREATE_RATE", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newFakeProvider()
			p.hangCreate = true // a sandbox that never starts
			svcs, st, _ := rateInstances(t, 1, 100, time.Minute, p)
			if tt.held > 0 {
				if err := st.SpendCreates(context.Background(), time.Now().Add(tt.held)); err != nil {
					t.Fatal(err)
				}
			}
			// 12 s of clean-up reserve, the wait, and createWaitFloor (30 s).
			ctx, cancel := context.WithTimeout(context.Background(), 44*time.Second)
			defer cancel()
			_, err := svcs[0].CreateSandbox(ctx, alice(), CreateSandboxInput{})
			if err == nil {
				t.Fatal("a sandbox that never starts was made")
			}
			// What the edge (internal/api) counts by: a timeout, or a
			// transient answer that is a refusal for the rate, is no fault.
			switch code := sandstep.ErrorCode(err); {
			case code == sandstep.ETIMEOUT:
			case code == sandstep.ETRANSIENT && errors.Is(err, sandstep.ErrCreateRate):
			default:
				t.Errorf("create: %v (%s); want %s, or %s wrapping ErrCreateRate", err, code, sandstep.ETIMEOUT, sandstep.ETRANSIENT)
			}
		})
	}
}
