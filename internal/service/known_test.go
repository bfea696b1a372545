package service

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// heldReads is the store with its sandbox reads counted, and held until
// released or failed on demand, to show what runs beside them.
type heldReads struct {
	*store.Store
	hold chan struct{} // nil: reads are not held
	fail error
	done atomic.Int32 // reads answered
}

func (h *heldReads) GetSandbox(ctx context.Context, id string) (*sandstep.Sandbox, error) {
	defer h.done.Add(1)
	if h.fail != nil {
		return nil, h.fail
	}
	if h.hold != nil {
		select {
		case <-h.hold:
		case <-time.After(5 * time.Second):
			return nil, errors.New("the held read was never released: nothing reached the sandbox beside it")
		}
	}
	return h.Store.GetSandbox(ctx, id)
}

// A repeat exec in a sandbox this instance found ready and the caller's
// makes Daytona's first call beside the read of the record, and runs the
// command only once the read says it is still the caller's and ready; a
// first exec reads before anything reaches the sandbox.
func TestExecInAKnownSandbox(t *testing.T) {
	tests := []struct {
		name string
		// before runs between the first exec and the one checked, with
		// a second instance of the service over the same store.
		before   func(t *testing.T, other *Service, reads *heldReads, id string)
		call     Call
		wantCode sandstep.Code // "": the command runs
		// wantBeside: Daytona's first call is made while the read is out.
		wantBeside bool
	}{
		{name: "its owner again", call: alice(), wantBeside: true},
		{name: "deleted by another instance", call: alice(), wantCode: sandstep.ECONFLICT, wantBeside: true,
			before: func(t *testing.T, other *Service, _ *heldReads, id string) {
				if _, err := other.DeleteSandbox(context.Background(), alice(), id); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "the read fails", call: alice(), wantCode: sandstep.ETRANSIENT, wantBeside: true,
			before: func(t *testing.T, _ *Service, reads *heldReads, _ string) {
				reads.fail = sandstep.Errorf(sandstep.ETRANSIENT, "throttled")
			}},
		{name: "another user", call: Call{UserID: "bob", RequestID: "req-2"}, wantCode: sandstep.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 3})
			reads := &heldReads{Store: st}
			p := newFakeProvider()
			deps := Deps{Provider: p, Sandboxes: reads, Quota: st, Idempotency: st, Audit: st}
			svc, err := New(deps, Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment)})
			if err != nil {
				t.Fatal(err)
			}
			deps.Sandboxes = st
			other, err := New(deps, Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment)})
			if err != nil {
				t.Fatal(err)
			}
			sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
			if err != nil {
				t.Fatal(err)
			}

			// The first exec: the read has answered before the sandbox
			// is touched.
			var readsAtSession []int32
			var mu sync.Mutex
			p.onSession = func() {
				mu.Lock()
				readsAtSession = append(readsAtSession, reads.done.Load())
				mu.Unlock()
			}
			if _, err := svc.Exec(ctx, alice(), sb.ID, ExecInput{Command: "true"}); err != nil {
				t.Fatal(err)
			}
			if readsAtSession[0] != 1 {
				t.Fatalf("the first exec reached the sandbox after %d reads of its record, want 1", readsAtSession[0])
			}

			if tt.before != nil {
				tt.before(t, other, reads, sb.ID)
			}
			hold := make(chan struct{})
			var release sync.Once
			reads.hold = hold
			p.onSession = func() {
				mu.Lock()
				readsAtSession = append(readsAtSession, reads.done.Load())
				mu.Unlock()
				release.Do(func() { close(hold) })
			}
			if !tt.wantBeside {
				release.Do(func() { close(hold) })
			}
			ran := len(p.execs)
			_, err = svc.Exec(ctx, tt.call, sb.ID, ExecInput{Command: "true"})
			if got := sandstep.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("exec: %v (code %q), want code %q", err, got, tt.wantCode)
			}
			if tt.wantCode == "" && len(p.execs) != ran+1 {
				t.Errorf("the command ran %d times, want once", len(p.execs)-ran)
			}
			if tt.wantCode != "" && len(p.execs) != ran {
				t.Errorf("the command ran although the exec was refused")
			}
			switch {
			case tt.wantBeside && len(readsAtSession) != 2:
				t.Errorf("the exec did not reach the sandbox")
			case tt.wantBeside && readsAtSession[1] != 1:
				t.Errorf("the exec reached the sandbox after its record's read answered (%d reads), want beside it", readsAtSession[1])
			case !tt.wantBeside && len(readsAtSession) != 1:
				t.Errorf("the exec reached the sandbox, want refused from the record alone")
			}
			// A refused exec leaves nothing known: the next one reads first.
			if _, known := svc.known.owned(sb.ID, "alice"); known != (tt.wantCode == "" || tt.call.UserID != "alice") {
				t.Errorf("the sandbox known after the exec = %v", known)
			}
		})
	}
}
