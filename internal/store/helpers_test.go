package store_test

import (
	"cmp"
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// clock is a settable time source for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// wantCode fails the test unless err carries code (and field, if not "").
func wantCode(t *testing.T, err error, code sandstep.Code, field string) {
	t.Helper()
	if got := sandstep.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (err %v), want %q", got, err, code)
	}
	if field != "" {
		if got := sandstep.ErrorField(err); got != field {
			t.Fatalf("error field = %q (err %v), want %q", got, err, field)
		}
	}
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	return t.Context()
}

type dynamodbAV = types.AttributeValue

// storeBehind is a Store (quota 1, idempotency 1 h unless opts says) on
// its own table of a server whose requests pass through wrap first (a
// fault, a meter), with an SDK client of that server for looking.
func storeBehind(t *testing.T, wrap func(http.Handler) http.Handler, opts store.Options) (*store.Store, *dynamodb.Client) {
	t.Helper()
	_, url := storetest.Server(t, wrap)
	db := storetest.DB(t, url)
	if err := store.CreateTable(t.Context(), db, storetest.Table); err != nil {
		t.Fatal(err)
	}
	opts.DefaultQuota = cmp.Or(opts.DefaultQuota, 1)
	opts.IdempotencyTTL = cmp.Or(opts.IdempotencyTTL, time.Hour)
	st, err := store.New(db, storetest.Table, opts)
	if err != nil {
		t.Fatal(err)
	}
	return st, storetest.Client(url)
}

func strAV(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// reserve takes userID's slot for sandboxID and writes its creating
// record, as the service does around the provider's create.
func reserve(c context.Context, st *store.Store, userID, sandboxID string) error {
	sb := &sandstep.Sandbox{ID: sandboxID, Owner: userID, State: sandstep.StateCreating}
	if err := st.ReserveSlot(c, sb); err != nil {
		return err
	}
	return st.RecordCreating(c, sb)
}

// seed writes a ready record for sb the way the service does: reserve,
// then commit.
func seed(t *testing.T, c context.Context, st *store.Store, sb *sandstep.Sandbox) {
	t.Helper()
	if err := reserve(c, st, sb.Owner, sb.ID); err != nil {
		t.Fatalf("seed %s: reserve: %v", sb.ID, err)
	}
	if err := st.CommitSandbox(c, sb); err != nil {
		t.Fatalf("seed %s: commit: %v", sb.ID, err)
	}
}
