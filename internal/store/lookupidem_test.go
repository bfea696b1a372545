package store_test

import (
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// LookupIdempotent answers as BeginIdempotent would, and writes nothing:
// the key it found free is still free for another request.
func TestLookupIdempotentAnswersAsBeginWritingNothing(t *testing.T) {
	tests := []struct {
		name string
		// set leaves the key "k" in the state looked at.
		set      func(t *testing.T, st *store.Store, clk *clock)
		wantCode sandstep.Code
		wantRec  bool
		// freeFor, where the key is free, is a request hash Begin then
		// proceeds with (a crashed attempt is taken over only by its own).
		freeFor string
	}{
		{name: "no record", freeFor: "hashC", set: func(*testing.T, *store.Store, *clock) {}},
		{name: "in progress", wantCode: sandstep.ECONFLICT, set: func(t *testing.T, st *store.Store, clk *clock) {
			begin(t, st, "hashA", clk.Now().Add(time.Minute))
		}},
		{name: "in progress past its expiry", freeFor: "hashA", set: func(t *testing.T, st *store.Store, clk *clock) {
			begin(t, st, "hashA", clk.Now().Add(time.Minute))
			clk.Advance(2 * time.Minute)
		}},
		{name: "another request's", wantCode: sandstep.ECONFLICT, set: func(t *testing.T, st *store.Store, clk *clock) {
			begin(t, st, "hashB", clk.Now().Add(time.Minute))
		}},
		{name: "completed", wantRec: true, set: func(t *testing.T, st *store.Store, clk *clock) {
			begin(t, st, "hashA", clk.Now().Add(time.Minute))
			if err := st.CompleteIdempotent(t.Context(), "u", "k", "a1", []byte(`{"id":"s1"}`)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "completed and expired", freeFor: "hashC", set: func(t *testing.T, st *store.Store, clk *clock) {
			begin(t, st, "hashA", clk.Now().Add(time.Minute))
			if err := st.CompleteIdempotent(t.Context(), "u", "k", "a1", []byte(`{"id":"s1"}`)); err != nil {
				t.Fatal(err)
			}
			clk.Advance(4 * time.Hour)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			st, _, _ := storetest.New(t, store.Options{Now: clk.Now, IdempotencyTTL: 3 * time.Hour})
			tt.set(t, st, clk)
			rec, err := st.LookupIdempotent(t.Context(), "u", "k", "hashA")
			if got := sandstep.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("LookupIdempotent = %v (%q), want code %q", err, got, tt.wantCode)
			}
			if (rec != nil) != tt.wantRec || (rec != nil && string(rec.Response) != `{"id":"s1"}`) {
				t.Fatalf("LookupIdempotent record = %+v, want one: %v", rec, tt.wantRec)
			}
			if tt.freeFor != "" {
				// The lookup held nothing.
				if rec, err := st.BeginIdempotent(t.Context(), "u", "k", tt.freeFor, "a9", clk.Now().Add(time.Minute)); err != nil || rec != nil {
					t.Fatalf("Begin of %s after the lookup = %v, %v; want the key free", tt.freeFor, rec, err)
				}
			}
		})
	}
}

func begin(t *testing.T, st *store.Store, hash string, expiry time.Time) {
	t.Helper()
	if rec, err := st.BeginIdempotent(t.Context(), "u", "k", hash, "a1", expiry); err != nil || rec != nil {
		t.Fatalf("Begin = %v, %v", rec, err)
	}
}
