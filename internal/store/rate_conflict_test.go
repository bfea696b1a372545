package store_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
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

// conflicting answers writes of the rate's items as DynamoDB does while
// another transaction writes one of them: a transaction is cancelled with
// TransactionConflict reasons, a plain update refused with
// TransactionConflictException. It does so left times (<0: always), and
// counts the writes of the rate's items it sees.
type conflicting struct {
	left   atomic.Int32
	writes atomic.Int32
}

func (c *conflicting) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		target := r.Header.Get("X-Amz-Target")
		tx, update := strings.HasSuffix(target, ".TransactWriteItems"), strings.HasSuffix(target, ".UpdateItem")
		if !(tx || update) || !bytes.Contains(b, []byte("RATE#")) {
			h.ServeHTTP(w, r)
			return
		}
		c.writes.Add(1)
		if c.left.Load() == 0 {
			h.ServeHTTP(w, r)
			return
		}
		c.left.Add(-1)
		if update {
			answerConflict(w)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		reason := `{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"}`
		reasons := strings.Repeat(reason+",", bytes.Count(b, []byte("RATE#"))-1) + reason
		io.WriteString(w, `{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"Transaction cancelled","CancellationReasons":[`+reasons+`]}`)
	})
}

// conflictStore is a store with a create rate of 2 a minute on a server
// whose writes of the rate's items go through c, at 12:00:00 by clk.
func conflictStore(t *testing.T, c *conflicting, clk *clock) (*store.Store, *dynamodb.Client) {
	t.Helper()
	return storeBehind(t, c.wrap, store.Options{CreateRate: 2, CreateWindow: time.Minute, Now: clk.Now})
}

// usedIn is the count of creates the rate's window item holds, or "none".
func usedIn(t *testing.T, sdk *dynamodb.Client, window time.Time) string {
	t.Helper()
	out, err := sdk.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(storetest.Table), Key: rateKey(window), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := out.Item["used"].(*types.AttributeValueMemberN); ok {
		return n.Value
	}
	return "none"
}

// A take of the rate that DynamoDB refuses for a conflict is tried again
// a few times; one that keeps conflicting is refused for the rate, with a
// wait and nothing held, not failed as a busy database.
func TestRateTakeConflicts(t *testing.T) {
	tests := []struct {
		name      string
		at        time.Duration // into the minute
		conflicts int32         // <0: every try
		wantTries int32
		wantUsed  []string // this window's creates and the next's
		refused   bool
	}{
		{name: "a window's plain update conflicts once", at: 10 * time.Second, conflicts: 1, wantTries: 2, wantUsed: []string{"1", "none"}},
		{name: "the last 2 s' transaction conflicts twice", at: 59 * time.Second, conflicts: 2, wantTries: 3, wantUsed: []string{"1", "1"}},
		{name: "conflicts that last are a refusal for the rate", at: 59 * time.Second, conflicts: -1, wantTries: 4, wantUsed: []string{"none", "none"}, refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := &conflicting{}, newClock()
			c.left.Store(tt.conflicts)
			st, sdk := conflictStore(t, c, clk)
			clk.Advance(tt.at)
			err := reserve(ctx(t), st, "u", "a")
			switch {
			case tt.refused && (!errors.Is(err, sandstep.ErrCreateRate) || sandstep.ErrorRetryAfter(err) < time.Second):
				t.Fatalf("reserve: %v (code %s, retry after %v), want ErrCreateRate with a wait", err, sandstep.ErrorCode(err), sandstep.ErrorRetryAfter(err))
			case !tt.refused && err != nil:
				t.Fatalf("reserve: %v", err)
			}
			if n := c.writes.Load(); n != tt.wantTries {
				t.Errorf("%d tries of the take, want %d", n, tt.wantTries)
			}
			held := 1
			if tt.refused {
				held = 0
			}
			if q := quota(t, st, "u"); q.Active != held {
				t.Errorf("u holds %d slots, want %d", q.Active, held)
			}
			window := clk.Now().Truncate(time.Minute)
			if got := []string{usedIn(t, sdk, window), usedIn(t, sdk, window.Add(time.Minute))}; got[0] != tt.wantUsed[0] || got[1] != tt.wantUsed[1] {
				t.Errorf("creates held by this window and the next: %v, want %v", got, tt.wantUsed)
			}
		})
	}
}

// Spending the budget after the provider's 429 goes through a conflict:
// the creates after it are refused.
func TestSpendCreatesThroughAConflict(t *testing.T) {
	c, clk := &conflicting{}, newClock()
	c.left.Store(1)
	st, _ := conflictStore(t, c, clk)
	clk.Advance(10 * time.Second)
	if err := st.SpendCreates(ctx(t), clk.Now().Add(5*time.Second)); err != nil {
		t.Fatalf("SpendCreates: %v", err)
	}
	if err := st.ReserveSlot(ctx(t), &sandstep.Sandbox{ID: "a", Owner: "u"}); !errors.Is(err, sandstep.ErrCreateRate) {
		t.Fatalf("a create after the spend: %v, want ErrCreateRate", err)
	}
}
