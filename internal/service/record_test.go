package service

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// crashingProvider dies in Create, as a Lambda killed between the
// reservation and the commit: nothing after it runs.
type crashingProvider struct{ *fakeProvider }

func (crashingProvider) Create(context.Context, ProviderSpec) (*ProviderSandbox, error) {
	panic("the process dies here")
}

// A crash between the reservation and the commit leaves a held slot with
// its time, whether the record was written or not, and the reaper finishes
// it once no create can be at work: the sandbox deleted by its name, the
// slot released.
func TestCrashBeforeCommitLeavesAHeldSlot(t *testing.T) {
	clk := &settableClock{t: time.Now()}
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 2, Now: clk.Now})
	p := crashingProvider{newFakeProvider()}
	const id = "sbx_" + "crashedcrashedcrashedcrash"
	svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st, Inventory: st, Catalog: p},
		Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now, NewID: func() string { return id }})
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() { _ = recover() }()
		_, _ = svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{Labels: map[string]string{"team": "a"}})
		t.Fatal("the provider did not crash the create")
	}()
	ctx := context.Background()
	// The provider made the sandbox before the process died.
	p.sandboxes[id] = &fakeSandbox{id: "dt-" + id, state: "started", labels: map[string]string{LabelDeployment: testDeployment}}
	_, held, _, err := st.Counter(ctx, "alice")
	if err != nil || len(held) != 1 || held[0].SandboxID != id || held[0].UserID != "alice" || clk.Now().Sub(held[0].ReservedAt) > time.Second {
		t.Fatalf("held slots after the crash = %+v, %v; want alice's slot for %s, reserved now", held, err, id)
	}
	if rep, err := svc.Reap(ctx, ReapOptions{}); err != nil || rep.Findings() != 0 {
		t.Fatalf("reaper during the create's grace = %+v, %v; want nothing done", rep, err)
	}
	clk.Set(clk.Now().Add(abandonedAfter + time.Minute))
	if _, err := svc.Reap(ctx, ReapOptions{}); err != nil {
		t.Fatal(err)
	}
	if q, _ := st.GetQuota(ctx, "alice"); q.Active != 0 {
		t.Errorf("alice holds %d slots after the reaper, want 0", q.Active)
	}
	if live := p.live(); len(live) != 0 {
		t.Errorf("provider sandboxes left: %v", live)
	}
	if rec, err := st.GetSandbox(ctx, id); err == nil && !rec.State.Terminal() {
		t.Errorf("record after the reaper = %+v, want none or a final one", rec)
	}
}

// settableClock is a time source the test moves.
type settableClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *settableClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *settableClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// A creating record is not usable: commands are refused, and a delete
// waits for the create unless the create has certainly died.
func TestCreatingRecordIsNotYetUsable(t *testing.T) {
	clk := &settableClock{t: time.Now()}
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 2, Now: clk.Now})
	p := newFakeProvider()
	svc := newService(t, p, st, nil, Options{Now: clk.Now})
	ctx := context.Background()
	// What a crashed create leaves: a reservation and its record, no commit.
	sb := &sandstep.Sandbox{ID: NewSandboxID(), Owner: "alice", State: sandstep.StateCreating, CreatedAt: clk.Now()}
	if err := st.ReserveSlot(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordCreating(ctx, sb); err != nil {
		t.Fatal(err)
	}

	_, err := svc.Exec(ctx, alice(), sb.ID, ExecInput{Command: "true"})
	wantCode(t, err, sandstep.ECONFLICT)
	got, err := svc.GetSandbox(ctx, alice(), sb.ID)
	if err != nil || got.State != sandstep.StateCreating {
		t.Fatalf("status of a creating sandbox = %+v, %v", got, err)
	}
	_, err = svc.DeleteSandbox(ctx, alice(), sb.ID)
	wantCode(t, err, sandstep.ECONFLICT)

	// Past the longest invocation, the create is dead: delete finishes it.
	clk.Set(clk.Now().Add(abandonedAfter + time.Second))
	del, err := svc.DeleteSandbox(ctx, alice(), sb.ID)
	if err != nil || del.State != sandstep.StateDeleted {
		t.Fatalf("delete of an abandoned create = %+v, %v", del, err)
	}
	if q, _ := st.GetQuota(ctx, "alice"); q.Active != 0 {
		t.Fatalf("active slots = %d after the delete, want 0", q.Active)
	}
}

