package service

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/dynamo"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// faultMode is what happens at the chosen call to Daytona or DynamoDB.
type faultMode int

const (
	faultNone    faultMode = iota
	faultError             // the call fails without doing anything
	faultTimeout           // the call does its work, then times out
	faultOutage            // it and every later call fail: cleanups too
	faultKill              // the process dies there
)

func (m faultMode) String() string {
	return [...]string{"none", "error", "timeout", "outage", "kill"}[m]
}

// killed is the panic of a killed process; the test recovers it.
type killed struct{ at string }

// faults numbers the calls that cross to Daytona or DynamoDB and injects
// a fault at one of them.
type faults struct {
	mu    sync.Mutex
	calls []string
	at    int
	mode  faultMode
	dead  bool
	// recordDelay holds each creating record's write, which runs beside
	// Daytona's create and is no fault point of its own.
	recordDelay time.Duration
}

// arm injects mode at call number at (from 0) of what runs next.
func (f *faults) arm(at int, mode faultMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls, f.at, f.mode, f.dead = nil, at, mode, false
}

// disarm ends the injection (and the process's death: the next one runs).
func (f *faults) disarm() { f.arm(-1, faultNone) }

// trace is the calls made since arm.
func (f *faults) trace() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

var errInjected = sandstep.Errorf(sandstep.ETRANSIENT, "injected failure")

// call runs do as call name, with the fault if it is the chosen one.
func (f *faults) call(name string, do func() error) error {
	f.mu.Lock()
	if f.dead {
		f.mu.Unlock()
		return errInjected // a dead process does nothing
	}
	i := len(f.calls)
	f.calls = append(f.calls, name)
	mode := f.mode
	hit := i == f.at || (mode == faultOutage && f.at >= 0 && i >= f.at)
	if hit && mode == faultKill {
		f.dead = true
	}
	f.mu.Unlock()
	if !hit {
		return do()
	}
	switch mode {
	case faultKill:
		panic(killed{name})
	case faultTimeout:
		if err := do(); err != nil {
			return err
		}
		return sandstep.Wrap(context.DeadlineExceeded, sandstep.ETIMEOUT, "injected timeout after %s", name)
	}
	return fmt.Errorf("%s: %w", name, errInjected)
}

// call1 is call for a function with a result.
func call1[T any](f *faults, name string, do func() (T, error)) (T, error) {
	var out T
	err := f.call(name, func() error {
		var err error
		out, err = do()
		return err
	})
	return out, err
}

// faultyProvider is the fake provider behind faults.
type faultyProvider struct {
	*fakeProvider
	f *faults
}

func (p faultyProvider) Create(ctx context.Context, spec ProviderSpec) (*ProviderSandbox, error) {
	return call1(p.f, "daytona create", func() (*ProviderSandbox, error) { return p.fakeProvider.Create(ctx, spec) })
}
func (p faultyProvider) Get(ctx context.Context, id string) (*ProviderSandbox, error) {
	return call1(p.f, "daytona get", func() (*ProviderSandbox, error) { return p.fakeProvider.Get(ctx, id) })
}
func (p faultyProvider) Delete(ctx context.Context, id string) error {
	return p.f.call("daytona delete", func() error { return p.fakeProvider.Delete(ctx, id) })
}
func (p faultyProvider) Upload(ctx context.Context, id string, files []UploadFile) error {
	return p.f.call("daytona upload", func() error { return p.fakeProvider.Upload(ctx, id, files) })
}
func (p faultyProvider) GitClone(ctx context.Context, id string, spec GitCloneSpec) error {
	return p.f.call("daytona clone", func() error { return p.fakeProvider.GitClone(ctx, id, spec) })
}
func (p faultyProvider) Exec(ctx context.Context, id string, cmd Command) (*ExecResult, error) {
	return call1(p.f, "daytona exec", func() (*ExecResult, error) { return p.fakeProvider.Exec(ctx, id, cmd) })
}

// faultySessions are the provider's sessions behind faults.
type faultySessions struct {
	fakeSessions
	f *faults
}

