package service

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
	"github.com/sandstep/sandstep/internal/testutil"
)

// After a crash the records and the provider agree again, and nothing of
// another deployment is touched.
func TestReap(t *testing.T) {
	ctx := context.Background()
	clk := &settableClock{t: time.Now()}
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 10, Now: clk.Now})
	p := newFakeProvider()
	svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st, Inventory: st, Catalog: p},
		Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	create := func() *sandstep.Sandbox {
		t.Helper()
		sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
		if err != nil {
			t.Fatal(err)
		}
		return sb
	}
	// What a crashed create leaves: a held slot, maybe its record, maybe
	// the sandbox.
	crashed := func(withRecord, withSandbox bool) *sandstep.Sandbox {
		t.Helper()
		sb := &sandstep.Sandbox{ID: NewSandboxID(), Owner: "alice", State: sandstep.StateCreating, CreatedAt: clk.Now()}
		if err := st.ReserveSlot(ctx, sb); err != nil {
			t.Fatal(err)
		}
		if withRecord {
			if err := st.RecordCreating(ctx, sb); err != nil {
				t.Fatal(err)
			}
		}
		if withSandbox {
			p.sandboxes[sb.ID] = &fakeSandbox{id: "dt-" + sb.ID, state: "started", labels: map[string]string{LabelDeployment: testDeployment}}
		}
		return sb
	}
	kept := create()
	vanished := create()
	delete(p.sandboxes, vanished.ID) // deleted behind sandstep's back
	deleting := create()
	if _, err := st.TransitionSandbox(ctx, deleting.ID, []sandstep.State{sandstep.StateReady}, sandstep.StateDeleting, nil); err != nil {
		t.Fatal(err)
	}
	abandoned := crashed(true, true)
	abandonedBare := crashed(true, false)
	unrecorded := crashed(false, true)
	unrecordedBare := crashed(false, false)
	clk.Set(clk.Now().Add(abandonedAfter + time.Minute))
	inFlight := crashed(true, true)            // a create at work
	inFlightUnrecorded := crashed(false, true) // one whose record is not written yet
	p.sandboxes["stray"] = &fakeSandbox{id: "dt-stray", state: "started", labels: map[string]string{LabelDeployment: testDeployment}}
	p.sandboxes["theirs"] = &fakeSandbox{id: "dt-theirs", state: "started", labels: map[string]string{LabelDeployment: "staging-zzzzzzzz"}}
	p.sandboxes["unlabelled"] = &fakeSandbox{id: "dt-unlabelled", state: "started"}

	report, err := svc.Reap(ctx, ReapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := ReapReport{Abandoned: 2, Gone: 1, Finished: 1, Unowned: 1, Slots: 2}
	if *report != want {
		t.Errorf("report = %+v, want %+v", *report, want)
	}
	states := map[string]sandstep.State{
		kept.ID: sandstep.StateReady, vanished.ID: sandstep.StateGone, deleting.ID: sandstep.StateDeleted,
		abandoned.ID: sandstep.StateFailed, abandonedBare.ID: sandstep.StateFailed, inFlight.ID: sandstep.StateCreating,
	}
	for id, want := range states {
		got, err := st.GetSandbox(ctx, id)
		if err != nil || got.State != want {
			t.Errorf("record %s = %v, %v; want %s", id, got, err, want)
		}
	}
	live := map[string]bool{}
	for _, name := range p.live() {
		live[name] = true
	}
	for name, want := range map[string]bool{kept.ID: true, inFlight.ID: true, inFlightUnrecorded.ID: true, "theirs": true, "unlabelled": true,
		abandoned.ID: false, unrecorded.ID: false, deleting.ID: false, "stray": false} {
		if live[name] != want {
			t.Errorf("provider sandbox %s alive = %v, want %v", name, live[name], want)
		}
	}
	if q, _ := st.GetQuota(ctx, "alice"); q.Active != 3 {
		t.Errorf("alice holds %d slots, want 3 (the kept sandbox and the two creates at work)", q.Active)
	}
	for _, sb := range []*sandstep.Sandbox{unrecorded, unrecordedBare} {
		if _, err := st.GetSandbox(ctx, sb.ID); sandstep.ErrorCode(err) != sandstep.ENOTFOUND {
			t.Errorf("a record was made up for %s: %v", sb.ID, err)
		}
	}

	// Nothing is left to do: a second pass finds nothing.
	again, err := svc.Reap(ctx, ReapOptions{})
	if err != nil || *again != (ReapReport{}) {
		t.Errorf("second pass = %+v, %v; want nothing", again, err)
	}
}

func TestReapNeedsItsRoles(t *testing.T) {
	h := newHarness(t, 1)
	if _, err := h.svc.Reap(context.Background(), ReapOptions{}); err == nil {
		t.Fatal("Reap without Inventory and Catalog did not fail")
	}
}

// A dry run finds what a run would deal with and changes nothing; a run
// with a small budget leaves the rest to the next.
func TestReapDryRunAndBudget(t *testing.T) {
	ctx := context.Background()
	h := newFaultHarness(t, 10)
	for range 3 {
		h.provider.sandboxes[NewSandboxID()] = &fakeSandbox{id: "dt-" + NewSandboxID(), state: "started",
			labels: map[string]string{LabelDeployment: testDeployment}}
	}
	dry, err := h.reaper.Reap(ctx, ReapOptions{DryRun: true})
	if err != nil || !dry.DryRun || dry.Unowned != 3 || len(h.provider.live()) != 3 {
		t.Fatalf("dry run = %+v, %v with %d left; want 3 unowned found, none deleted", dry, err, len(h.provider.live()))
	}
	first, err := h.reaper.Reap(ctx, ReapOptions{MaxActions: 2})
	if err != nil || first.Unowned != 2 || first.Deferred != 1 || len(h.provider.live()) != 1 {
		t.Fatalf("budget of 2 = %+v, %v with %d left; want 2 done, 1 deferred", first, err, len(h.provider.live()))
	}
	second, err := h.reaper.Reap(ctx, ReapOptions{MaxActions: 2})
	if err != nil || second.Unowned != 1 || second.Deferred != 0 || len(h.provider.live()) != 0 {
		t.Fatalf("next run = %+v, %v; want the last one done", second, err)
	}
}

