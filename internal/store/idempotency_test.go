package store_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

func TestIdempotencyLifecycle(t *testing.T) {
	clk := newClock()
	const ttl = 3 * time.Hour
	st, _, _ := storetest.New(t, store.Options{Now: clk.Now, IdempotencyTTL: ttl})
	c := ctx(t)
	expiry := clk.Now().Add(30 * time.Second)

	// First call proceeds.
	rec, err := st.BeginIdempotent(c, "u", "k1", "hashA", "a1", expiry)
	if err != nil || rec != nil {
		t.Fatalf("first Begin = %v, %v; want nil, nil", rec, err)
	}
	// A retry while in progress is told so.
	_, err = st.BeginIdempotent(c, "u", "k1", "hashA", "a2", expiry)
	wantCode(t, err, sandstep.ECONFLICT, "")
	if !strings.Contains(sandstep.ErrorMessage(err), "in progress") {
		t.Errorf("in-progress message = %q", sandstep.ErrorMessage(err))
	}
	// Same key, another body: conflict.
	_, err = st.BeginIdempotent(c, "u", "k1", "hashB", "a3", expiry)
	wantCode(t, err, sandstep.ECONFLICT, "")
	if !strings.Contains(sandstep.ErrorMessage(err), "different request") {
		t.Errorf("mismatch message = %q", sandstep.ErrorMessage(err))
	}
	// The same key of another user is another record.
	if rec, err := st.BeginIdempotent(c, "v", "k1", "hashB", "a1", expiry); err != nil || rec != nil {
		t.Fatalf("other user's Begin = %v, %v", rec, err)
	}

	// Completed: the retry gets the stored response.
	if err := st.CompleteIdempotent(c, "u", "k1", "a1", []byte(`{"id":"s1"}`)); err != nil {
		t.Fatal(err)
	}
	rec, err = st.BeginIdempotent(c, "u", "k1", "hashA", "a4", clk.Now().Add(time.Minute))
	if err != nil || rec == nil {
		t.Fatalf("Begin after complete = %v, %v", rec, err)
	}
	if rec.Status != store.IdempotencyCompleted || string(rec.Response) != `{"id":"s1"}` || rec.RequestHash != "hashA" ||
		!rec.ExpiresAt.Equal(clk.Now().Add(ttl)) {
		t.Fatalf("completed record = %+v", rec)
	}
	_, err = st.BeginIdempotent(c, "u", "k1", "hashB", "a5", clk.Now().Add(time.Minute))
	wantCode(t, err, sandstep.ECONFLICT, "")
	// Completing or aborting a completed key is a conflict, even for the
	// attempt that completed it.
	wantCode(t, st.CompleteIdempotent(c, "u", "k1", "a1", []byte("x")), sandstep.ECONFLICT, "")
	err = st.AbortIdempotent(c, "u", "k1", "a1")
	wantCode(t, err, sandstep.ECONFLICT, "")
	if !strings.Contains(sandstep.ErrorMessage(err), "completed") {
		t.Errorf("abort-after-complete message = %q", sandstep.ErrorMessage(err))
	}
	if rec, err := st.BeginIdempotent(c, "u", "k1", "hashA", "a6", clk.Now().Add(time.Minute)); err != nil || rec == nil ||
		string(rec.Response) != `{"id":"s1"}` {
		t.Fatalf("Begin after refused abort = %v, %v; want the stored response", rec, err)
	}

	// Expired (TTL passed, not yet deleted): as good as absent, any body.
	clk.Advance(ttl + time.Second)
	if rec, err := st.BeginIdempotent(c, "u", "k1", "hashB", "a7", clk.Now().Add(time.Minute)); err != nil || rec != nil {
		t.Fatalf("Begin after expiry = %v, %v; want nil, nil", rec, err)
	}
}

func TestIdempotencyCrashedAttemptTakenOver(t *testing.T) {
	clk := newClock()
	st, _, _ := storetest.New(t, store.Options{Now: clk.Now})
	c := ctx(t)
	if rec, err := st.BeginIdempotent(c, "u", "k", "h", "a1", clk.Now().Add(10*time.Second)); err != nil || rec != nil {
		t.Fatalf("Begin = %v, %v", rec, err)
	}
	clk.Advance(5 * time.Second)
	_, err := st.BeginIdempotent(c, "u", "k", "h", "a2", clk.Now().Add(10*time.Second))
	wantCode(t, err, sandstep.ECONFLICT, "")
	// The first attempt's Lambda timed out without completing.
	clk.Advance(6 * time.Second)
	// Another body still conflicts...
	_, err = st.BeginIdempotent(c, "u", "k", "other", "a3", clk.Now().Add(10*time.Second))
	wantCode(t, err, sandstep.ECONFLICT, "")
	// ...the same one takes over.
	if rec, err := st.BeginIdempotent(c, "u", "k", "h", "a4", clk.Now().Add(10*time.Second)); err != nil || rec != nil {
		t.Fatalf("takeover = %v, %v; want nil, nil", rec, err)
	}
	_, err = st.BeginIdempotent(c, "u", "k", "h", "a5", clk.Now().Add(10*time.Second))
	wantCode(t, err, sandstep.ECONFLICT, "")
}

