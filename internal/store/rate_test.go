package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/dynamo"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// rateStore is a store with a create rate of 2 a minute and quota 1,
// whose writes of the rate's items go through onRateWrite first.
type rateStore struct {
	st     *store.Store
	sdk    *dynamodb.Client
	clk    *clock
	writes atomic.Int32 // of the rate's items

	mu          sync.Mutex
	onRateWrite func(n int32) // n: this write's number, from 1
}

func newRateStore(t *testing.T) *rateStore {
	t.Helper()
	r := &rateStore{clk: newClock()}
	count := func(o *dynamo.Options) {
		o.Count = func(_ context.Context, in any) {
			b, _ := json.Marshal(in)
			if !strings.Contains(string(b), "RATE#") {
				return
			}
			n := r.writes.Add(1)
			r.mu.Lock()
			f := r.onRateWrite
			r.mu.Unlock()
			if f != nil {
				f(n)
			}
		}
	}
	r.st, r.sdk, _ = storetest.New(t, store.Options{DefaultQuota: 1, CreateRate: 2, CreateWindow: time.Minute, Now: r.clk.Now}, count)
	return r
}

func rateKey(window time.Time) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"PK": strAV("RATE#sandbox-create"),
		"SK": strAV("W#" + strconv.FormatInt(window.UnixMilli(), 10)),
	}
}

// addUsed adds n to the current window's creates, as another instance's
// take or give-back does.
func (r *rateStore) addUsed(t *testing.T, n int) {
	t.Helper()
	_, err := r.sdk.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{
		TableName:                 aws.String(storetest.Table),
		Key:                       rateKey(r.clk.Now().Truncate(time.Minute)),
		UpdateExpression:          aws.String("ADD used :n"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: strconv.Itoa(n)}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A window is filled for a moment by reservations that will give their
// creates back (their slots refused): a create the window has room for
// waits that out instead of being refused.
func TestReserveWaitsOutAPassingRefusal(t *testing.T) {
	r := newRateStore(t)
	c := ctx(t)
	if err := reserve(c, r.st, "u", "a"); err != nil {
		t.Fatal(err)
	}
	r.addUsed(t, 1) // another's take, its slot about to be refused
	r.mu.Lock()
	base := r.writes.Load()
	r.onRateWrite = func(n int32) {
		if n == base+2 { // the retake, after the refused take: the other gives its create back
			r.addUsed(t, -1)
		}
	}
	r.mu.Unlock()
	if err := reserve(c, r.st, "v", "b"); err != nil {
		t.Fatalf("a create while another's refusal passes: %v", err)
	}
	if q := quota(t, r.st, "v"); q.Active != 1 {
		t.Fatalf("v holds %d slots, want 1", q.Active)
	}
	// The window now holds both creates: refused, with nothing held.
	err := r.st.ReserveSlot(c, &sandstep.Sandbox{ID: "c", Owner: "w"})
	if !errors.Is(err, sandstep.ErrCreateRate) {
		t.Fatalf("a third create: %v, want ErrCreateRate", err)
	}
	if q := quota(t, r.st, "w"); q.Active != 0 {
		t.Fatalf("w holds %d slots after the refusal, want 0", q.Active)
	}
}

// In one process serving many calls (the local stack), a window seen
// spent may be full only of the process's own takes beside slots that are
// about to be refused: a reservation refused then, slot first, tries again
// instead of being sent to the next window.
func TestReserveSlotFirstWaitsOutItsOwnStoresPassingTake(t *testing.T) {
	r := newRateStore(t)
	c := ctx(t)
	if err := reserve(c, r.st, "u", "a"); err != nil { // u at quota, the window at 1 of 2
		t.Fatal(err)
	}
	xHolding, releaseX := make(chan struct{}), make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(releaseX) }) }
	t.Cleanup(release)
	xDone, xSettled := make(chan error, 1), make(chan struct{})
	r.mu.Lock()
	base := r.writes.Load()
	r.onRateWrite = func(n int32) {
		switch n {
		case base + 2: // x gives back the create it took beside its refused slot: not yet
			close(xHolding)
			<-releaseX
		case base + 5: // w's retake: x has given its create back by now
			release()
			<-xSettled
		}
	}
	r.mu.Unlock()
	go func() { // its take (base+1) fills the window
		defer close(xSettled)
		xDone <- reserve(c, r.st, "u", "x")
	}()
	<-xHolding
	// y's take (base+3) is refused beside its refused slot: the window is
	// now seen spent.
	wantCode(t, reserve(c, r.st, "u", "y"), sandstep.EQUOTA, "")
	// w, slot first, is refused (base+4) while x holds its take.
	if err := reserve(c, r.st, "w", "w"); err != nil {
		t.Fatalf("a create the window has room for once x settles: %v", err)
	}
	release()
	if err := <-xDone; sandstep.ErrorCode(err) != sandstep.EQUOTA {
		t.Fatalf("x, over quota: %v, want EQUOTA", err)
	}
	if got := r.used(t, r.clk.Now().Truncate(time.Minute)); got != "2" {
		t.Fatalf("the window holds %s creates, want 2 (a and w)", got)
	}
}