// A counter that drifted from the slots held is set right, and a slot held
// for a final record is released.
func TestReapRepairsQuota(t *testing.T) {
	ctx := context.Background()
	h := newFaultHarness(t, 10)
	sb, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	// The record final, the slot still held: a release that failed.
	if _, err := h.store.TransitionSandbox(ctx, sb.ID, []sandstep.State{sandstep.StateReady}, sandstep.StateDeleted, nil); err != nil {
		t.Fatal(err)
	}
	delete(h.provider.sandboxes, sb.ID)
	// And a counter off by three for bob, who holds nothing.
	if err := h.store.SetUserLimit(ctx, "bob", sandstep.Quota{}, 5); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		tmp := &sandstep.Sandbox{ID: NewSandboxID(), Owner: "bob", State: sandstep.StateCreating, CreatedAt: h.clock.Now()}
		if err := h.store.ReserveSlot(ctx, tmp); err != nil {
			t.Fatal(err)
		}
		if err := h.store.RecordCreating(ctx, tmp); err != nil {
			t.Fatal(err)
		}
		if _, err := h.store.TransitionSandbox(ctx, tmp.ID, []sandstep.State{sandstep.StateCreating}, sandstep.StateFailed, nil); err != nil {
			t.Fatal(err)
		}
	}
	rep := h.reap(t)
	if rep.Slots != 4 {
		t.Errorf("reaper = %+v, want 4 slots released", rep)
	}
	h.checkNothingLeaked(t)
	for _, u := range []string{"alice", "bob"} {
		if q, _ := h.store.GetQuota(ctx, u); q.Active != 0 {
			t.Errorf("%s holds %d", u, q.Active)
		}
	}
}

// newReaper is a service over st and p that reaps, reading the records
// through inv and listing through cat.
func newReaper(t *testing.T, st *store.Store, p *fakeProvider, inv Inventory, cat Catalog) *Service {
	t.Helper()
	svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st, Inventory: inv, Catalog: cat},
		Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment)})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// countingInventory counts the reaper's reads of the counters: with the
// live records, or one user's.
type countingInventory struct {
	*store.Store
	heldScans int
}

func (c *countingInventory) LiveRecords(ctx context.Context) (*sandstep.Live, error) {
	c.heldScans++
	return c.Store.LiveRecords(ctx)
}

func (c *countingInventory) Counter(ctx context.Context, userID string) (int, []sandstep.Slot, []sandstep.Slot, error) {
	c.heldScans++
	return c.Store.Counter(ctx, userID)
}

// A counter that drifted with no slot to release is found by a dry run,
// left to the next run when the budget is spent, then repaired; a run
// reads the counters once, with the records, and a stray's owner's again
// after the listing, only when a listed sandbox has no owner in that read.
func TestReapRepairsDriftedCounter(t *testing.T) {
	ctx := context.Background()
	st, client, table := storetest.New(t, store.Options{DefaultQuota: 10})
	p := newFakeProvider()
	inv := &countingInventory{Store: st}
	svc := newReaper(t, st, p, inv, p)
	if _, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{}); err != nil {
		t.Fatal(err)
	}
	// Alice holds one slot; her counter says three, behind the store's back.
	if _, err := client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(table),
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "USER#alice"},
			"SK": &types.AttributeValueMemberS{Value: "QUOTA"}},
		UpdateExpression:          aws.String("SET active = :n"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: "3"}},
	}); err != nil {
		t.Fatal(err)
	}
	reap := func(opts ReapOptions, want ReapReport, active, scans int) {
		t.Helper()
		inv.heldScans = 0
		rep, err := svc.Reap(ctx, opts)
		if err != nil || *rep != want {
			t.Errorf("Reap(%+v) = %+v, %v; want %+v", opts, rep, err, want)
		}
		if inv.heldScans != scans {
			t.Errorf("Reap(%+v) scanned the counters %d times, want %d", opts, inv.heldScans, scans)
		}
		if q, _ := st.GetQuota(ctx, "alice"); q.Active != active {
			t.Errorf("after Reap(%+v) alice's counter = %d, want %d", opts, q.Active, active)
		}
	}
	reap(ReapOptions{DryRun: true}, ReapReport{DryRun: true, Quota: 1}, 3, 1)
	// A stray sandbox spends the budget of one before the counters' turn;
	// owned by nothing read, it has its owner's counter read again.
	p.sandboxes["stray"] = &fakeSandbox{id: "dt-stray", state: "started", labels: map[string]string{LabelDeployment: testDeployment, LabelOwner: "bob"}}
	reap(ReapOptions{MaxActions: 1}, ReapReport{Unowned: 1, Deferred: 1}, 3, 2)
	reap(ReapOptions{}, ReapReport{Quota: 1}, 1, 1)
	reap(ReapOptions{}, ReapReport{}, 1, 1)
}

// listAfter is a catalog that runs before ahead of each listing.
type listAfter struct {
	*fakeProvider
	before func()
}

func (l listAfter) List(ctx context.Context, labels map[string]string) ([]ProviderSandbox, error) {
	l.before()
	return l.fakeProvider.List(ctx, labels)
}

// A create that takes its slot after the reaper's read of the records and
// counters, and whose sandbox the listing shows, is a create at work, not
// an unowned sandbox: the reaper reads its owner's counter again before it
// judges.
func TestReapLeavesACreateAfterItsScanAlone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		record bool // the create wrote its creating record too
	}{
		{"slot taken, record not written yet", false},
		{"slot taken and creating record written", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 10})
			p := newFakeProvider()
			sb := &sandstep.Sandbox{ID: NewSandboxID(), Owner: "alice", State: sandstep.StateCreating, CreatedAt: time.Now()}
			cat := listAfter{p, func() {
				if err := st.ReserveSlot(ctx, sb); err != nil {
					t.Errorf("reserve: %v", err)
				}
				if tc.record {
					if err := st.RecordCreating(ctx, sb); err != nil {
						t.Errorf("record: %v", err)
					}
				}
				p.sandboxes[sb.ID] = &fakeSandbox{id: "dt-" + sb.ID, state: "started",
					labels: map[string]string{LabelDeployment: testDeployment, LabelOwner: sb.Owner}}
			}}
			svc := newReaper(t, st, p, st, cat)
			rep, err := svc.Reap(ctx, ReapOptions{})
			if err != nil || *rep != (ReapReport{}) {
				t.Errorf("Reap = %+v, %v; want nothing found, nothing failed", rep, err)
			}
			if p.sandboxes[sb.ID] == nil {
				t.Error("the create's sandbox was deleted")
			}
			if q, err := st.GetQuota(ctx, "alice"); err != nil || q.Active != 1 {
				t.Errorf("alice's quota %+v, %v; want the create's slot held", q, err)
			}
		})
	}
}

