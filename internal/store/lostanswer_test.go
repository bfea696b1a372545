package store_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
)

// loseFirstAnswer lets the first request whose body holds marker and whose
// target ends with op land, and answers it with a 500 (its answer lost),
// as a timeout after the write landed would; the client then tries again.
func loseFirstAnswer(marker, op string, lost *atomic.Int32) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			if !bytes.Contains(b, []byte(marker)) || !strings.HasSuffix(r.Header.Get("X-Amz-Target"), op) || lost.Load() > 0 {
				h.ServeHTTP(w, r)
				return
			}
			h.ServeHTTP(httptest.NewRecorder(), r) // the write lands; its answer is lost
			lost.Add(1)
			answerLost(w)
		})
	}
}

// answerLost answers as DynamoDB does when it failed on its side: a 500,
// which the client tries again.
func answerLost(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}`)
}

// answerConflict answers as DynamoDB refuses a plain write of an item a
// transaction is at: TransactionConflictException, which writeRate tries
// again.
func answerConflict(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusBadRequest)
	io.WriteString(w, `{"__type":"com.amazonaws.dynamodb.v20120810#TransactionConflictException","message":"Transaction is ongoing for the item"}`)
}

// Each test below lets a single-item write land and loses its answer, so
// the client sends it again and the repeat's condition is refused by the
// write's own item: the store tells its own write from another's.

// A Begin whose write landed is not refused "in progress" by its own
// record (the request would then never run, its key refused until the
// in-progress expiry).
func TestBeginIdempotentWhoseAnswerWasLost(t *testing.T) {
	clk := newClock()
	var lost atomic.Int32
	st, _ := storeBehind(t, loseFirstAnswer("IDEM#u#k", ".PutItem", &lost), store.Options{Now: clk.Now})
	c := ctx(t)
	rec, err := st.BeginIdempotent(c, "u", "k", "h", "a1", clk.Now().Add(10*time.Minute))
	if lost.Load() == 0 {
		t.Fatal("no answer was lost: the test did not test")
	}
	if err != nil || rec != nil {
		t.Fatalf("first Begin (its write landed, its answer lost, tried again) = %v, %v; want nil, nil (proceed)", rec, err)
	}
}

// A commit whose write landed is not a conflict: the service would delete
// the sandbox it just made and answer 409.
func TestCommitSandboxWhoseAnswerWasLost(t *testing.T) {
	var lost atomic.Int32
	st, _ := storeBehind(t, loseFirstAnswer(`"state":{"S":"ready"}`, ".PutItem", &lost), store.Options{})
	c := ctx(t)
	sb := &sandstep.Sandbox{ID: "sbx1", Owner: "u", State: sandstep.StateCreating}
	if err := reserve(c, st, "u", "sbx1"); err != nil {
		t.Fatal(err)
	}
	sb.DaytonaID = "d1"
	err := st.CommitSandbox(c, sb)
	if lost.Load() == 0 {
		t.Fatal("no answer was lost: the test did not test")
	}
	got, gerr := st.GetSandbox(c, "sbx1")
	if gerr != nil {
		t.Fatal(gerr)
	}
	if err != nil {
		t.Fatalf("CommitSandbox whose write landed (record now %s, daytonaId %q) = %v; want nil", got.State, got.DaytonaID, err)
	}
}

// A transition whose write landed is not a conflict: markGone would then
// leave the slot held until the reaper.
func TestTransitionWhoseAnswerWasLost(t *testing.T) {
	var lost atomic.Int32
	st, _ := storeBehind(t, loseFirstAnswer(`"state":{"S":"gone"}`, ".PutItem", &lost), store.Options{})
	c := ctx(t)
	seed(t, c, st, &sandstep.Sandbox{ID: "sbx1", Owner: "u", State: sandstep.StateCreating, DaytonaID: "d1"})
	_, err := st.TransitionSandbox(c, "sbx1", []sandstep.State{sandstep.StateReady, sandstep.StateCreating}, sandstep.StateGone, nil)
	if lost.Load() == 0 {
		t.Fatal("no answer was lost: the test did not test")
	}
	if err != nil {
		got, _ := st.GetSandbox(c, "sbx1")
		t.Fatalf("TransitionSandbox whose write landed (record now %s) = %v; want the record", got.State, err)
	}
}

// An audit event whose write landed is not taken for another instance's
// under the same sort key and appended again.
func TestAuditEventWhoseAnswerWasLost(t *testing.T) {
	var lost atomic.Int32
	st, _ := storeBehind(t, loseFirstAnswer(`sandbox.exec`, ".PutItem", &lost), store.Options{})
	c := ctx(t)
	ev := sandstep.AuditEvent{Action: "sandbox.exec", UserID: "u", SandboxID: "sbx1", Outcome: "ok",
		Detail: map[string]string{"exitCode": "0"}}
	if err := st.AppendAudit(c, ev); err != nil {
		t.Fatal(err)
	}
	if lost.Load() == 0 {
		t.Fatal("no answer was lost: the test did not test")
	}
	got, _, err := st.ListAudit(c, "sbx1", "", 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("one AppendAudit (its first answer lost) left %d events: %+v; want 1", len(got), got)
	}
}

// A write whose answer was lost and whose item another writer changed
// before the retry is the other's: the retry's refusal stands.
func TestAWriteChangedBeforeItsRetryIsRefused(t *testing.T) {
	var st *store.Store
	var lost atomic.Int32
	lose := loseFirstAnswer(`"state":{"S":"deleting"}`, ".PutItem", &lost)
	changeThenLose := func(h http.Handler) http.Handler {
		inner := lose(h)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			before := lost.Load()
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, r)
			if lost.Load() > before {
				// The write landed; another finishes the delete before the
				// retry comes.
				if _, err := st.TransitionSandbox(r.Context(), "sbx1", []sandstep.State{sandstep.StateDeleting}, sandstep.StateGone, nil); err != nil {
					t.Errorf("the other writer: %v", err)
				}
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
		})
	}
	st, _ = storeBehind(t, changeThenLose, store.Options{})
	c := ctx(t)
	seed(t, c, st, &sandstep.Sandbox{ID: "sbx1", Owner: "u", State: sandstep.StateCreating, DaytonaID: "d1"})
	_, err := st.TransitionSandbox(c, "sbx1", []sandstep.State{sandstep.StateReady}, sandstep.StateDeleting, nil)
	if lost.Load() == 0 {
		t.Fatal("no answer was lost: the test did not test")
	}
	if sandstep.ErrorCode(err) != sandstep.ECONFLICT {
		got, _ := st.GetSandbox(c, "sbx1")
		t.Fatalf("TransitionSandbox whose item another changed before the retry (record now %s) = %v; want ECONFLICT", got.State, err)
	}
}

// A Complete whose update landed is not refused by its own completion
// (the service would log the record as not completed).
func TestCompleteIdempotentWhoseAnswerWasLost(t *testing.T) {
	clk := newClock()
	var armed atomic.Bool
	var lost atomic.Int32
	st, _ := storeBehind(t, loseFirstAnswerOnceArmed("IDEM#u#k", ".UpdateItem", &armed, &lost), store.Options{Now: clk.Now})
	c := ctx(t)
	if rec, err := st.BeginIdempotent(c, "u", "k", "h", "a1", clk.Now().Add(10*time.Minute)); err != nil || rec != nil {
		t.Fatalf("Begin = %v, %v", rec, err)
	}
	armed.Store(true)
	err := st.CompleteIdempotent(c, "u", "k", "a1", []byte(`{"ok":true}`))
	if lost.Load() == 0 {
		t.Fatal("no answer was lost: the test did not test")
	}
	if err != nil {
		t.Fatalf("CompleteIdempotent whose write landed (answer lost, tried again) = %v; want nil", err)
	}
}

// loseFirstAnswerOnceArmed is loseFirstAnswer, active only once armed.
func loseFirstAnswerOnceArmed(marker, op string, armed *atomic.Bool, lost *atomic.Int32) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		lose := loseFirstAnswer(marker, op, lost)(h)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if armed.Load() {
				lose.ServeHTTP(w, r)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

// A take of the create rate whose update landed, sent again after its
// answer was lost, is refused by its own take, not counted twice: one
// create would otherwise spend two of the window's budget.
func TestRateTakeWhoseAnswerWasLostIsCountedOnce(t *testing.T) {
	clk := newClock()
	var armed atomic.Bool
	var lost atomic.Int32
	armed.Store(true)
	st, _ := storeBehind(t, loseFirstAnswerOnceArmed("RATE#", ".UpdateItem", &armed, &lost),
		store.Options{CreateRate: 2, CreateWindow: time.Minute, Now: clk.Now})
	c := ctx(t)
	if err := reserve(c, st, "u", "a"); err != nil {
		t.Fatal(err)
	}
	if lost.Load() == 0 {
		t.Fatal("no answer was lost: the test did not test")
	}
	if err := reserve(c, st, "v", "b"); err != nil {
		t.Fatalf("second create of a window of 2 (the first's take had its answer lost) = %v; want nil", err)
	}
	if err := reserve(c, st, "w", "c"); err == nil {
		t.Fatal("a third create of a window of 2 was taken")
	}
}

// A create given back (its slot refused) whose give-back landed and whose
// answer was lost is given back once: sent again, a plain update would
// pass its condition (used > 0) again and give the window a create no
// one took.
func TestRateGiveBackWhoseAnswerWasLostIsGivenOnce(t *testing.T) {
	clk := newClock()
	var armed atomic.Bool
	var lost atomic.Int32
	st, _ := storeBehind(t, loseFirstAnswerOnceArmed(`"N":"-1"`, "", &armed, &lost),
		store.Options{DefaultQuota: 1, CreateRate: 3, CreateWindow: time.Minute, Now: clk.Now})
	c := ctx(t)
	for _, u := range []string{"u", "v"} {
		if err := reserve(c, st, u, "s-"+u); err != nil {
			t.Fatal(err)
		}
	}
	// u is at its quota: its take lands (3 used), its slot is refused, and
	// its create is given back (2), the answer lost.
	armed.Store(true)
	wantCode(t, reserve(c, st, "u", "s-u2"), sandstep.EQUOTA, "")
	armed.Store(false)
	if lost.Load() == 0 {
		t.Fatal("no give-back's answer was lost: the test did not test")
	}
	if err := reserve(c, st, "w", "s-w"); err != nil {
		t.Fatalf("the third create of a window of 3 = %v; want nil", err)
	}
	if err := reserve(c, st, "x", "s-x"); !errors.Is(err, sandstep.ErrCreateRate) {
		t.Fatalf("a fourth create of a window of 3 = %v; want ErrCreateRate (the lost give-back was applied twice)", err)
	}
}