func TestIdempotencyAbort(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{})
	c := ctx(t)
	if _, err := st.BeginIdempotent(c, "u", "k", "h", "a1", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Another attempt may not abort it: nothing is deleted.
	wantCode(t, st.AbortIdempotent(c, "u", "k", "a2"), sandstep.ECONFLICT, "")
	_, err := st.BeginIdempotent(c, "u", "k", "h", "a3", time.Now().Add(time.Minute))
	wantCode(t, err, sandstep.ECONFLICT, "")
	if err := st.AbortIdempotent(c, "u", "k", "a1"); err != nil {
		t.Fatal(err)
	}
	// Aborting again finds no record: a no-op.
	if err := st.AbortIdempotent(c, "u", "k", "a1"); err != nil {
		t.Fatalf("second abort: %v", err)
	}
	// The retry proceeds at once, even with another body.
	if rec, err := st.BeginIdempotent(c, "u", "k", "h2", "a4", time.Now().Add(time.Minute)); err != nil || rec != nil {
		t.Fatalf("Begin after abort = %v, %v", rec, err)
	}
	if err := st.AbortIdempotent(c, "u", "never-used", "a1"); err != nil {
		t.Fatalf("abort of an unknown key: %v", err)
	}
	// Completing a key with no record neither succeeds nor creates one.
	wantCode(t, st.CompleteIdempotent(c, "u", "never-used", "a1", nil), sandstep.ECONFLICT, "")
	if rec, err := st.BeginIdempotent(c, "u", "never-used", "h", "a5", time.Now().Add(time.Minute)); err != nil || rec != nil {
		t.Fatalf("Begin after refused complete = %v, %v; want nil, nil", rec, err)
	}
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
	if rec, err := st.BeginIdempotent(c, "u", "k", "h", "a1", time.Time{}); err != nil || rec != nil {
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
		for w := range workers {
			attempt := "r" + strconv.Itoa(round) + "-w" + strconv.Itoa(w)
			wg.Go(func() {
				<-start
				rec, err := st.BeginIdempotent(c, "u", key, "h", attempt, time.Now().Add(time.Minute))
				switch {
				case err == nil && rec == nil:
					proceeded.Add(1)
				case sandstep.ErrorCode(err) == sandstep.ECONFLICT && strings.Contains(sandstep.ErrorMessage(err), "in progress"):
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
	begin := func(user, key, hash, attempt string, expiry time.Time) func() error {
		return func() error { _, err := st.BeginIdempotent(c, user, key, hash, attempt, expiry); return err }
	}
	tooLongAttempt := strings.Repeat("a", store.MaxAttemptLength+1)
	tests := []struct {
		name  string
		call  func() error
		code  sandstep.Code
		field string
	}{
		{"empty user", begin("", "k", "h", "a1", later), sandstep.EINVALID, "userId"},
		{"empty key", begin("u", "", "h", "a1", later), sandstep.EINVALID, "idempotencyKey"},
		{"key too long", begin("u", strings.Repeat("k", store.MaxIdempotencyKeyLength+1), "h", "a1", later), sandstep.EINVALID, "idempotencyKey"},
		{"key with newline", begin("u", "a\nb", "h", "a1", later), sandstep.EINVALID, "idempotencyKey"},
		{"empty hash", begin("u", "k", "", "a1", later), sandstep.EINVALID, "requestHash"},
		{"expiry in the past", begin("u", "k", "h", "a1", clk.Now().Add(-time.Second)), sandstep.EINVALID, "inProgressExpiry"},
		{"begin empty attempt", begin("u", "k", "h", "", later), sandstep.EINVALID, "attempt"},
		{"begin attempt too long", begin("u", "k", "h", tooLongAttempt, later), sandstep.EINVALID, "attempt"},
		{"begin attempt with '#'", begin("u", "k", "h", "a#1", later), sandstep.EINVALID, "attempt"},
		{"begin attempt with space", begin("u", "k", "h", "a 1", later), sandstep.EINVALID, "attempt"},
		{"begin attempt with '.'", begin("u", "k", "h", "a.1", later), sandstep.EINVALID, "attempt"},
		{"begin attempt not ASCII", begin("u", "k", "h", "attempt-\u00e9", later), sandstep.EINVALID, "attempt"},
		{"response too large", func() error {
			return st.CompleteIdempotent(c, "u", "k", "a1", make([]byte, store.MaxIdempotencyResponseSize+1))
		}, sandstep.ETOOLARGE, "response"},
		{"complete empty attempt", func() error { return st.CompleteIdempotent(c, "u", "k", "", nil) }, sandstep.EINVALID, "attempt"},
		{"complete attempt too long", func() error { return st.CompleteIdempotent(c, "u", "k", tooLongAttempt, nil) }, sandstep.EINVALID, "attempt"},
		{"complete attempt with '/'", func() error { return st.CompleteIdempotent(c, "u", "k", "a/1", nil) }, sandstep.EINVALID, "attempt"},
		{"abort empty user", func() error { return st.AbortIdempotent(c, "", "k", "a1") }, sandstep.EINVALID, "userId"},
		{"abort empty attempt", func() error { return st.AbortIdempotent(c, "u", "k", "") }, sandstep.EINVALID, "attempt"},
		{"abort attempt too long", func() error { return st.AbortIdempotent(c, "u", "k", tooLongAttempt) }, sandstep.EINVALID, "attempt"},
		{"abort attempt with newline", func() error { return st.AbortIdempotent(c, "u", "k", "a\n1") }, sandstep.EINVALID, "attempt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.call(), tt.code, tt.field)
		})
	}
	// None of the refused calls wrote a record.
	if rec, err := st.BeginIdempotent(c, "u", "k", "h", "a1", later); err != nil || rec != nil {
		t.Fatalf("Begin after refused calls = %v, %v; want nil, nil", rec, err)
	}
	// The longest attempt token, with every allowed kind of character.
	longest := strings.Repeat("aZ0_-", store.MaxAttemptLength/5) + strings.Repeat("x", store.MaxAttemptLength%5)
	if rec, err := st.BeginIdempotent(c, "u", "k-long", "h", longest, later); err != nil || rec != nil {
		t.Fatalf("Begin with a %d-character attempt = %v, %v", len(longest), rec, err)
	}
	if err := st.CompleteIdempotent(c, "u", "k-long", longest, nil); err != nil {
		t.Fatalf("Complete with a %d-character attempt: %v", len(longest), err)
	}
	// A key may hold '#': it is the last part of the partition key.
	if rec, err := st.BeginIdempotent(c, "u", "a#b", "h", "a1", later); err != nil || rec != nil {
		t.Fatalf("key with '#': %v, %v", rec, err)
	}
	if rec, err := st.BeginIdempotent(c, "u", "a", "h", "a1", later); err != nil || rec != nil {
		t.Fatalf("key 'a' must not collide with 'a#b': %v, %v", rec, err)
	}
}

// TestIdempotencyTakeoverFencesOldAttempt: attempt A begins, its in-progress
// expiry passes while it still runs, attempt B takes the record over; A can
// then neither complete nor abort B's record, and B completes normally.
func TestIdempotencyTakeoverFencesOldAttempt(t *testing.T) {
	clk := newClock()
	st, client, table := storetest.New(t, store.Options{Now: clk.Now})
	c := ctx(t)
	tests := []struct {
		name string
		// oldAttempt is what A (or a stranger) does once B has taken over;
		// nil does nothing. wantMsg is part of its ECONFLICT message.
		oldAttempt func(key string) error
		wantMsg    string
	}{
		{"no interference", nil, ""},
		{"old attempt completes", func(key string) error {
			return st.CompleteIdempotent(c, "u", key, "attempt-A", []byte(`{"from":"A"}`))
		}, "taken over"},
		{"old attempt completes with no response", func(key string) error {
			return st.CompleteIdempotent(c, "u", key, "attempt-A", nil)
		}, "taken over"},
		{"old attempt aborts", func(key string) error {
			return st.AbortIdempotent(c, "u", key, "attempt-A")
		}, "taken over"},
		{"unknown attempt aborts", func(key string) error {
			return st.AbortIdempotent(c, "u", key, "attempt-Z")
		}, "taken over"},
		{"unknown attempt completes", func(key string) error {
			return st.CompleteIdempotent(c, "u", key, "attempt-Z", []byte("z"))
		}, "taken over"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "takeover-" + strconv.Itoa(i)
			if rec, err := st.BeginIdempotent(c, "u", key, "h", "attempt-A", clk.Now().Add(10*time.Second)); err != nil || rec != nil {
				t.Fatalf("A's Begin = %v, %v", rec, err)
			}
			clk.Advance(11 * time.Second) // A hangs past its in-progress expiry
			if rec, err := st.BeginIdempotent(c, "u", key, "h", "attempt-B", clk.Now().Add(10*time.Second)); err != nil || rec != nil {
				t.Fatalf("B's takeover = %v, %v; want nil, nil", rec, err)
			}
			if tt.oldAttempt != nil {
				err := tt.oldAttempt(key)
				wantCode(t, err, sandstep.ECONFLICT, "")
				if !strings.Contains(sandstep.ErrorMessage(err), tt.wantMsg) {
					t.Errorf("message = %q, want it to mention %q", sandstep.ErrorMessage(err), tt.wantMsg)
				}
			}
			// B's record is untouched: still in progress, under B.
			item := rawIdemItem(t, client, table, "u", key)
			if item == nil {
				t.Fatal("B's record was deleted")
			}
			if got := avString(item["status"]); got != store.IdempotencyInProgress {
				t.Fatalf("status = %q, want %q", got, store.IdempotencyInProgress)
			}
			if got := avString(item["attempt"]); got != "attempt-B" {
				t.Fatalf("attempt = %q, want attempt-B", got)
			}
			if _, ok := item["response"]; ok {
				t.Fatal("B's in-progress record holds a response")
			}
			_, err := st.BeginIdempotent(c, "u", key, "h", "attempt-C", clk.Now().Add(10*time.Second))
			wantCode(t, err, sandstep.ECONFLICT, "")
			if !strings.Contains(sandstep.ErrorMessage(err), "in progress") {
				t.Fatalf("Begin during B = %q, want in progress", sandstep.ErrorMessage(err))
			}

			// B completes; a retry replays B's response.
			if err := st.CompleteIdempotent(c, "u", key, "attempt-B", []byte(`{"from":"B"}`)); err != nil {
				t.Fatalf("B's Complete: %v", err)
			}
			rec, err := st.BeginIdempotent(c, "u", key, "h", "attempt-D", clk.Now().Add(10*time.Second))
			if err != nil || rec == nil || rec.Status != store.IdempotencyCompleted || string(rec.Response) != `{"from":"B"}` {
				t.Fatalf("replay = %+v, %v; want B's completed response", rec, err)
			}
			// A's late abort cannot delete the completed record either.
			wantCode(t, st.AbortIdempotent(c, "u", key, "attempt-A"), sandstep.ECONFLICT, "")
			if rec, err := st.BeginIdempotent(c, "u", key, "h", "attempt-E", clk.Now().Add(10*time.Second)); err != nil || rec == nil ||
				string(rec.Response) != `{"from":"B"}` {
				t.Fatalf("replay after A's abort = %+v, %v", rec, err)
			}
		})
	}
}

// rawIdemItem reads an idempotency item straight from the table.
func rawIdemItem(t *testing.T, client *dynamodb.Client, table, user, key string) map[string]dynamodbAV {
	t.Helper()
	out, err := client.GetItem(ctx(t), &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]dynamodbAV{"PK": strAV("IDEM#" + user + "#" + key), "SK": strAV("IDEM")},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("raw GetItem: %v", err)
	}
	return out.Item
}

func avString(av dynamodbAV) string {
	if v, ok := av.(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// A repository's records are GitHub's deliveries, which GitHub Enterprise
// Server redelivers for up to 7 days: they outlive a shorter
// IdempotencyTTL, and a longer one still holds.
func TestIdempotencyDeliveryRetention(t *testing.T) {
	tests := []struct {
		name   string
		user   string
		ttl    time.Duration
		keptTo time.Duration
	}{
		{"a user's, for IdempotencyTTL", "u", 24 * time.Hour, 24 * time.Hour},
		{"a repository's, for the redelivery window", sandstep.RepoUser("octo/hello"), 24 * time.Hour, store.DeliveryRetention},
		{"a repository's, for a longer IdempotencyTTL", sandstep.RepoUser("octo/hello"), 10 * 24 * time.Hour, 10 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			st, _, _ := storetest.New(t, store.Options{Now: clk.Now, IdempotencyTTL: tt.ttl})
			c := ctx(t)
			if rec, err := st.BeginIdempotent(c, tt.user, "github-d1", "h", "a1", clk.Now().Add(time.Minute)); err != nil || rec != nil {
				t.Fatalf("Begin = %v, %v", rec, err)
			}
			if err := st.CompleteIdempotent(c, tt.user, "github-d1", "a1", []byte(`{"action":"started"}`)); err != nil {
				t.Fatal(err)
			}
			clk.Advance(tt.keptTo - time.Second)
			rec, err := st.BeginIdempotent(c, tt.user, "github-d1", "h", "a2", clk.Now().Add(time.Minute))
			if err != nil || rec == nil || string(rec.Response) != `{"action":"started"}` {
				t.Fatalf("a redelivery just within %s = %+v, %v; want the first answer", tt.keptTo, rec, err)
			}
			clk.Advance(2 * time.Second)
			if rec, err := st.BeginIdempotent(c, tt.user, "github-d1", "h", "a3", clk.Now().Add(time.Minute)); err != nil || rec != nil {
				t.Fatalf("past %s = %+v, %v; want it forgotten", tt.keptTo, rec, err)
			}
		})
	}
}
