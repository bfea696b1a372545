package store_test

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/dynamo"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// An administrator's clear of a user's limit (DELETE
// /admin/users/{userId}/quota) is refused only by another administrator's
// change of the limit (README, Administration). The user's own creates
// and deletes change the counter's held slots, not the limit: one landing
// between the clear's read and its write must not turn the clear into a
// 503, as it never turns a set (an update of the limit alone) into one.
// Under a user's steady traffic (8 loops of create and delete) about one
// clear in five answered 503 transient.
func TestClearUserLimitWhileTheUserCreatesAndDeletes(t *testing.T) {
	tests := []struct {
		name string
		// between is what the user's traffic does between each of the
		// clear's reads and its write, the i-th time.
		between func(st *store.Store, r *http.Request, i int) error
	}{
		{name: "a create takes a slot", between: func(st *store.Store, r *http.Request, i int) error {
			return st.ReserveSlot(r.Context(), &sandstep.Sandbox{ID: "sb-" + strconv.Itoa(i), Owner: "alice"})
		}},
		{name: "a delete releases a slot", between: func(st *store.Store, r *http.Request, i int) error {
			_, err := st.ReleaseSlot(r.Context(), "alice", "held-"+strconv.Itoa(i))
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var st *store.Store
			var armed atomic.Bool
			var landed atomic.Int64
			traffic := func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					r.Body = io.NopCloser(bytes.NewReader(b))
					// The clear's write: its put of the counter, with its
					// event, in one transaction.
					if armed.Load() && strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".TransactWriteItems") &&
						bytes.Contains(b, []byte(`"Put"`)) && bytes.Contains(b, []byte(`"QUOTA"`)) {
						if err := tc.between(st, r, int(landed.Add(1))); err != nil {
							t.Errorf("the user's traffic: %v", err)
						}
					}
					h.ServeHTTP(w, r)
				})
			}
			st, _ = storeBehind(t, traffic, store.Options{DefaultQuota: 2})
			c := ctx(t)
			// Slots for the deletes to release; a limit big enough for
			// the creates.
			if err := st.SetUserLimit(c, "alice", sandstep.Quota{}, 50); err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 10; i++ {
				if err := st.ReserveSlot(c, &sandstep.Sandbox{ID: "held-" + strconv.Itoa(i), Owner: "alice"}); err != nil {
					t.Fatal(err)
				}
			}
			was := quota(t, st, "alice")
			armed.Store(true)
			ev := sandstep.AuditEvent{Action: "admin.quota.clear", UserID: "root", TargetUserID: "alice", Outcome: "ok"}
			err := st.ClearUserLimit(c, "alice", was, ev)
			armed.Store(false)
			if landed.Load() == 0 {
				t.Fatal("no traffic landed between the clear's read and its write: the test did not test")
			}
			if err != nil {
				t.Fatalf("clear of alice's limit, her own traffic landing %d time(s) meanwhile: %v (%s), want it cleared: no other administrator changed the limit",
					landed.Load(), err, sandstep.ErrorCode(err))
			}
			if q := quota(t, st, "alice"); q.LimitSet {
				t.Errorf("after the clear alice's quota is %+v, want the default", q)
			}
		})
	}
}

// A cleared limit is the default to every reader: the store's own (no
// override; creates held to the default), and a function version from
// before the clear's mark, which a running task's steps may be (it reads
// the number alone: the default's). A default changed since the clear
// applies.
func TestClearedLimitIsTheDefaultToEveryReader(t *testing.T) {
	var endpoint string
	st, client, table := storetest.New(t, store.Options{DefaultQuota: 1}, func(o *dynamo.Options) { endpoint = o.Endpoint })
	c := ctx(t)
	if err := st.SetUserLimit(c, "u", quota(t, st, "u"), 3); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if err := reserve(c, st, "u", id); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.ClearUserLimit(c, "u", quota(t, st, "u")); err != nil {
		t.Fatal(err)
	}
	if q := quota(t, st, "u"); q.LimitSet || q.Limit != 1 {
		t.Errorf("quota after the clear = %+v; want the default, 1, not set", q)
	}
	if n, ok := rawItem(t, client, table, "USER#u", "QUOTA")["limit"].(*types.AttributeValueMemberN); !ok || n.Value != "1" {
		t.Errorf("the counter's limit after the clear = %v; want the default's value, 1, for readers without the mark", n)
	}
	wantCode(t, reserve(c, st, "u", "c"), sandstep.EQUOTA, "")
	for _, id := range []string{"a", "b"} {
		if _, err := st.ReleaseSlot(c, "u", id); err != nil {
			t.Fatal(err)
		}
	}
	if err := reserve(c, st, "u", "d"); err != nil {
		t.Fatalf("the first slot under the default: %v", err)
	}
	wantCode(t, reserve(c, st, "u", "e"), sandstep.EQUOTA, "")
	// A deploy raises the default to 3: the cleared user gets it.
	raised, err := store.New(storetest.DB(t, endpoint), table, store.Options{DefaultQuota: 3, IdempotencyTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"e", "f"} {
		if err := reserve(c, raised, "u", id); err != nil {
			t.Fatalf("under the raised default: %v", err)
		}
	}
	wantCode(t, reserve(c, raised, "u", "g"), sandstep.EQUOTA, "")
	// And lowers it back to 1: no fourth, nor a second once they go.
	for _, id := range []string{"e", "f"} {
		if _, err := st.ReleaseSlot(c, "u", id); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, reserve(c, st, "u", "g"), sandstep.EQUOTA, "")
	if _, err := st.ReleaseSlot(c, "u", "d"); err != nil {
		t.Fatal(err)
	}
	// Set again: the override is in force, the mark gone.
	if err := st.SetUserLimit(c, "u", quota(t, st, "u"), 2); err != nil {
		t.Fatal(err)
	}
	if q := quota(t, st, "u"); !q.LimitSet || q.Limit != 2 {
		t.Errorf("quota after setting 2 = %+v; want 2, set", q)
	}
	for _, id := range []string{"h", "i"} {
		if err := reserve(c, st, "u", id); err != nil {
			t.Fatalf("under 2: %v", err)
		}
	}
	wantCode(t, reserve(c, st, "u", "j"), sandstep.EQUOTA, "")
	// Cleared under the default of 3 (the number 3 written), then read
	// under 1: the mark, not the number, says which applies.
	if err := raised.ClearUserLimit(c, "u", quota(t, raised, "u")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"h", "i"} {
		if _, err := st.ReleaseSlot(c, "u", id); err != nil {
			t.Fatal(err)
		}
	}
	if err := reserve(c, st, "u", "k"); err != nil {
		t.Fatalf("the one slot of the default: %v", err)
	}
	wantCode(t, reserve(c, st, "u", "l"), sandstep.EQUOTA, "")
}