// A create that holds its slot and asks again for a create of the rate
// (after Daytona's 429) keeps the slot when the window refuses, whether
// the take runs beside the slot or after it: given back, another create
// of the owner's at quota could take it.
func TestRefusedRetakeKeepsAHeldSlot(t *testing.T) {
	r := newRateStore(t)
	c := ctx(t)
	if err := reserve(c, r.st, "u", "a"); err != nil {
		t.Fatal(err)
	}
	r.addUsed(t, 1)            // the window full
	r.clk.Advance(time.Second) // Daytona's 429 came a create's time later
	for _, path := range []string{"beside the slot", "slot first"} {
		if err := reserve(c, r.st, "u", "a"); !errors.Is(err, sandstep.ErrCreateRate) {
			t.Fatalf("%s: asked again in a full window: %v, want ErrCreateRate", path, err)
		}
		if q := quota(t, r.st, "u"); q.Active != 1 {
			t.Fatalf("%s: u holds %d slots after the refusal, want 1 (a's)", path, q.Active)
		}
	}
}

// A slot whose write landed but whose answer was lost is this call's
// take (the write tried again finds it held, with this take's time): a
// window that refuses the create gives it back, as it would any slot the
// call took.
func TestRefusedCreateGivesBackASlotWhoseAnswerWasLost(t *testing.T) {
	testLostSlotAnswers(t, 1)
}

// A slot whose answer is lost on every try is of unknown outcome: that,
// not the window's refusal, is the answer, so that the caller gives back
// what may be held (a refusal for the rate says nothing is).
func TestRefusedCreateAnswersASlotOfUnknownOutcome(t *testing.T) {
	testLostSlotAnswers(t, 1000)
}

// testLostSlotAnswers loses the answers of the first n writes of w's
// counter (each lands), while the window is full: n=1 one try's, more
// every try's.
func testLostSlotAnswers(t *testing.T, n int32) {
	clk := newClock()
	var armed atomic.Bool
	var tries, lost atomic.Int32
	lose := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			if !bytes.Contains(b, []byte("USER#w")) || !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".UpdateItem") || !armed.Load() || tries.Add(1) > n {
				h.ServeHTTP(w, r)
				return
			}
			h.ServeHTTP(httptest.NewRecorder(), r) // the write lands; its answer is lost
			lost.Add(1)
			answerLost(w)
		})
	}
	st, _ := storeBehind(t, lose, store.Options{CreateRate: 1, CreateWindow: time.Minute, Now: clk.Now})
	c := ctx(t)
	// w's counter exists (a first reservation makes it otherwise), and the
	// window is full.
	if err := st.SetUserLimit(c, "w", quota(t, st, "w"), 1); err != nil {
		t.Fatal(err)
	}
	if err := reserve(c, st, "u", "a"); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	err := st.ReserveSlot(c, &sandstep.Sandbox{ID: "b", Owner: "w"})
	if lost.Load() == 0 {
		t.Fatal("no answer of w's slot was lost: the test did not test")
	}
	if lost.Load() > 1 {
		// Every try's answer lost: the slot's outcome is the answer.
		if errors.Is(err, sandstep.ErrCreateRate) || sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
			t.Fatalf("a create whose slot's outcome is unknown: %v, want the slot's ETRANSIENT", err)
		}
		return
	}
	if !errors.Is(err, sandstep.ErrCreateRate) {
		t.Fatalf("a create in a full window: %v, want ErrCreateRate", err)
	}
	if q := quota(t, st, "w"); q.Active != 0 {
		t.Fatalf("w holds %d slots after the refusal, want 0", q.Active)
	}
}