// A slot kept by an earlier layout is found by the run's share of a
// sweep, folded onto its counter before the run reads the live records,
// and judged in the same run: its sandbox long gone, it is released;
// another's sandbox, still there, is its owner's. A dry run sweeps
// nothing: it judges what the index holds (here not the counter, written
// by the earlier version), and when it reads the counters again for a
// stray, takes such a slot for held, its sandbox for its owner's and the
// counter for right; it changes nothing.
func TestReapJudgesFoldedSlots(t *testing.T) {
	for _, tt := range []struct {
		dryRun, listed bool // listed: sbx_kept's sandbox and a stray are there too
	}{{false, false}, {true, false}, {false, true}, {true, true}} {
		t.Run(fmt.Sprintf("dry run %v, listed %v", tt.dryRun, tt.listed), func(t *testing.T) {
			ctx := context.Background()
			st, client, table := storetest.New(t, store.Options{DefaultQuota: 10})
			p := newFakeProvider()
			av := func(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
			slot := func(id string, age time.Duration) map[string]types.AttributeValue {
				return map[string]types.AttributeValue{"PK": av("USER#old"), "SK": av("SLOT#" + id), "type": av("slot"), "userId": av("old"),
					"sandboxId": av(id), "state": av("committed"), "reservedAt": av(time.Now().Add(-age).Format(time.RFC3339Nano))}
			}
			active := 1
			items := []map[string]types.AttributeValue{slot("sbx_gone", 24*time.Hour)}
			if tt.listed {
				// sbx_kept's sandbox is there, held by its slot alone, and
				// a stray beside it: the run reads old's counter again.
				active++
				items = append(items, slot("sbx_kept", time.Minute))
				p.sandboxes["sbx_kept"] = &fakeSandbox{id: "dt-kept", state: "started", labels: map[string]string{LabelDeployment: testDeployment, LabelOwner: "old"}}
				p.sandboxes["stray"] = &fakeSandbox{id: "dt-stray", state: "started", labels: map[string]string{LabelDeployment: testDeployment}}
			}
			// The counter as the earlier version wrote it, without its
			// index key: a run's sweep gives it the key and folds the
			// slots onto it before the run reads the index.
			items = append(items, map[string]types.AttributeValue{"PK": av("USER#old"), "SK": av("QUOTA"), "type": av("quota"),
				"active": &types.AttributeValueMemberN{Value: strconv.Itoa(active)}})
			for _, item := range items {
				if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
					t.Fatal(err)
				}
			}
			svc := newReaper(t, st, p, st, p)
			want := ReapReport{Slots: 1, DryRun: tt.dryRun}
			if tt.dryRun {
				want.Slots = 0
			}
			if tt.listed {
				want.Unowned = 1 // the stray, not sbx_kept
			}
			if rep, err := svc.Reap(ctx, ReapOptions{DryRun: tt.dryRun}); err != nil || *rep != want {
				t.Errorf("Reap = %+v, %v; want %+v", rep, err, want)
			}
			wantActive := active - 1 // sbx_gone's released
			if tt.dryRun {
				wantActive = active
			}
			if q, err := st.GetQuota(ctx, "old"); err != nil || q.Active != wantActive {
				t.Errorf("quota %+v, %v; want %d held", q, err, wantActive)
			}
		})
	}
}

// An execution started before an upgrade (or during a rollback, as
// docs/runbooks/rollback.md describes) keeps running the earlier
// functions for up to the execution's timeout (14 h): its CreateSandbox
// step, run after the upgraded reaper's sweep of the day has ended, takes
// its slot as the earlier layout did (a USER#<u>/SLOT#<id> item, `active`
// incremented on the counter, no entry in `held`) and writes its record
// without the Live index key. No sweep comes for a day, so no fold. The
// current reaper must not take that counter for drifted: the slot is
// held (its owner's counter read again finds it, and the stray check
// already treats it as held), so the counter counts it rightly: the
// quota repair counts it too, or the owner could hold more sandboxes
// than their limit until the next day's sweep.
func TestReapCountsUnfoldedLegacySlotsAsHeld(t *testing.T) {
	ctx := context.Background()
	st, client, table := storetest.New(t, store.Options{DefaultQuota: 2})
	av := func(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
	p := newFakeProvider()
	svc := newReaper(t, st, p, st, p)

	// The upgraded deployment's first run sweeps the table (never swept):
	// the sweep of the day has ended.
	if rep, err := svc.Reap(ctx, ReapOptions{}); err != nil || *rep != (ReapReport{}) {
		t.Fatalf("first Reap = %+v, %v", rep, err)
	}

	// A sandbox the current version made.
	if _, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{}); err != nil {
		t.Fatal(err)
	}
	// The earlier version's create, as it wrote it: made here, then its
	// slot moved to the earlier layout and its record stripped of the key.
	old, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(table),
		Key:                      map[string]types.AttributeValue{"PK": av("USER#alice"), "SK": av("QUOTA")},
		UpdateExpression:         aws.String("REMOVE #h.#id"),
		ExpressionAttributeNames: map[string]string{"#h": "held", "#id": old.ID},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"PK": av("USER#alice"), "SK": av("SLOT#" + old.ID), "type": av("slot"), "userId": av("alice"),
		"sandboxId": av(old.ID), "state": av("committed"), "reservedAt": av(time.Now().Format(time.RFC3339Nano)),
	}}); err != nil {
		t.Fatal(err)
	}
	storetest.Unindex(t, client, table, "SBX#"+old.ID, "META")
	if q, err := st.GetQuota(ctx, "alice"); err != nil || q.Active != 2 {
		t.Fatalf("before the run: quota %+v, %v; want 2 held", q, err)
	}

	rep, err := svc.Reap(ctx, ReapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Quota != 0 || rep.Unowned != 0 {
		t.Errorf("Reap = %+v; want no counter repaired and nothing deleted: both of alice's sandboxes hold a slot", rep)
	}
	if q, err := st.GetQuota(ctx, "alice"); err != nil || q.Active != 2 {
		t.Errorf("after the run: quota %+v, %v; want 2 held (one in the earlier layout)", q, err)
	}
	// The limit is 2: a third sandbox is refused.
	if sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{}); err == nil {
		t.Errorf("a third sandbox %s was made over alice's limit of 2", sb.ID)
	} else {
		wantCode(t, err, sandstep.EQUOTA)
	}
}