func (s faultySessions) StartCommand(ctx context.Context, id, session, line string) (string, error) {
	return call1(s.f, "daytona session command", func() (string, error) { return s.fakeSessions.StartCommand(ctx, id, session, line) })
}
func (s faultySessions) StopCommand(ctx context.Context, id, session string) error {
	return s.f.call("daytona session stop", func() error { return s.fakeSessions.StopCommand(ctx, id, session) })
}
func (s faultySessions) KeepFor(ctx context.Context, id string, d time.Duration) error {
	return s.f.call("daytona ttl", func() error { return s.fakeSessions.KeepFor(ctx, id, d) })
}

// endedMachine is a state machine whose executions have all ended.
type endedMachine struct{ fakeMachine }

func (endedMachine) Running(context.Context, string) (bool, time.Time, error) {
	return false, time.Time{}, nil
}

// faultyStore is the store behind faults: every write may fail.
type faultyStore struct {
	*store.Store
	f *faults
}

func (s faultyStore) RecordCreating(ctx context.Context, sb *sandstep.Sandbox, audit ...sandstep.AuditEvent) error {
	time.Sleep(s.f.recordDelay)
	return s.Store.RecordCreating(ctx, sb, audit...)
}

func (s faultyStore) ReserveSlot(ctx context.Context, sb *sandstep.Sandbox) error {
	return s.f.call("dynamodb reserve", func() error { return s.Store.ReserveSlot(ctx, sb) })
}
func (s faultyStore) CommitSandbox(ctx context.Context, sb *sandstep.Sandbox, audit ...sandstep.AuditEvent) error {
	return s.f.call("dynamodb commit", func() error { return s.Store.CommitSandbox(ctx, sb, audit...) })
}
func (s faultyStore) MarkDeleting(ctx context.Context, id, owner string) (*sandstep.Sandbox, error) {
	return call1(s.f, "dynamodb deleting", func() (*sandstep.Sandbox, error) { return s.Store.MarkDeleting(ctx, id, owner) })
}
func (s faultyStore) FinishDelete(ctx context.Context, sb *sandstep.Sandbox, audit sandstep.AuditEvent) (*sandstep.Sandbox, error) {
	return call1(s.f, "dynamodb deleted", func() (*sandstep.Sandbox, error) { return s.Store.FinishDelete(ctx, sb, audit) })
}
func (s faultyStore) ReleaseSlot(ctx context.Context, user, id string) (bool, error) {
	return call1(s.f, "dynamodb release", func() (bool, error) { return s.Store.ReleaseSlot(ctx, user, id) })
}
func (s faultyStore) TransitionSandbox(ctx context.Context, id string, from []sandstep.State, to sandstep.State, update func(*sandstep.Sandbox)) (*sandstep.Sandbox, error) {
	return call1(s.f, "dynamodb "+string(to), func() (*sandstep.Sandbox, error) { return s.Store.TransitionSandbox(ctx, id, from, to, update) })
}
func (s faultyStore) AppendAudit(ctx context.Context, ev sandstep.AuditEvent) error {
	return s.f.call("dynamodb audit", func() error { return s.Store.AppendAudit(ctx, ev) })
}
func (s faultyStore) PutTask(ctx context.Context, t *sandstep.Task) error {
	return s.f.call("dynamodb put task", func() error { return s.Store.PutTask(ctx, t) })
}
func (s faultyStore) TransitionTask(ctx context.Context, id string, from []sandstep.TaskStatus, to sandstep.TaskStatus, update func(*sandstep.Task)) (*sandstep.Task, error) {
	return call1(s.f, "dynamodb task "+string(to), func() (*sandstep.Task, error) { return s.Store.TransitionTask(ctx, id, from, to, update) })
}

// faultHarness is a service whose calls to Daytona and DynamoDB go through
// faults, on a clock the test moves, with a reaper beside it that sees the
// same provider and table without faults.
type faultHarness struct {
	svc      *Service
	reaper   *Service
	provider *fakeProvider
	store    *store.Store
	// truth reads the same table with a clock a year ahead: a sweep is
	// always due for it (see checkNothingLeaked).
	truth *store.Store
	clock *settableClock
	f     *faults
}