func TestListPageSize(t *testing.T) {
	h := newHarness(t, 3)
	for i := range 3 {
		if _, err := h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{}); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	tests := []struct {
		name  string
		limit *int
		items int
		code  sandstep.Code
	}{
		{"default", nil, 3, ""},
		{"one", intp(1), 1, ""},
		{"largest", intp(MaxListLimit), 3, ""},
		{"zero", intp(0), 0, sandstep.EINVALID},
		{"negative", intp(-1), 0, sandstep.EINVALID},
		{"too large", intp(MaxListLimit + 1), 0, sandstep.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := h.svc.ListSandboxes(context.Background(), alice(), SandboxListInput{ListInput: ListInput{Limit: tt.limit}})
			if tt.code != "" {
				wantCode(t, err, tt.code)
				if f := sandstep.ErrorField(err); f != "limit" {
					t.Errorf("field = %q, want limit", f)
				}
				return
			}
			if err != nil || len(list.Items) != tt.items {
				t.Fatalf("list = %+v, %v; want %d items", list, err, tt.items)
			}
		})
	}
}

func TestNewRefusesBadWiring(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{})
	full := Deps{Provider: newFakeProvider(), Sandboxes: st, Quota: st, Idempotency: st, Audit: st}
	tests := []struct {
		name   string
		deps   Deps
		limits func(*Limits)
	}{
		{"no provider", Deps{Sandboxes: st, Quota: st, Idempotency: st, Audit: st}, nil},
		{"no audit", Deps{Provider: full.Provider, Sandboxes: st, Quota: st, Idempotency: st}, nil},
		{"no limits", full, func(l *Limits) { *l = Limits{} }},
		{"default TTL over the max", full, func(l *Limits) { l.DefaultTTLMinutes = l.MaxTTLMinutes + 1 }},
		{"default exec timeout over the max", full, func(l *Limits) { l.DefaultExecTimeout = l.MaxExecTimeout + time.Second }},
		{"no output", full, func(l *Limits) { l.MaxOutputBytes = 0 }},
		{"network ceiling that blocks and lists", full, func(l *Limits) {
			l.NetworkCeiling = &sandstep.NetworkPolicy{BlockAll: true, AllowList: []string{"10.0.0.0/8"}}
		}},
		{"network ceiling with a bad CIDR", full, func(l *Limits) { l.NetworkCeiling = &sandstep.NetworkPolicy{AllowList: []string{"10.0.0.1/8"}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment)}
			if tt.limits != nil {
				tt.limits(&opts.Limits)
			}
			if _, err := New(tt.deps, opts); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
	if _, err := New(full, Options{Limits: testLimits()}); err == nil {
		t.Fatal("New accepted options without a deployment")
	}
	if _, err := New(full, Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment)}); err != nil {
		t.Fatalf("New(full) = %v", err)
	}
}

// Lists show live sandboxes unless asked for others.
func TestListShowsLiveByDefault(t *testing.T) {
	h := newHarness(t, 3)
	ctx := context.Background()
	live, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.DeleteSandbox(ctx, alice(), gone.ID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		state string
		want  []string
		code  sandstep.Code
	}{
		{"", []string{live.ID}, ""},
		{"live", []string{live.ID}, ""},
		{"deleted", []string{gone.ID}, ""},
		{"all", []string{gone.ID, live.ID}, ""},
		{"zombie", nil, sandstep.EINVALID},
	}
	for _, tt := range tests {
		t.Run("state="+tt.state, func(t *testing.T) {
			list, err := h.svc.ListSandboxes(ctx, alice(), SandboxListInput{State: tt.state})
			if tt.code != "" {
				wantCode(t, err, tt.code)
				if f := sandstep.ErrorField(err); f != "state" {
					t.Errorf("field = %q, want state", f)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, it := range list.Items {
				got = append(got, it.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("listed %v, want %v", got, tt.want)
			}
		})
	}
}