// A sandbox its owner deletes between the reaper's read of the records
// and its listing is the delete's to finish: no finding, no failure.
func TestReapLeavesADeleteInFlightAlone(t *testing.T) {
	ctx := context.Background()
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 10})
	p := newFakeProvider()
	var svc *Service
	var id string
	cat := listAfter{p, func() {
		if _, err := svc.DeleteSandbox(ctx, alice(), id); err != nil {
			t.Errorf("the owner's delete: %v", err)
		}
	}}
	svc = newReaper(t, st, p, st, cat)
	sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	id = sb.ID
	rep, err := svc.Reap(ctx, ReapOptions{})
	if err != nil || *rep != (ReapReport{}) {
		t.Errorf("Reap = %+v, %v; want nothing found, nothing failed", rep, err)
	}
	if got, err := st.GetSandbox(ctx, id); err != nil || got.State != sandstep.StateDeleted {
		t.Errorf("record %+v, %v; want deleted by its owner", got, err)
	}
}

// slowDeleteProvider is fakeProvider whose Daytona deletes are counted,
// and whose first delete holds (as a delete Daytona takes its time over
// does) until release is closed, after telling entered.
type slowDeleteProvider struct {
	*fakeProvider
	mu      sync.Mutex
	deletes map[string]int
	held    bool
	entered chan struct{}
	release chan struct{}
}

func newSlowDeleteProvider() *slowDeleteProvider {
	return &slowDeleteProvider{fakeProvider: newFakeProvider(), deletes: map[string]int{},
		entered: make(chan struct{}), release: make(chan struct{})}
}

func (p *slowDeleteProvider) Delete(ctx context.Context, idOrName string) error {
	p.mu.Lock()
	p.deletes[idOrName]++
	hold := !p.held
	p.held = true
	p.mu.Unlock()
	if hold {
		close(p.entered)
		select {
		case <-p.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return p.fakeProvider.Delete(ctx, idOrName)
}

func (p *slowDeleteProvider) deleteCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.deletes {
		n += c
	}
	return n
}

// A delete at work (its record marked deleting, Daytona's delete under
// way) is not a half-done one: a reaper run on another instance meanwhile
// leaves it to that delete, as it leaves a create at work to its create,
// with no finding (a finding is a bug worth an alert) and no second
// delete at Daytona.
func TestReapLeavesADeleteAtDaytonaAlone(t *testing.T) {
	ctx := context.Background()
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 3})
	p := newSlowDeleteProvider()
	deps := Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st, Inventory: st, Catalog: p.fakeProvider}
	user, err := New(deps, Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment)})
	if err != nil {
		t.Fatal(err)
	}
	reaper, err := New(deps, Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment)})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := user.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := user.DeleteSandbox(ctx, alice(), sb.ID)
		done <- err
	}()
	<-p.entered // the user's delete is at Daytona, its record deleting
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	report, rerr := reaper.Reap(rctx, ReapOptions{})
	cancel()
	close(p.release)
	if err := <-done; err != nil {
		t.Errorf("the user's delete: %v", err)
	}
	if rerr != nil {
		t.Fatal(rerr)
	}
	if report.Findings() != 0 {
		t.Errorf("the reaper, run while a delete was at work, found %+v; want no finding: nothing had failed", *report)
	}
	if n := p.deleteCalls(); n != 1 {
		t.Errorf("Daytona was asked to delete the sandbox %d times; want once (the user's delete)", n)
	}
	if got, err := st.GetSandbox(ctx, sb.ID); err != nil || got.State != sandstep.StateDeleted {
		t.Errorf("the sandbox = %+v, %v; want deleted", got, err)
	}
}

// A listed sandbox without an owner label (no version of sandstep makes
// one) that no live record of the index owns is judged by its record, read
// again: a live one (the index lagging, here missing it) keeps it; none,
// or a name that is no sandbox id, leaves it unowned.
func TestReapJudgesAStrayWithoutOwnerByItsRecord(t *testing.T) {
	ctx := context.Background()
	st, client, table := storetest.New(t, store.Options{DefaultQuota: 10})
	p := newFakeProvider()
	svc := newReaper(t, st, p, st, p)
	sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	if sw, err := st.Sweep(ctx); err != nil || !sw.Done { // none due in the run
		t.Fatalf("sweep = %+v, %v", sw, err)
	}
	delete(p.sandboxes[sb.ID].labels, LabelOwner)
	// Its record and alice's counter as an earlier version wrote them
	// during an update: without their index key.
	storetest.Unindex(t, client, table, "SBX#"+sb.ID, "META")
	storetest.Unindex(t, client, table, "USER#alice", "QUOTA")
	unlabelled := map[string]string{LabelDeployment: testDeployment}
	norecord := NewSandboxID()
	p.sandboxes[norecord] = &fakeSandbox{id: "dt-norecord", state: "started", labels: unlabelled}
	p.sandboxes["not-an-id"] = &fakeSandbox{id: "dt-not-an-id", state: "started", labels: unlabelled}
	// A sandbox whose record is final, back under its name.
	ended, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DeleteSandbox(ctx, alice(), ended.ID); err != nil {
		t.Fatal(err)
	}
	p.sandboxes[ended.ID] = &fakeSandbox{id: "dt-ended", state: "started", labels: unlabelled}
	// An owner label that is no user id: not a create of ours either.
	p.sandboxes["bad-owner"] = &fakeSandbox{id: "dt-bad-owner", state: "started",
		labels: map[string]string{LabelDeployment: testDeployment, LabelOwner: "a#b"}}

	rep, err := svc.Reap(ctx, ReapOptions{})
	if err != nil || *rep != (ReapReport{Unowned: 4}) {
		t.Errorf("Reap = %+v, %v; want the four without a live record deleted", rep, err)
	}
	if left := slices.Collect(maps.Keys(p.sandboxes)); len(left) != 1 || left[0] != sb.ID {
		t.Errorf("sandboxes left: %v; want only %s, whose record is live", left, sb.ID)
	}
}