func newFaultHarness(t *testing.T, quota int) *faultHarness {
	t.Helper()
	clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	var endpoint string
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: quota, Now: clk.Now}, func(o *dynamo.Options) { endpoint = o.Endpoint })
	truth, err := store.New(storetest.DB(t, endpoint), storetest.Table, store.Options{DefaultQuota: quota, IdempotencyTTL: storetest.DefaultIdempotencyTTL,
		Now: func() time.Time { return clk.Now().AddDate(1, 0, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	// A sweep of the empty table, ended: the reaper's runs judge from the
	// index alone, as nearly every run does.
	if sw, err := st.Sweep(context.Background()); err != nil || !sw.Done {
		t.Fatalf("sweep = %+v, %v; want it ended", sw, err)
	}
	p := newFakeProvider()
	p.execResult = ExecResult{ExitCode: 0, Stdout: "hello\n"}
	f := &faults{at: -1}
	fs := faultyStore{Store: st, f: f}
	objects := newFakeObjects()
	opts := Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now}
	secrets := fakeSecrets{"ssm:/sandstep/secrets/users/alice/token": "canary-s3cr3t-value"}
	svc, err := New(Deps{Provider: faultyProvider{p, f}, Sandboxes: fs, Quota: fs, Idempotency: st, Audit: fs,
		Secrets: secrets, Tasks: fs, Objects: objects, Machine: fakeMachine{}, Sessions: faultySessions{f: f}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	// The reaper runs after the faulty run's executions have ended.
	reaper, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st, Inventory: st, Catalog: p,
		Tasks: st, Objects: objects, Machine: endedMachine{}, Sessions: fakeSessions{}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &faultHarness{svc: svc, reaper: reaper, provider: p, store: st, truth: truth, clock: clk, f: f}
}

// run runs op, recovering a killed process.
func (h *faultHarness) run(op func() error) (err error, died bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(killed); !ok {
				panic(r)
			}
			died = true
		}
	}()
	return op(), false
}

// reap runs the reaper once no invocation of the faulty run can be at
// work any more.
func (h *faultHarness) reap(t *testing.T) *ReapReport {
	t.Helper()
	h.clock.Set(h.clock.Now().Add(abandonedAfter + time.Minute))
	rep, err := h.reaper.Reap(context.Background(), ReapOptions{})
	if err != nil {
		t.Fatalf("reap: %v", err)
	}
	return rep
}

// checkNothingLeaked checks the reaper's promise: no provider sandbox
// without a live record, no held slot without a live sandbox, no record
// in a state that is not final past its time, counters equal to the
// slots, and nothing for a second run to do.
func (h *faultHarness) checkNothingLeaked(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	// A whole sweep first: it finds any live item the index lacks (none
	// should: every write of a live item gives it its key), and puts it
	// there, for the reads below and the second run.
	if sw, err := h.truth.Sweep(ctx); err != nil || !sw.Done || sw.Indexed != 0 {
		t.Errorf("sweep = %+v, %v; want it ended, with no live item missing from the index", sw, err)
	}
	found, err := h.truth.LiveRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	records := map[string]*sandstep.Sandbox{}
	for _, r := range found.Sandboxes {
		records[r.ID] = r
		if r.State != sandstep.StateReady {
			t.Errorf("record %s is still %s after the reaper", r.ID, r.State)
		}
	}
	alive := map[string]bool{}
	for _, name := range h.provider.live() {
		alive[name] = true
		if records[name] == nil {
			t.Errorf("provider sandbox %s has no live record", name)
		}
	}
	for id := range records {
		if !alive[id] {
			t.Errorf("live record %s has no sandbox", id)
		}
	}
	counters, slots := found.Counted, found.Held
	held := map[string]int{}
	for _, sl := range slots {
		held[sl.UserID]++
		if !alive[sl.SandboxID] || records[sl.SandboxID] == nil {
			t.Errorf("slot of %s is held without a live sandbox", sl.SandboxID)
		}
	}
	for user, n := range counters {
		if n != held[user] {
			t.Errorf("%s's counter is %d, slots held %d", user, n, held[user])
		}
	}
	if found, err := h.truth.LiveRecords(ctx); err != nil || len(found.Tasks) != 0 {
		t.Errorf("live tasks after the reaper: %+v, %v; their executions have ended", found, err)
	}
	again, err := h.reaper.Reap(ctx, ReapOptions{})
	if err != nil || again.Findings() != 0 {
		t.Errorf("a second run found %+v, %v; want nothing", again, err)
	}
}
