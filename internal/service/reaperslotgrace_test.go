package service

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// heldRelease is the store with the first ReleaseSlot held until proceed
// is closed: the moment between the write that ends a record and the
// release of its slot, which a failed create's clean-up (abandon) and a
// status that finds its sandbox gone (markGone) make as two writes.
type heldRelease struct {
	*store.Store
	once    sync.Once
	inside  chan struct{}
	proceed chan struct{}
}

func (h *heldRelease) ReleaseSlot(ctx context.Context, userID, sandboxID string) (bool, error) {
	first := false
	h.once.Do(func() { first = true })
	if first {
		close(h.inside)
		<-h.proceed
	}
	return h.Store.ReleaseSlot(ctx, userID, sandboxID)
}

// A reaper run that comes while a sandbox's record has just ended and its
// slot is about to be released by the same call (a create Daytona
// refused, cleaned up; a status finding the sandbox gone) must find
// nothing: the call releases the slot a round trip later. It released it
// itself and reported it as a finding (slots: 1, a WARN line, the
// ReaperFindings metric of kind slots), which raises the
// <stack>-reaper-slots alarm, whose runbook says a leak is a bug: a false
// alarm, at any run that meets a failing create.
func TestReaperLeavesASlotItsOwnerIsReleasing(t *testing.T) {
	tests := []struct {
		name string
		// act is the user's call that ends the record, then releases the
		// slot; prepare readies what it needs.
		prepare func(t *testing.T, svc *Service, p *fakeProvider) string
		act     func(svc *Service, id string) error
	}{
		{
			name: "a create Daytona refused",
			prepare: func(t *testing.T, _ *Service, p *fakeProvider) string {
				p.failOn("create", sandstep.Errorf(sandstep.EINVALID, "daytona: snapshot not found"))
				return ""
			},
			act: func(svc *Service, _ string) error {
				_, err := svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{})
				if err == nil {
					return sandstep.Errorf(sandstep.EINTERNAL, "the create did not fail")
				}
				return nil
			},
		},
		{
			name: "a status that finds the sandbox gone",
			prepare: func(t *testing.T, svc *Service, p *fakeProvider) string {
				sb, err := svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{})
				if err != nil {
					t.Fatal(err)
				}
				p.mu.Lock()
				delete(p.sandboxes, sb.ID) // ended at Daytona
				p.mu.Unlock()
				return sb.ID
			},
			act: func(svc *Service, id string) error {
				_, err := svc.GetSandbox(context.Background(), alice(), id)
				return err
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 3, Now: clk.Now})
			p := newFakeProvider()
			held := &heldRelease{Store: st, inside: make(chan struct{}), proceed: make(chan struct{})}
			opts := Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now}
			svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: held, Idempotency: st, Audit: st}, opts)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st}, opts)
			if err != nil {
				t.Fatal(err)
			}
			reaper, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st, Inventory: st, Catalog: p}, opts)
			if err != nil {
				t.Fatal(err)
			}
			id := tc.prepare(t, plain, p)
			done := make(chan error, 1)
			go func() { done <- tc.act(svc, id) }()
			select {
			case <-held.inside:
			case err := <-done:
				t.Fatalf("the call released no slot: %v", err)
			}
			// A second later, the scheduled run.
			clk.Set(clk.Now().Add(time.Second))
			rep, err := reaper.Reap(ctx, ReapOptions{})
			close(held.proceed)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if rep.Findings() != 0 {
				t.Errorf("a run while the call was releasing its slot = %+v, want no finding: the call released it a round trip later, nothing leaked", *rep)
			}
			if q, _ := st.GetQuota(ctx, "alice"); q.Active != 0 {
				t.Errorf("alice holds %d slot(s) after the call, want 0", q.Active)
			}
		})
	}
}
