package daytonaprovider

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// A create stuck in creating runs out of time, and Daytona refuses to
// delete the sandbox while it is mid-transition. The record must stay live
// (its slot held) where the reaper finds it; the reaper asks again on each
// run, and once Daytona lets the sandbox go it ends the record and
// releases the slot.
func TestStuckCreateIsLeftForTheReaper(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	srv, err := daytonalocal.New(daytonalocal.Options{Root: t.TempDir(), Clock: clock, SweepInterval: 10 * time.Millisecond,
		Faults: []daytonalocal.Fault{{Kind: daytonalocal.FaultCreateStuck, Times: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	c, err := daytona.New(daytona.Config{APIKey: "k", APIURL: hs.URL + "/api", PollInterval: 20 * time.Millisecond,
		Retry: daytona.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	p := New(c, Options{})
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 1})
	svc, err := service.New(service.Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st, Inventory: st, Catalog: p},
		service.Options{CleanupReserve: 300 * time.Millisecond, Deployment: func(context.Context) (string, error) { return "test-deployment", nil }, Limits: serviceLimits()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cctx, cancel := context.WithTimeout(ctx, 800*time.Millisecond)
	defer cancel()
	if _, err := svc.CreateSandbox(cctx, service.Call{UserID: "alice"}, service.CreateSandboxInput{}); err == nil {
		t.Fatal("a stuck create succeeded")
	}
	live := func() *sandstep.Sandbox {
		t.Helper()
		l, err := st.LiveRecords(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Sandboxes) != 1 {
			return nil
		}
		return l.Sandboxes[0]
	}
	rec := live()
	if rec == nil {
		t.Fatal("no live record of the stuck sandbox: the reaper would never ask Daytona to delete it")
	}
	if q, _ := st.GetQuota(ctx, "alice"); q.Active != 1 {
		t.Errorf("active slots = %d, want 1: the sandbox still exists", q.Active)
	}

	// Daytona still refuses: the record and its slot stay.
	if _, err := svc.Reap(ctx, service.ReapOptions{AfterRestart: true}); err != nil {
		t.Fatal(err)
	}
	if rec = live(); rec == nil {
		t.Fatal("the reaper ended the record of a sandbox Daytona did not delete")
	}
	if q, _ := st.GetQuota(ctx, "alice"); q.Active != 1 {
		t.Errorf("active slots after a refused reap = %d, want 1", q.Active)
	}

	// Its TTL ends it at Daytona; the next run finishes the record.
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := p.Get(ctx, rec.ID); sandstep.ErrorCode(err) == sandstep.ENOTFOUND {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the stuck sandbox outlived its TTL: %v", err)
		}
	}
	if _, err := svc.Reap(ctx, service.ReapOptions{AfterRestart: true}); err != nil {
		t.Fatal(err)
	}
	if rec = live(); rec != nil {
		t.Errorf("record after Daytona let it go = %s, want ended", rec.State)
	}
	if q, _ := st.GetQuota(ctx, "alice"); q.Active != 0 {
		t.Errorf("active slots after the reap = %d, want 0", q.Active)
	}
}