// failingSweep is a store whose sweeps fail, or leave items unindexed.
type failingSweep struct {
	*store.Store
	sw  *sandstep.Sweep
	err error
}

func (f failingSweep) Sweep(context.Context) (*sandstep.Sweep, error) { return f.sw, f.err }

// A sweep that fails, or leaves items it could not index, is counted, and
// the run goes on with the index as it is.
func TestReapGoesOnWhenItsSweepFails(t *testing.T) {
	for _, tt := range []struct {
		name   string
		sw     *sandstep.Sweep
		err    error
		failed int
	}{
		{"fails", nil, sandstep.Errorf(sandstep.ETRANSIENT, "the database is busy"), 1},
		{"leaves two", &sandstep.Sweep{Pages: 1, Failed: 2, Done: true}, nil, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 10})
			p := newFakeProvider()
			svc := newReaper(t, st, p, failingSweep{st, tt.sw, tt.err}, p)
			p.sandboxes["stray"] = &fakeSandbox{id: "dt-stray", state: "started", labels: map[string]string{LabelDeployment: testDeployment}}
			rep, err := svc.Reap(ctx, ReapOptions{})
			if err != nil || *rep != (ReapReport{Unowned: 1, Failed: tt.failed}) {
				t.Errorf("Reap = %+v, %v; want the stray deleted and %d failures counted", rep, err, tt.failed)
			}
		})
	}
}

// staleIndex is a store whose index still shows what it held earlier.
type staleIndex struct {
	*store.Store
	live *sandstep.Live
}

func (s staleIndex) LiveRecords(context.Context) (*sandstep.Live, error) { return s.live, nil }

// A create the index still shows in progress, long after it finished (the
// index lagging), is read again before its sandbox is deleted: a ready
// record keeps its sandbox and its slot.
func TestReapAbandonsOnlyACreateStillCreating(t *testing.T) {
	ctx := context.Background()
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 10})
	p := newFakeProvider()
	sb := &sandstep.Sandbox{ID: NewSandboxID(), Owner: "alice", State: sandstep.StateCreating,
		CreatedAt: time.Now().Add(-abandonedAfter - time.Minute)}
	if err := st.ReserveSlot(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordCreating(ctx, sb); err != nil {
		t.Fatal(err)
	}
	p.sandboxes[sb.ID] = &fakeSandbox{id: "dt-" + sb.ID, state: "started",
		labels: map[string]string{LabelDeployment: testDeployment, LabelOwner: "alice"}}
	if sw, err := st.Sweep(ctx); err != nil || !sw.Done { // none due in the run
		t.Fatalf("sweep = %+v, %v", sw, err)
	}
	then, err := st.LiveRecords(ctx)
	if err != nil || len(then.Sandboxes) != 1 || then.Sandboxes[0].State != sandstep.StateCreating {
		t.Fatalf("index = %+v, %v; want the create in progress", then, err)
	}
	if _, err := st.TransitionSandbox(ctx, sb.ID, []sandstep.State{sandstep.StateCreating}, sandstep.StateReady, func(r *sandstep.Sandbox) {
		r.DaytonaID = "dt-" + sb.ID
	}); err != nil {
		t.Fatal(err)
	}

	svc := newReaper(t, st, p, staleIndex{st, then}, p)
	rep, err := svc.Reap(ctx, ReapOptions{})
	if err != nil || *rep != (ReapReport{}) {
		t.Errorf("Reap = %+v, %v; want nothing done", rep, err)
	}
	if got, err := st.GetSandbox(ctx, sb.ID); err != nil || got.State != sandstep.StateReady {
		t.Errorf("record = %+v, %v; want still ready", got, err)
	}
	if _, ok := p.sandboxes[sb.ID]; !ok {
		t.Error("the ready sandbox was deleted on the index's stale word")
	}
	if q, err := st.GetQuota(ctx, "alice"); err != nil || q.Active != 1 {
		t.Errorf("quota = %+v, %v; want its slot held", q, err)
	}
}

// laggingCatalog is Daytona's listing before it has caught up: it lacks
// the sandboxes named in hide.
type laggingCatalog struct {
	*fakeProvider
	hide map[string]bool
}

func (l laggingCatalog) List(ctx context.Context, labels map[string]string) ([]ProviderSandbox, error) {
	all, err := l.fakeProvider.List(ctx, labels)
	var out []ProviderSandbox
	for _, ps := range all {
		if !l.hide[ps.Name] {
			out = append(out, ps)
		}
	}
	return out, err
}

