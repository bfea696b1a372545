package store_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandbox"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

func TestIdempotencyLifecycle(t *testing.T) {
	clk := newClock()
	st, _, _ := storetest.New(t, store.Options{Now: clk.Now})
	c := ctx(t)
	expiry := clk.Now().Add(30 * time.Second)

	// First call proceeds.
	rec, err := st.BeginIdempotent(c, "u", "k1", "hashA", expiry)
	if err != nil || rec != nil {
		t.Fatalf("first Begin = %v, %v; want nil, nil", rec, err)
	}
	// A retry while in progress is told so.
	_, err = st.BeginIdempotent(c, "u", "k1", "hashA", expiry)
	wantCode(t, err, sandbox.ECONFLICT, "")
	if !strings.Contains(sandbox.ErrorMessage(err), "in progress") {
		t.Errorf("in-progress message = %q", sandbox.ErrorMessage(err))
	}
	// Same key, another body: conflict.
	_, err = st.BeginIdempotent(c, "u", "k1", "hashB", expiry)
	wantCode(t, err, sandbox.ECONFLICT, "")
	if !strings.Contains(sandbox.ErrorMessage(err), "different request") {
		t.Errorf("mismatch message = %q", sandbox.ErrorMessage(err))
	}
	// The same key of another user is another record.
	if rec, err := st.BeginIdempotent(c, "v", "k1", "hashB", expiry); err != nil || rec != nil {
		t.Fatalf("other user's Begin = %v, %v", rec, err)
	}

	// Completed: the retry gets the stored response.
	if err := st.CompleteIdempotent(c, "u", "k1", []byte(`{"id":"s1"}`), 0); err != nil {
		t.Fatal(err)
	}
	rec, err = st.BeginIdempotent(c, "u", "k1", "hashA", clk.Now().Add(time.Minute))
	if err != nil || rec == nil {
		t.Fatalf("Begin after complete = %v, %v", rec, err)
	}
	if rec.Status != store.IdempotencyCompleted || string(rec.Response) != `{"id":"s1"}` || rec.RequestHash != "hashA" ||
		!rec.ExpiresAt.Equal(clk.Now().Add(store.DefaultIdempotencyTTL)) {
		t.Fatalf("completed record = %+v", rec)
	}
	_, err = st.BeginIdempotent(c, "u", "k1", "hashB", clk.Now().Add(time.Minute))
	wantCode(t, err, sandbox.ECONFLICT, "")
	// Completing or aborting a completed key is a conflict.
	wantCode(t, st.CompleteIdempotent(c, "u", "k1", []byte("x"), 0), sandbox.ECONFLICT, "")
	wantCode(t, st.AbortIdempotent(c, "u", "k1"), sandbox.ECONFLICT, "")

	// Expired (TTL passed, not yet deleted): as good as absent, any body.
	clk.Advance(store.DefaultIdempotencyTTL + time.Second)
	if rec, err := st.BeginIdempotent(c, "u", "k1", "hashB", clk.Now().Add(time.Minute)); err != nil || rec != nil {
		t.Fatalf("Begin after expiry = %v, %v; want nil, nil", rec, err)
	}
}

func TestIdempotencyCrashedAttemptTakenOver(t *testing.T) {
	clk := newClock()
	st, _, _ := storetest.New(t, store.Options{Now: clk.Now})
	c := ctx(t)
	if rec, err := st.BeginIdempotent(c, "u", "k", "h", clk.Now().Add(10*time.Second)); err != nil || rec != nil {
		t.Fatalf("Begin = %v, %v", rec, err)
	}
	clk.Advance(5 * time.Second)
	_, err := st.BeginIdempotent(c, "u", "k", "h", clk.Now().Add(10*time.Second))
	wantCode(t, err, sandbox.ECONFLICT, "")
	// The first attempt's Lambda timed out without completing.
	clk.Advance(6 * time.Second)
	// Another body still conflicts...
	_, err = st.BeginIdempotent(c, "u", "k", "other", clk.Now().Add(10*time.Second))
	wantCode(t, err, sandbox.ECONFLICT, "")
	// ...the same one takes over.
	if rec, err := st.BeginIdempotent(c, "u", "k", "h", clk.Now().Add(10*time.Second)); err != nil || rec != nil {
		t.Fatalf("takeover = %v, %v; want nil, nil", rec, err)
	}
	_, err = st.BeginIdempotent(c, "u", "k", "h", clk.Now().Add(10*time.Second))
	wantCode(t, err, sandbox.ECONFLICT, "")
}

func TestIdempotencyAbort(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{})
	c := ctx(t)
	if _, err := st.BeginIdempotent(c, "u", "k", "h", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := st.AbortIdempotent(c, "u", "k"); err != nil {
		t.Fatal(err)
	}
	// The retry proceeds at once, even with another body.
	if rec, err := st.BeginIdempotent(c, "u", "k", "h2", time.Now().Add(time.Minute)); err != nil || rec != nil {
		t.Fatalf("Begin after abort = %v, %v", rec, err)
	}
	if err := st.AbortIdempotent(c, "u", "never-used"); err != nil {
		t.Fatalf("abort of an unknown key: %v", err)
	}
	wantCode(t, st.CompleteIdempotent(c, "u", "never-used", nil, 0), sandbox.ECONFLICT, "")
}

