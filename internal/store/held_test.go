package store_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// A reservation is one write that keeps the slot with its time: what the
// reaper reads to tell a create at work from one that died.
func TestHeldSlotsKeepTheirTime(t *testing.T) {
	clk := newClock()
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 3, Now: clk.Now})
	c := ctx(t)
	first := clk.Now()
	if err := st.ReserveSlot(c, &sandstep.Sandbox{ID: "a", Owner: "u"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if err := st.ReserveSlot(c, &sandstep.Sandbox{ID: "c", Owner: "v"}); err != nil {
		t.Fatal(err)
	}
	if err := st.ReserveSlot(c, &sandstep.Sandbox{ID: "d", Owner: "u"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReleaseSlot(c, "u", "d"); err != nil {
		t.Fatal(err)
	}
	live, err := st.LiveRecords(c)
	if err != nil {
		t.Fatal(err)
	}
	held := live.Held
	want := map[string]sandstep.Slot{
		"a": {UserID: "u", SandboxID: "a", ReservedAt: first},
		"c": {UserID: "v", SandboxID: "c", ReservedAt: first.Add(time.Minute)},
	}
	if len(held) != len(want) {
		t.Fatalf("held = %+v, want %+v", held, want)
	}
	for _, sl := range held {
		if w := want[sl.SandboxID]; sl.UserID != w.UserID || !sl.ReservedAt.Equal(w.ReservedAt) {
			t.Errorf("held slot %+v, want %+v", sl, w)
		}
	}
}

// Slots kept as items by an earlier version are held until folded (the
// counter's repair counts them), move onto their counter once, still
// counted once, and release as any other.
func TestFoldLegacySlots(t *testing.T) {
	st, client, table := storetest.New(t, store.Options{DefaultQuota: 3})
	c := ctx(t)
	reservedAt := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	put := func(item map[string]types.AttributeValue) {
		t.Helper()
		if _, err := client.PutItem(c, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	// The earlier layout: a counter of 2 and a slot item per sandbox.
	put(map[string]types.AttributeValue{"PK": strAV("USER#old"), "SK": strAV("QUOTA"), "type": strAV("quota"),
		"active": &types.AttributeValueMemberN{Value: "2"}})
	for _, id := range []string{"x", "y"} {
		put(map[string]types.AttributeValue{"PK": strAV("USER#old"), "SK": strAV("SLOT#" + id), "type": strAV("slot"),
			"userId": strAV("old"), "sandboxId": strAV(id), "state": strAV("committed"), "reservedAt": strAV(reservedAt.Format(time.RFC3339Nano))})
	}
	put(map[string]types.AttributeValue{"PK": strAV("USER#old"), "SK": strAV("SLOT#z"), "type": strAV("slot"),
		"userId": strAV("old"), "sandboxId": strAV("z"), "state": strAV("released")})

	// Not folded yet, they are held: the counter is not drift.
	if counted, n, err := st.RepairQuota(c, "old", false); err != nil || counted != 2 || n != 2 {
		t.Fatalf("RepairQuota before the fold = %d, %d, %v; want 2 and 2", counted, n, err)
	}
	// A sweep finds the held ones, with their time, and so do the counters'
	// reads.
	found, err := st.Sweep(c)
	if err != nil || len(found.Legacy) != 2 || !found.Legacy[0].ReservedAt.Equal(reservedAt) || found.Legacy[0].UserID != "old" {
		t.Fatalf("legacy slots found = %+v, %v; want x and y of old", found, err)
	}
	if _, _, legacy, err := st.Counter(c, "old"); err != nil || !slices.Equal(legacy, found.Legacy) {
		t.Errorf("Counter's legacy slots = %+v, %v; want %+v", legacy, err, found.Legacy)
	}
	if n, err := st.FoldLegacySlots(c, found.Legacy); err != nil || n != 2 {
		t.Fatalf("FoldLegacySlots = %d, %v; want 2", n, err)
	}
	// Folded once: a read finds none, and slots folded meanwhile are left.
	if _, _, again, err := st.Counter(c, "old"); err != nil || len(again) != 0 {
		t.Fatalf("legacy slots after the fold = %+v, %v; want none", again, err)
	}
	if n, err := st.FoldLegacySlots(c, found.Legacy); err != nil || n != 0 {
		t.Fatalf("FoldLegacySlots of slots folded already = %d, %v; want 0", n, err)
	}
	_, held, _, err := st.Counter(c, "old")
	if err != nil || len(held) != 2 || !held[0].ReservedAt.Equal(reservedAt) {
		t.Fatalf("held after the fold = %+v, %v", held, err)
	}
	if counted, n, err := st.RepairQuota(c, "old", true); err != nil || counted != 2 || n != 2 {
		t.Fatalf("counter %d, held %d, %v: want 2 and 2", counted, n, err)
	}
	if released, err := st.ReleaseSlot(c, "old", "x"); err != nil || !released {
		t.Fatalf("release of a folded slot = %v, %v", released, err)
	}
	if q := quota(t, st, "old"); q.Active != 1 {
		t.Fatalf("active = %d, want 1", q.Active)
	}
}

// With a create rate, the slot and the window's create are taken side by
// side: a refused slot gives the create back, a spent window holds no slot.
func TestReserveTakesTheCreateRate(t *testing.T) {
	clk := newClock()
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 1, CreateRate: 2, CreateWindow: time.Minute, Now: clk.Now})
	c := ctx(t)
	if err := reserve(c, st, "u", "a"); err != nil {
		t.Fatal(err)
	}
	// u's quota is full: refused for it, and the window keeps its create.
	for range 3 {
		wantCode(t, reserve(c, st, "u", "b"), sandstep.EQUOTA, "")
	}
	if err := reserve(c, st, "v", "c"); err != nil {
		t.Fatalf("the window's second create: %v", err)
	}
	// The window is spent: refused with when to come back, nothing held.
	err := st.ReserveSlot(c, &sandstep.Sandbox{ID: "d", Owner: "w"})
	if !errors.Is(err, sandstep.ErrCreateRate) || sandstep.ErrorRetryAfter(err) <= 0 {
		t.Fatalf("spent window: %v, want ErrCreateRate with a retry-after", err)
	}
	if q := quota(t, st, "w"); q.Active != 0 {
		t.Fatalf("w holds %d slots after the refusal, want 0", q.Active)
	}
	clk.Advance(time.Minute)
	if err := reserve(c, st, "w", "d"); err != nil {
		t.Fatalf("next window: %v", err)
	}
}

// A create reserved at the very end of a window counts in the next one
// too: the provider counts it when it arrives, possibly past the boundary,
// so the next window must have room for it. Both are given back together.
func TestReserveAtAWindowsEndCountsInTheNext(t *testing.T) {
	clk := newClock() // on a minute's start
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 1, CreateRate: 2, CreateWindow: time.Minute, Now: clk.Now})
	c := ctx(t)
	clk.Advance(time.Minute - time.Second) // within the guard: 1 s before the boundary
	if err := reserve(c, st, "u", "a"); err != nil {
		t.Fatal(err)
	}
	// Refused its slot (u holds one): both windows get their create back.
	wantCode(t, reserve(c, st, "u", "b"), sandstep.EQUOTA, "")
	clk.Advance(2 * time.Second) // the next window
	if err := reserve(c, st, "v", "c"); err != nil {
		t.Fatalf("the next window's second create: %v", err)
	}
	err := st.ReserveSlot(c, &sandstep.Sandbox{ID: "d", Owner: "w"})
	if !errors.Is(err, sandstep.ErrCreateRate) {
		t.Fatalf("a third create in a window holding a's and c's: %v, want ErrCreateRate", err)
	}
	// Two creates at the end of the window after fill it and the next:
	// a third waits past both.
	clk.Advance(2*time.Minute - 2*time.Second) // 1 s before that window's end
	for _, u := range []string{"w", "x"} {
		if err := reserve(c, st, u, "s-"+u); err != nil {
			t.Fatalf("%s: a create at the end of a window with room in the next: %v", u, err)
		}
	}
	for _, step := range []time.Duration{0, 2 * time.Second} {
		clk.Advance(step)
		if err := st.ReserveSlot(c, &sandstep.Sandbox{ID: "f", Owner: "y"}); !errors.Is(err, sandstep.ErrCreateRate) {
			t.Fatalf("%v later: %v, want ErrCreateRate (both windows hold w's and x's)", step, err)
		}
	}
	clk.Advance(time.Minute)
	if err := reserve(c, st, "y", "f"); err != nil {
		t.Fatalf("the window after both: %v", err)
	}
}