// An execution started before an upgrade from a version without the Live
// index (or during a rollback across it, docs/runbooks/rollback.md) runs
// the earlier functions for up to 14 h, after the day's sweep (or the one
// the runbook's deleted sweep record starts) has ended. Its create that
// dies between its record (creating, written without the index key) and
// the commit leaves a held slot naming a creating record. The reaper reads
// that record, strongly, for the slot, and finds it 15 minutes abandoned;
// it must fail it, delete its Daytona sandbox and free the slot, as it
// does for the same record with the key, not leave it to the next sweep,
// a day later.
func TestReapAbandonsACreateMissingFromTheIndex(t *testing.T) {
	for _, tt := range []struct {
		name    string
		unindex bool
	}{{"record with the index key", false}, {"record of the earlier version", true}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clk := &settableClock{t: time.Now()}
			st, client, table := storetest.New(t, store.Options{DefaultQuota: 10, Now: clk.Now})
			p := newFakeProvider()
			svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st, Inventory: st, Catalog: p},
				Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			if rep, err := svc.Reap(ctx, ReapOptions{}); err != nil || *rep != (ReapReport{}) {
				t.Fatalf("first Reap (its sweep ends) = %+v, %v", rep, err)
			}
			// The create: its slot, its record, Daytona's sandbox; then it dies.
			sb := &sandstep.Sandbox{ID: "sbx_" + randomID(), Owner: "alice", State: sandstep.StateCreating}
			if err := st.ReserveSlot(ctx, sb); err != nil {
				t.Fatal(err)
			}
			if err := st.RecordCreating(ctx, sb); err != nil {
				t.Fatal(err)
			}
			p.sandboxes[sb.ID] = &fakeSandbox{id: "dt-" + sb.ID, state: "started",
				labels: map[string]string{LabelDeployment: testDeployment, LabelOwner: "alice", LabelID: sb.ID}}
			if tt.unindex {
				storetest.Unindex(t, client, table, "SBX#"+sb.ID, "META")
			}
			clk.Set(clk.Now().Add(abandonedAfter + time.Minute))
			rep, err := svc.Reap(ctx, ReapOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Abandoned != 1 {
				t.Errorf("Reap = %+v; want the abandoned create found", rep)
			}
			if rec, err := st.GetSandbox(ctx, sb.ID); err != nil || rec.State != sandstep.StateFailed {
				t.Errorf("record %+v, %v; want failed", rec, err)
			}
			if len(p.live()) != 0 {
				t.Errorf("the abandoned create's sandbox still runs: %v", p.live())
			}
			if q, err := st.GetQuota(ctx, "alice"); err != nil || q.Active != 0 {
				t.Errorf("quota %+v, %v; want the slot freed", q, err)
			}
		})
	}
}

// A ready record whose sandbox the listing lacks is marked gone only when
// Daytona's get does not find it either: the listing is eventually
// consistent, and a record wrongly gone would leave its running sandbox
// unowned, deleted by the next run.
func TestReapAsksAgainBeforeMarkingGone(t *testing.T) {
	for _, tt := range []struct {
		name   string
		delete bool // the sandbox is really gone
		want   ReapReport
		state  sandstep.State
	}{
		{"the listing lags", false, ReapReport{}, sandstep.StateReady},
		{"the sandbox is gone", true, ReapReport{Gone: 1}, sandstep.StateGone},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 10})
			p := newFakeProvider()
			svc := newReaper(t, st, p, st, laggingCatalog{p, map[string]bool{}})
			sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
			if err != nil {
				t.Fatal(err)
			}
			if sw, err := st.Sweep(ctx); err != nil || !sw.Done {
				t.Fatalf("sweep = %+v, %v", sw, err)
			}
			svc.catalog.(laggingCatalog).hide[sb.ID] = true
			if tt.delete {
				delete(p.sandboxes, sb.ID)
			}
			rep, err := svc.Reap(ctx, ReapOptions{})
			if err != nil || *rep != tt.want {
				t.Errorf("Reap = %+v, %v; want %+v", rep, err, tt.want)
			}
			if got, err := st.GetSandbox(ctx, sb.ID); err != nil || got.State != tt.state {
				t.Errorf("record = %+v, %v; want %s", got, err, tt.state)
			}
		})
	}
}