// Once a window has refused a create, a reservation refused its slot
// does not touch the window: near the rate, it would fill it for others.
func TestReserveNearTheRateTakesTheSlotFirst(t *testing.T) {
	r := newRateStore(t)
	c := ctx(t)
	if err := reserve(c, r.st, "u", "a"); err != nil {
		t.Fatal(err)
	}
	before := r.writes.Load()
	wantCode(t, reserve(c, r.st, "u", "b"), sandstep.EQUOTA, "")
	if n := r.writes.Load() - before; n != 2 {
		t.Fatalf("a refused slot far from the rate: %d writes of the window, want 2 (the take beside the slot, the give-back)", n)
	}
	r.addUsed(t, 1) // the window full for a moment
	if err := r.st.ReserveSlot(c, &sandstep.Sandbox{ID: "c", Owner: "w"}); !errors.Is(err, sandstep.ErrCreateRate) {
		t.Fatalf("a create in a full window: %v, want ErrCreateRate", err)
	}
	r.addUsed(t, -1)
	before = r.writes.Load()
	wantCode(t, reserve(c, r.st, "u", "b"), sandstep.EQUOTA, "")
	if n := r.writes.Load() - before; n != 0 {
		t.Fatalf("a refused slot in a window seen spent: %d writes of the window, want 0", n)
	}
	if err := reserve(c, r.st, "w", "c"); err != nil {
		t.Fatalf("the window's second create, slot first: %v", err)
	}
	r.clk.Advance(time.Minute)
	before = r.writes.Load()
	wantCode(t, reserve(c, r.st, "u", "b"), sandstep.EQUOTA, "")
	if n := r.writes.Load() - before; n != 2 {
		t.Fatalf("a refused slot in the next window: %d writes of it, want 2 (beside the slot again)", n)
	}
}

// used is how many creates window holds.
func (r *rateStore) used(t *testing.T, window time.Time) string {
	t.Helper()
	return usedIn(t, r.sdk, window)
}

// A retake counts in the windows of its own moment: one within a window's
// last seconds counts in the next window too, as a reservation then would.
func TestRetakeCountsInTheWindowsOfItsMoment(t *testing.T) {
	r := newRateStore(t)
	c := ctx(t)
	r.clk.Advance(time.Minute - 2500*time.Millisecond) // outside the last 2 s
	window := r.clk.Now().Truncate(time.Minute)
	r.addUsed(t, 2) // filled for a moment by others' takes
	r.mu.Lock()
	base := r.writes.Load()
	r.onRateWrite = func(n int32) {
		switch n {
		case base + 1: // the take beside the slot, refused; time passes before the retake
			r.clk.Advance(time.Second)
		case base + 2: // the retake: the others have given theirs back
			r.addUsed(t, -2)
		}
	}
	r.mu.Unlock()
	if err := reserve(c, r.st, "v", "b"); err != nil {
		t.Fatalf("a retake once the window has room: %v", err)
	}
	if got, next := r.used(t, window), r.used(t, window.Add(time.Minute)); got != "1" || next != "1" {
		t.Fatalf("creates held: this window %s, the next %s; want 1 and 1", got, next)
	}
}

