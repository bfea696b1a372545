package service

import (
	"context"
	"errors"
	"slices"
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
	if h.hold != nil {
		select {
		case <-h.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Second):
			return nil, errors.New("the held read was never released: nothing reached the sandbox beside it")
		}
	}
	if h.fail != nil {
		return nil, h.fail
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
		before func(t *testing.T, other *Service, reads *heldReads, id string)
		call   Call
		// timeout is the command's (seconds; 0: the default), deadline
		// the caller's (0: none); a held read is never released.
		timeout  int
		deadline time.Duration
		held     bool
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
		// The read outlasting the command's timeout: the command does not
		// run, and the exec ends at that timeout.
		{name: "the read outlasts the command's timeout", call: alice(), timeout: 1, held: true,
			wantCode: sandstep.ETIMEOUT, wantBeside: true},
		// Too little time left to run a command: the record still says
		// why first, as when it is read first.
		{name: "deleted, too little time left", call: alice(), deadline: 2 * time.Second, wantCode: sandstep.ECONFLICT,
			before: func(t *testing.T, other *Service, _ *heldReads, id string) {
				if _, err := other.DeleteSandbox(context.Background(), alice(), id); err != nil {
					t.Fatal(err)
				}
			}},
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
				if !tt.held {
					release.Do(func() { close(hold) })
				}
			}
			if !tt.wantBeside && !tt.held {
				release.Do(func() { close(hold) })
			}
			ran := len(p.execs)
			ectx := ctx
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ectx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			in := ExecInput{Command: "true"}
			if tt.timeout > 0 {
				in.TimeoutSeconds = intp(tt.timeout)
			}
			start := time.Now()
			_, err = svc.Exec(ectx, tt.call, sb.ID, in)
			if got := sandstep.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("exec: %v (code %q), want code %q", err, got, tt.wantCode)
			}
			if took := time.Since(start); tt.timeout > 0 && took > time.Duration(tt.timeout)*time.Second+time.Second {
				t.Errorf("the exec answered after %v, past its %ds timeout", took, tt.timeout)
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

// Only an exec's own read makes a sandbox known: agent-execute's sandbox
// lives for one call, and a delete on the same instance forgets it.
func TestOnlyLiveSandboxesAreKnown(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, 3)
	res, err := h.svc.AgentExecute(ctx, alice(), AgentExecuteInput{Command: "true"})
	if err != nil {
		t.Fatal(err)
	}
	if _, known := h.svc.known.owned(res.SandboxID, "alice"); known {
		t.Error("agent-execute's sandbox is known after its call deleted it")
	}
	sb, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Exec(ctx, alice(), sb.ID, ExecInput{Command: "true"}); err != nil {
		t.Fatal(err)
	}
	if _, known := h.svc.known.owned(sb.ID, "alice"); !known {
		t.Fatal("the sandbox is not known after an exec in it")
	}
	if _, err := h.svc.DeleteSandbox(ctx, alice(), sb.ID); err != nil {
		t.Fatal(err)
	}
	if _, known := h.svc.known.owned(sb.ID, "alice"); known {
		t.Error("the sandbox is known after this instance deleted it")
	}
}

// An instance that has not seen a sandbox learns where its toolbox answers
// from the record it reads, before its first command reaches the sandbox.
func TestARecordTellsWhereTheToolboxIs(t *testing.T) {
	ctx := context.Background()
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 3})
	p := newFakeProvider()
	maker := newService(t, p, st, nil, Options{})
	sb, err := maker.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	if sb.ToolboxURL != fakeToolbox {
		t.Fatalf("the record keeps toolbox %q, want %q", sb.ToolboxURL, fakeToolbox)
	}
	p.located = nil // what the making instance learnt
	fresh := newService(t, p, st, nil, Options{})
	if _, err := fresh.Exec(ctx, alice(), sb.ID, ExecInput{Command: "true"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{sb.DaytonaID + " " + fakeToolbox}; !slices.Equal(p.locatedBeforeExec, want) {
		t.Errorf("toolboxes known when the exec came: %q, want %q", p.locatedBeforeExec, want)
	}
}