func TestIdempotencyExpiryFromContext(t *testing.T) {
	clk := newClock()
	st, _, _ := storetest.New(t, store.Options{Now: clk.Now})
	// A Lambda context: deadline = now + remaining time.
	c, cancel := context.WithDeadline(ctx(t), time.Now().Add(time.Hour))
	defer cancel()
	dl, _ := c.Deadline()
	if got := store.InProgressExpiry(c, clk.Now()); !got.Equal(dl) {
		t.Fatalf("InProgressExpiry = %v, want the deadline %v", got, dl)
	}
	if got := store.InProgressExpiry(context.Background(), clk.Now()); !got.Equal(clk.Now().Add(store.DefaultInProgressTimeout)) {
		t.Fatalf("InProgressExpiry without deadline = %v", got)
	}
	if rec, err := st.BeginIdempotent(c, "u", "k", "h", time.Time{}); err != nil || rec != nil {
		t.Fatalf("Begin with zero expiry = %v, %v", rec, err)
	}
}

// TestIdempotencyConcurrentFirstCalls: of 50 concurrent first calls with
// one key exactly one proceeds; the others are told it is in progress.
func TestIdempotencyConcurrentFirstCalls(t *testing.T) {
	const workers = 50
	st, _, _ := storetest.New(t, store.Options{})
	c := ctx(t)
	for round := range 3 {
		key := "key-" + string(rune('a'+round))
		var proceeded, inProgress atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range workers {
			wg.Go(func() {
				<-start
				rec, err := st.BeginIdempotent(c, "u", key, "h", time.Now().Add(time.Minute))
				switch {
				case err == nil && rec == nil:
					proceeded.Add(1)
				case sandbox.ErrorCode(err) == sandbox.ECONFLICT && strings.Contains(sandbox.ErrorMessage(err), "in progress"):
					inProgress.Add(1)
				default:
					t.Errorf("unexpected Begin result %v, %v", rec, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if proceeded.Load() != 1 || inProgress.Load() != workers-1 {
			t.Fatalf("round %d: %d proceeded, %d in progress; want 1 and %d", round, proceeded.Load(), inProgress.Load(), workers-1)
		}
	}
}

func TestIdempotencyBadInput(t *testing.T) {
	clk := newClock()
	st, _, _ := storetest.New(t, store.Options{Now: clk.Now})
	c := ctx(t)
	later := clk.Now().Add(time.Minute)
	tests := []struct {
		name  string
		call  func() error
		code  sandbox.Code
		field string
	}{
		{"empty user", func() error { _, err := st.BeginIdempotent(c, "", "k", "h", later); return err }, sandbox.EINVALID, "userId"},
		{"empty key", func() error { _, err := st.BeginIdempotent(c, "u", "", "h", later); return err }, sandbox.EINVALID, "idempotencyKey"},
		{"key too long", func() error {
			_, err := st.BeginIdempotent(c, "u", strings.Repeat("k", store.MaxIdempotencyKeyLength+1), "h", later)
			return err
		}, sandbox.EINVALID, "idempotencyKey"},
		{"key with newline", func() error { _, err := st.BeginIdempotent(c, "u", "a\nb", "h", later); return err }, sandbox.EINVALID, "idempotencyKey"},
		{"empty hash", func() error { _, err := st.BeginIdempotent(c, "u", "k", "", later); return err }, sandbox.EINVALID, "requestHash"},
		{"expiry in the past", func() error {
			_, err := st.BeginIdempotent(c, "u", "k", "h", clk.Now().Add(-time.Second))
			return err
		}, sandbox.EINVALID, "inProgressExpiry"},
		{"response too large", func() error {
			return st.CompleteIdempotent(c, "u", "k", make([]byte, store.MaxIdempotencyResponseSize+1), 0)
		}, sandbox.ETOOLARGE, "response"},
		{"negative ttl", func() error { return st.CompleteIdempotent(c, "u", "k", nil, -time.Second) }, sandbox.EINVALID, "ttl"},
		{"abort empty user", func() error { return st.AbortIdempotent(c, "", "k") }, sandbox.EINVALID, "userId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.call(), tt.code, tt.field)
		})
	}
	// A key may hold '#': it is the last part of the partition key.
	if rec, err := st.BeginIdempotent(c, "u", "a#b", "h", later); err != nil || rec != nil {
		t.Fatalf("key with '#': %v, %v", rec, err)
	}
	if rec, err := st.BeginIdempotent(c, "u", "a", "h", later); err != nil || rec != nil {
		t.Fatalf("key 'a' must not collide with 'a#b': %v, %v", rec, err)
	}
}