// A storm of creates refused for quota does not refuse, for the rate, the
// creates a window has room for, and the window ends holding exactly
// theirs: 20 users at their quota send 10 creates each while 25 users with
// room send one, all at once, against a rate of 30.
func TestRateExactUnderAQuotaRefusalStorm(t *testing.T) {
	clk := newClock()
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 1, CreateRate: 30, CreateWindow: time.Minute, Now: clk.Now})
	c := ctx(t)
	const full, storm, fresh = 20, 10, 25
	for u := range full {
		if err := reserve(c, st, fmt.Sprint("full", u), fmt.Sprint("held", u)); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Minute) // the storm in a window of its own
	var wg sync.WaitGroup
	var quotaRefused, made atomic.Int32
	errs := make(chan error, full*storm+fresh)
	start := make(chan struct{})
	for u := range full {
		for i := range storm {
			wg.Go(func() {
				<-start
				switch err := reserve(c, st, fmt.Sprint("full", u), fmt.Sprintf("more%d-%d", u, i)); sandstep.ErrorCode(err) {
				case sandstep.EQUOTA:
					quotaRefused.Add(1)
				default:
					errs <- fmt.Errorf("a create over quota: %v, want EQUOTA", err)
				}
			})
		}
	}
	for u := range fresh {
		wg.Go(func() {
			<-start
			if err := reserve(c, st, fmt.Sprint("fresh", u), fmt.Sprint("new", u)); err != nil {
				errs <- fmt.Errorf("a create with room in quota and window: %v", err)
				return
			}
			made.Add(1)
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if quotaRefused.Load() != full*storm || made.Load() != fresh {
		t.Fatalf("%d refused for quota, %d made; want %d and %d", quotaRefused.Load(), made.Load(), full*storm, fresh)
	}
	// The window holds the 25 creates made, no more and no fewer.
	extra := 0
	for ; extra < 30; extra++ {
		if err := reserve(c, st, fmt.Sprint("late", extra), fmt.Sprint("late", extra)); err != nil {
			if !errors.Is(err, sandstep.ErrCreateRate) {
				t.Fatal(err)
			}
			break
		}
	}
	if extra != 30-fresh {
		t.Fatalf("the window took %d more creates, want %d", extra, 30-fresh)
	}
}

// A refusal names a wait of at least a second, even when the window it
// refused in had ended by the time of the answer: a wait of zero or less
// would be a 503 without Retry-After.
func TestRateRefusalAtABoundaryNamesAWait(t *testing.T) {
	r := newRateStore(t)
	c := ctx(t)
	r.clk.Advance(time.Minute - 3*time.Second) // outside the last 2 s: one window
	if err := reserve(c, r.st, "u", "a"); err != nil {
		t.Fatal(err)
	}
	r.addUsed(t, 1) // the window full
	// u's slot is refused beside the window's create: the window is seen
	// spent, with no retake.
	wantCode(t, reserve(c, r.st, "u", "b"), sandstep.EQUOTA, "")
	r.mu.Lock()
	r.onRateWrite = func(int32) { r.clk.Advance(4 * time.Second) } // the answer comes past the boundary
	r.mu.Unlock()
	err := r.st.ReserveSlot(c, &sandstep.Sandbox{ID: "c", Owner: "v"})
	if !errors.Is(err, sandstep.ErrCreateRate) || sandstep.ErrorRetryAfter(err) < time.Second {
		t.Fatalf("a refusal answered after its window: %v (retry after %v), want ErrCreateRate with at least 1s", err, sandstep.ErrorRetryAfter(err))
	}
}

// Daytona's own 429 holds every instance's creates back for as long as it
// asked, no longer: the windows its wait overlaps take no create before
// it ends, and take their creates after.
func TestSpendCreatesHoldsBackForTheWaitOnly(t *testing.T) {
	type step struct {
		advance time.Duration // before the step
		spend   time.Duration // >0: a 429 asks for this wait
		refused time.Duration // >0: a create is refused, naming this wait; 0: made
	}
	tests := []struct {
		name  string
		start time.Duration // into the minute
		steps []step
	}{
		{
			name: "a second asked for at a minute's end holds the next a second, not a minute", start: 59500 * time.Millisecond,
			steps: []step{
				{spend: time.Second},
				{advance: 100 * time.Millisecond, refused: time.Second}, // 0.9 s left, named as 1 s
				{advance: 700 * time.Millisecond, refused: time.Second}, // the next minute, held 0.2 s more
				{advance: 300 * time.Millisecond},
			},
		},
		{
			name: "a wait inside a minute holds back only until it ends", start: 10 * time.Second,
			steps: []step{
				{spend: 5 * time.Second},
				{advance: 2 * time.Second, refused: 3 * time.Second},
				{advance: 3 * time.Second},
				{}, // the refusal took none of the minute's two creates
			},
		},
		{
			name: "a wait over minutes holds each back until it ends", start: 30 * time.Second,
			steps: []step{
				{spend: 100 * time.Second},
				{advance: 31 * time.Second, refused: 69 * time.Second},
				{advance: 64 * time.Second, refused: 5 * time.Second},
				{advance: 5 * time.Second},
			},
		},
		{
			name: "a shorter wait asked later keeps the longer", start: 10 * time.Second,
			steps: []step{
				{spend: 20 * time.Second},
				{advance: time.Second, spend: 2 * time.Second},
				{advance: 5 * time.Second, refused: 14 * time.Second},
				{advance: 14 * time.Second},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRateStore(t)
			c := ctx(t)
			r.clk.Advance(tt.start)
			made := 0
			for i, st := range tt.steps {
				r.clk.Advance(st.advance)
				if st.spend > 0 {
					if err := r.st.SpendCreates(c, r.clk.Now().Add(st.spend)); err != nil {
						t.Fatalf("step %d: SpendCreates: %v", i, err)
					}
					continue
				}
				user := fmt.Sprint("u", i)
				err := reserve(c, r.st, user, fmt.Sprint("sb", i))
				switch {
				case st.refused == 0 && err != nil:
					t.Fatalf("step %d at %s: %v, want made", i, r.clk.Now().Format(time.StampMilli), err)
				case st.refused == 0:
					made++
				case !errors.Is(err, sandstep.ErrCreateRate) || sandstep.ErrorRetryAfter(err) != st.refused:
					t.Fatalf("step %d at %s: %v (retry after %v), want ErrCreateRate naming %v", i, r.clk.Now().Format(time.StampMilli), err, sandstep.ErrorRetryAfter(err), st.refused)
				default:
					if q := quota(t, r.st, user); q.Active != 0 {
						t.Fatalf("step %d: %s holds %d slots after the refusal", i, user, q.Active)
					}
				}
			}
			if made == 0 {
				t.Fatal("no create made once the wait ended")
			}
		})
	}
}