// A sandbox past its deadline that the index (and Daytona's listing)
// still show ready is read again first: one its owner deleted, whose
// delete crashed once it was marked deleting, or whose life was moved
// since (a task's collect outliving its deadline moves it), is not reaped
// as expired, and no reaper's audit event says otherwise. The crashed
// delete is finished by the next run, whose index shows it deleting.
func TestReapExpiresOnlyASandboxStillAlive(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, svc *Service, st *store.Store, id string)
		want sandstep.State // the record after the run on the stale index
	}{
		{name: "deleted by its owner", want: sandstep.StateDeleted, end: func(t *testing.T, svc *Service, _ *store.Store, id string) {
			if _, err := svc.DeleteSandbox(context.Background(), alice(), id); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "its delete crashed once marked", want: sandstep.StateDeleting, end: func(t *testing.T, _ *Service, st *store.Store, id string) {
			if _, err := st.TransitionSandbox(context.Background(), id, []sandstep.State{sandstep.StateReady}, sandstep.StateDeleting, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "its life moved since", want: sandstep.StateReady, end: func(t *testing.T, _ *Service, st *store.Store, id string) {
			if _, err := st.TransitionSandbox(context.Background(), id, []sandstep.State{sandstep.StateReady}, sandstep.StateReady, func(r *sandstep.Sandbox) {
				r.TTLMinutes += 60 + int(abandonedAfter/time.Minute)
			}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			svc, st, p, clk, sb := reaperWithSandbox(t)
			then, err := st.LiveRecords(ctx)
			if err != nil || len(then.Sandboxes) != 1 {
				t.Fatalf("index = %+v, %v; want the sandbox", then, err)
			}
			p.mu.Lock()
			listed := p.sandboxes[sb.ID]
			p.mu.Unlock()
			tt.end(t, svc, st, sb.ID)
			p.mu.Lock()
			p.sandboxes[sb.ID] = listed // Daytona's listing lags too
			p.mu.Unlock()
			clk.Set(clk.Now().Add(time.Duration(sb.TTLMinutes)*time.Minute + abandonedAfter + time.Minute))

			svc.inventory = staleIndex{st, then}
			rep, err := svc.Reap(ctx, ReapOptions{})
			if err != nil || rep.Expired != 0 || rep.Failed != 0 {
				t.Errorf("Reap = %+v, %v; want nothing expired", rep, err)
			}
			if got, err := st.GetSandbox(ctx, sb.ID); err != nil || got.State != tt.want {
				t.Errorf("record = %+v, %v; want %s", got, err, tt.want)
			}
			events, _, err := st.ListAudit(ctx, sb.ID, "", 100, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range events {
				if ev.Action == ActionReap {
					t.Errorf("audit event %+v for a sandbox the reaper did not reap", ev)
				}
			}

			svc.inventory = st
			if _, err := svc.Reap(ctx, ReapOptions{}); err != nil {
				t.Fatal(err)
			}
			next := sandstep.StateDeleted
			if tt.want == sandstep.StateReady {
				next = tt.want // alive until its moved deadline
			}
			if got, err := st.GetSandbox(ctx, sb.ID); err != nil || got.State != next {
				t.Errorf("record after the next run = %+v, %v; want %s", got, err, next)
			}
		})
	}
}

// strayWithARecord makes alice a sandbox whose record ends (gone, its slot
// released) while Daytona still runs it: a stray with a record.
func strayWithARecord(t *testing.T, svc *Service) *sandstep.Sandbox {
	t.Helper()
	ctx := context.Background()
	sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.sandboxes.TransitionSandbox(ctx, sb.ID, []sandstep.State{sandstep.StateReady}, sandstep.StateGone, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.quota.ReleaseSlot(ctx, "alice", sb.ID); err != nil {
		t.Fatal(err)
	}
	return sb
}

// A sandbox whose record says it is over (here gone: an exec was told
// the sandbox was not found) but that still runs at Daytona is deleted by
// the reaper as a stray. architecture.md: "every change is also a WARN
// line, and a change to a sandbox or task an audit event of it"; the
// sandbox's owner and auditor must see in its trail that sandstep deleted
// a sandbox of theirs that was in fact still running.
func TestReapAuditsDeletingAStrayWithARecord(t *testing.T) {
	ctx := context.Background()
	p := newFakeProvider()
	svc, _, _ := newTaskService(t, p, withAuditLog)
	sb := strayWithARecord(t, svc)
	before := readSandboxEvents(t, svc, alice(), sb.ID)
	rep, err := svc.Reap(ctx, ReapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Unowned != 1 || len(p.live()) != 0 {
		t.Fatalf("reaper = %+v, Daytona runs %v; want the stray deleted", rep, p.live())
	}
	after := readSandboxEvents(t, svc, alice(), sb.ID)
	if len(after) == len(before) {
		t.Fatalf("sandbox %s was deleted at Daytona by the reaper, but its audit trail %v says nothing of it", sb.ID, actionsOf(after))
	}
	if ev := after[len(after)-1]; ev.Action != ActionReap || ev.Detail["finding"] != "unowned" || ev.UserID != "alice" {
		t.Errorf("the reaper's delete audited as %+v; want %s of alice's sandbox, finding unowned, as its other findings are", ev, ActionReap)
	}
}

// A sandbox whose record a delete of ours ended (its owner's, or the
// reaper's own a run before) stays in Daytona's listing while Daytona
// destroys it: no stray, neither deleted again nor audited as the
// reaper's (every run while Daytona destroys it would add another). One
// still destroying long after (its delete stuck at Daytona,
// daytonaio/daytona#3294, holding the organisation's quota) is a finding,
// deleted again, not left to Daytona for ever unseen.
func TestReapAuditsNoStrayDaytonaIsAlreadyDestroying(t *testing.T) {
	tests := []struct {
		name  string
		end   func(t *testing.T, svc *Service, clk *settableClock, id string)
		later time.Duration // from Daytona's start of the destroy to the run
		found bool          // the run finds it a stray, deleted again
		want  int           // sandbox.reap events its trail holds
	}{
		{name: "its owner deleted it", end: func(t *testing.T, svc *Service, _ *settableClock, id string) {
			if _, err := svc.DeleteSandbox(context.Background(), alice(), id); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "the reaper expired it a run ago", want: 1, end: func(t *testing.T, svc *Service, clk *settableClock, id string) {
			sb, err := svc.sandboxes.GetSandbox(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			clk.Set(clk.Now().Add(time.Duration(sb.TTLMinutes)*time.Minute + abandonedAfter + time.Minute))
			if rep, err := svc.Reap(context.Background(), ReapOptions{}); err != nil || rep.Expired != 1 {
				t.Fatalf("Reap = %+v, %v; want it expired", rep, err)
			}
		}},
		{name: "its owner deleted it, and Daytona is still destroying it two hours on", later: 2 * time.Hour, found: true, want: 1,
			end: func(t *testing.T, svc *Service, _ *settableClock, id string) {
				if _, err := svc.DeleteSandbox(context.Background(), alice(), id); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			p := newFakeProvider()
			svc, _, clk := newTaskService(t, p, withAuditLog)
			sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
			if err != nil {
				t.Fatal(err)
			}
			destroying := p.listedDestroying(sb.ID)
			tt.end(t, svc, clk, sb.ID)
			destroying(clk.Now()) // Daytona still lists it
			clk.Set(clk.Now().Add(tt.later))
			rep, err := svc.Reap(ctx, ReapOptions{})
			if err != nil {
				t.Fatal(err)
			}
			p.mu.Lock()
			_, still := p.sandboxes[sb.ID]
			p.mu.Unlock()
			if found := rep.Unowned == 1; found != tt.found || still == tt.found {
				t.Errorf("Reap = %+v, Daytona's sandbox deleted again: %v; want found and deleted again: %v", rep, !still, tt.found)
			}
			if reaps := countActions(readSandboxEvents(t, svc, alice(), sb.ID), ActionReap); reaps != tt.want {
				t.Errorf("trail holds %d sandbox.reap events; want %d", reaps, tt.want)
			}
		})
	}
}

// daytonaEndsAtTTL does what Daytona does at a sandbox's ttlMinutes (its
// hard lifetime, which the caller asked for): it destroys the sandbox, and
// the listing no longer shows it.
func daytonaEndsAtTTL(p *fakeProvider, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.sandboxes, name)
}

// A user asks for a sandbox that lives 30 minutes (ttlMinutes, "Daytona's
// hard lifetime") and lets it live that long. Daytona destroys it at its
// ttl, as asked. Nothing crashed and nothing failed: the reaper's next run,
// soon after or late, marks its record gone and releases its slot, and
// finds nothing (each finding is a `<stack>-reaper-<kind>` alarm).
func TestReapFindsNothingInASandboxThatLivedItsTTL(t *testing.T) {
	for _, tt := range []struct {
		name  string
		after time.Duration // past the deadline, when the reaper runs
	}{
		{name: "the run right after its ttl", after: time.Minute},
		{name: "a run 20 minutes after its ttl", after: 20 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			p := newFakeProvider()
			svc, st, clk := newTaskService(t, p, nil)
			ttl := 30
			sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{TTLMinutes: &ttl})
			if err != nil {
				t.Fatal(err)
			}
			// The reaper's runs while it lives find nothing.
			clk.Set(clk.Now().Add(10 * time.Minute))
			if rep, err := svc.Reap(ctx, ReapOptions{}); err != nil || rep.Findings() != 0 {
				t.Fatalf("reaper while the sandbox lives = %+v, %v; want nothing", rep, err)
			}
			clk.Set(sb.CreatedAt.Add(time.Duration(ttl) * time.Minute))
			daytonaEndsAtTTL(p, sb.ID)
			clk.Set(clk.Now().Add(tt.after))
			rep, err := svc.Reap(ctx, ReapOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Findings() != 0 || rep.Lived != 1 {
				t.Errorf("reaper after a sandbox lived its ttlMinutes = %+v: want no finding (each a reaper alarm) after ordinary use, one lived", *rep)
			}
			got, err := svc.sandboxes.GetSandbox(ctx, sb.ID)
			if err != nil || got.State != sandstep.StateGone {
				t.Errorf("record = %+v, %v; want gone", got, err)
			}
			if q, _ := st.GetQuota(ctx, "alice"); q.Active != 0 {
				t.Errorf("alice holds %d slot(s); want hers released", q.Active)
			}
		})
	}
}

// The same with agent-execute's keepSandbox: the caller keeps the sandbox
// and lets its lifetime (the default ttlMinutes) end it, as README's
// keepSandbox says ("until you delete the sandbox or its lifetime ...
// runs out"). The reaper's run after that lifetime finds nothing.
func TestReapFindsNothingInAKeptSandboxThatLivedItsTTL(t *testing.T) {
	ctx := context.Background()
	p := newFakeProvider()
	svc, st, clk := newTaskService(t, p, nil)
	res, err := svc.AgentExecute(ctx, alice(), AgentExecuteInput{Command: "make", KeepSandbox: true})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := st.GetSandbox(ctx, res.SandboxID)
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(sb.CreatedAt.Add(time.Duration(sb.TTLMinutes) * time.Minute))
	daytonaEndsAtTTL(p, sb.ID)
	clk.Set(clk.Now().Add(time.Minute))
	rep, err := svc.Reap(ctx, ReapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Findings() != 0 {
		t.Errorf("reaper after a kept sandbox lived its ttlMinutes = %+v: a reaper alarm after ordinary use", *rep)
	}
}

// A stray whose record ended long ago (here gone an hour before, its
// sandbox still running) is deleted by the reaper: one finding, one
// sandbox.reap. Daytona then lists it destroying for a while, as after
// any delete of ours. The next run, five minutes later, must find nothing
// ("a second run right after the first finds nothing"): its record ended
// long ago, yet the destroying is the reaper's own delete of a minute
// ago, not one stuck for an hour.
func TestAStrayTheReaperDeletedIsNotFoundAgainWhileDestroying(t *testing.T) {
	ctx := context.Background()
	p := newFakeProvider()
	svc, _, clk := newTaskService(t, p, withAuditLog)
	sb := strayWithARecord(t, svc)
	clk.Set(clk.Now().Add(time.Hour))
	destroying := p.listedDestroying(sb.ID)
	if rep, err := svc.Reap(ctx, ReapOptions{}); err != nil || rep.Unowned != 1 {
		t.Fatalf("first run = %+v, %v; want the stray deleted", rep, err)
	}
	destroying(clk.Now()) // Daytona lists it after the reaper's delete
	clk.Set(clk.Now().Add(5 * time.Minute))
	rep, err := svc.Reap(ctx, ReapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if reaps := countActions(readSandboxEvents(t, svc, alice(), sb.ID), ActionReap); rep.Findings() != 0 || reaps != 1 {
		t.Errorf("run after the reaper deleted a stray = %+v, trail holds %d sandbox.reap; want nothing found (an unowned alarm again for the reaper's own delete) and one sandbox.reap", *rep, reaps)
	}
}

// The run's log line carries every field of its report, so an operator
// reading the logs sees what the JSON answer says (lived and notices too,
// which are not findings).
func TestReapLogLineCarriesTheWholeReport(t *testing.T) {
	logs := &testutil.Buffer{}
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 10})
	p := newFakeProvider()
	svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st, Inventory: st, Catalog: p},
		Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := svc.Reap(context.Background(), ReapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	for l := range strings.SplitSeq(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "reaper" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no reaper line in the logs:\n%s", logs.String())
	}
	for k := range fields {
		if _, ok := line[k]; !ok {
			t.Errorf("the reaper's log line lacks %q, which its report has: %v", k, line)
		}
	}
}

// A record the listing lacks whose sandbox Daytona's get cannot say is
// gone (the get failed) is no finding yet: counted failed, left as it is,
// and asked about again by the next run.
func TestReapCountsAFailedGetOfAVanishedSandboxFailed(t *testing.T) {
	for _, dry := range []bool{false, true} {
		t.Run(fmt.Sprintf("dry run %v", dry), func(t *testing.T) {
			ctx := context.Background()
			p := newFakeProvider()
			svc, st, _ := newTaskService(t, p, nil)
			sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
			if err != nil {
				t.Fatal(err)
			}
			daytonaEndsAtTTL(p, sb.ID) // the listing lacks it
			p.failOn("get", sandstep.Errorf(sandstep.ETRANSIENT, "daytona down"))
			rep, err := svc.Reap(ctx, ReapOptions{DryRun: dry})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Failed != 1 || rep.Gone+rep.Lived+rep.Expired != 0 {
				t.Errorf("Reap = %+v; want one failed, nothing marked", *rep)
			}
			if got, err := st.GetSandbox(ctx, sb.ID); err != nil || got.State != sandstep.StateReady {
				t.Errorf("record = %+v, %v; want it left ready", got, err)
			}
		})
	}
}

// reaperWithSandbox is a service that reaps, on a clock the test sets,
// and a sandbox of alice's it made.
func reaperWithSandbox(t *testing.T) (*Service, *store.Store, *fakeProvider, *settableClock, *sandstep.Sandbox) {
	t.Helper()
	clk := &settableClock{t: time.Now()}
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 10, Now: clk.Now})
	p := newFakeProvider()
	svc := newReaper(t, st, p, st, p)
	svc.opts.Now = clk.Now
	sb, err := svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	return svc, st, p, clk, sb
}
