package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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

func quota(t *testing.T, st *store.Store, user string) sandstep.Quota {
	t.Helper()
	q, err := st.GetQuota(ctx(t), user)
	if err != nil {
		t.Fatalf("GetQuota: %v", err)
	}
	return q
}

func TestReserveAndReleaseSlot(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 2})
	c := ctx(t)

	if q := quota(t, st, "u1"); q != (sandstep.Quota{UserID: "u1", Active: 0, Limit: 2}) {
		t.Fatalf("fresh quota = %+v", q)
	}
	for _, id := range []string{"s1", "s2"} {
		if err := reserve(c, st, "u1", id); err != nil {
			t.Fatalf("ReserveSlot(%s): %v", id, err)
		}
	}
	// Reserving a slot already held is a no-op, even at the limit.
	if err := st.ReserveSlot(c, &sandstep.Sandbox{ID: "s1", Owner: "u1"}); err != nil {
		t.Fatalf("repeated ReserveSlot: %v", err)
	}
	err := reserve(c, st, "u1", "s3")
	wantCode(t, err, sandstep.EQUOTA, "")
	if msg := sandstep.ErrorMessage(err); msg != "sandbox limit reached: 2 of 2 in use" {
		t.Errorf("quota message = %q", msg)
	}
	// Another user is not affected.
	if err := reserve(c, st, "u2", "t3"); err != nil {
		t.Fatalf("ReserveSlot other user: %v", err)
	}
	if q := quota(t, st, "u1"); q.Active != 2 || q.Limit != 2 {
		t.Fatalf("quota = %+v, want 2 of 2", q)
	}

	released, err := st.ReleaseSlot(c, "u1", "s1")
	if err != nil || !released {
		t.Fatalf("ReleaseSlot = %v, %v; want true, nil", released, err)
	}
	released, err = st.ReleaseSlot(c, "u1", "s1")
	if err != nil || released {
		t.Fatalf("second ReleaseSlot = %v, %v; want false, nil", released, err)
	}
	// A late retry of a released slot's reservation takes it again, but the
	// record refuses the id, and the service's clean-up releases it.
	wantCode(t, reserve(c, st, "u1", "s1"), sandstep.ECONFLICT, "")
	if released, err := st.ReleaseSlot(c, "u1", "s1"); err != nil || !released {
		t.Fatalf("release of the retried slot = %v, %v; want true, nil", released, err)
	}
	// Releasing a slot never reserved frees nothing.
	released, err = st.ReleaseSlot(c, "u1", "never")
	if err != nil || released {
		t.Fatalf("ReleaseSlot(never reserved) = %v, %v; want false, nil", released, err)
	}
	if q := quota(t, st, "u1"); q.Active != 1 {
		t.Fatalf("active = %d, want 1", q.Active)
	}
	if err := reserve(c, st, "u1", "s3"); err != nil {
		t.Fatalf("ReserveSlot after release: %v", err)
	}
}

func TestUserLimitOverride(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 1})
	c := ctx(t)

	// An override set before any reservation (counter without "active").
	if err := st.SetUserLimit(c, "u", quota(t, st, "u"), 3); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := reserve(c, st, "u", fmt.Sprint("s", i)); err != nil {
			t.Fatalf("ReserveSlot %d under override 3: %v", i, err)
		}
	}
	wantCode(t, reserve(c, st, "u", "s3"), sandstep.EQUOTA, "")
	if q := quota(t, st, "u"); q.Limit != 3 || q.Active != 3 {
		t.Fatalf("quota = %+v", q)
	}
	// Lowering the limit below the count frees nothing and blocks new slots.
	if err := st.SetUserLimit(c, "u", quota(t, st, "u"), 2); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReleaseSlot(c, "u", "s0"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, reserve(c, st, "u", "s4"), sandstep.EQUOTA, "")
	// Back to the default (1) with 2 held.
	if err := st.ClearUserLimit(c, "u", quota(t, st, "u")); err != nil {
		t.Fatal(err)
	}
	if q := quota(t, st, "u"); q.Limit != 1 || q.Active != 2 {
		t.Fatalf("quota after clear = %+v", q)
	}
	wantCode(t, reserve(c, st, "u", "s4"), sandstep.EQUOTA, "")
	if err := st.ClearUserLimit(c, "nobody", quota(t, st, "nobody")); err != nil {
		t.Fatalf("ClearUserLimit without a record: %v", err)
	}

	// Limit 0 blocks a user who never reserved.
	if err := st.SetUserLimit(c, "blocked", quota(t, st, "blocked"), 0); err != nil {
		t.Fatal(err)
	}
	wantCode(t, reserve(c, st, "blocked", "x"), sandstep.EQUOTA, "")
	if q := quota(t, st, "blocked"); q.Active != 0 || q.Limit != 0 {
		t.Fatalf("blocked quota = %+v", q)
	}
}

func TestReleaseToleratesMissingOrZeroCounter(t *testing.T) {
	st, client, table := storetest.New(t, store.Options{DefaultQuota: 2})
	c := ctx(t)
	for _, id := range []string{"a", "b"} {
		if err := reserve(c, st, "u", id); err != nil {
			t.Fatal(err)
		}
	}
	// Drift: the counter says 0 while two slots are held.
	setCounter(t, client, table, "u", 0)
	released, err := st.ReleaseSlot(c, "u", "a")
	if err != nil || !released {
		t.Fatalf("ReleaseSlot with zero counter = %v, %v; want true, nil", released, err)
	}
	if q := quota(t, st, "u"); q.Active != 0 {
		t.Fatalf("active = %d, want 0 (never negative)", q.Active)
	}
	released, err = st.ReleaseSlot(c, "u", "a")
	if err != nil || released {
		t.Fatalf("second release = %v, %v; want false, nil", released, err)
	}

	// The counter item is gone altogether, and the slots it held with it:
	// a release finds nothing to free and is no error.
	if _, err := client.DeleteItem(c, &dynamodb.DeleteItemInput{
		TableName: aws.String(table),
		Key:       map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "USER#u"}, "SK": &types.AttributeValueMemberS{Value: "QUOTA"}},
	}); err != nil {
		t.Fatal(err)
	}
	released, err = st.ReleaseSlot(c, "u", "b")
	if err != nil || released {
		t.Fatalf("ReleaseSlot without counter = %v, %v; want false, nil", released, err)
	}
	if q := quota(t, st, "u"); q.Active != 0 {
		t.Fatalf("active = %d, want 0", q.Active)
	}
}

// TestConcurrentReserveExactlyLimit: 200 goroutines reserving for one user
// with limit 5 get exactly 5 slots, in every round.
func TestConcurrentReserveExactlyLimit(t *testing.T) {
	const (
		workers = 200
		limit   = 5
		rounds  = 3
	)
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: limit})
	c := ctx(t)
	for round := range rounds {
		user := fmt.Sprint("user", round)
		var ok, quotaErr atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		start := make(chan struct{})
		for i := range workers {
			wg.Go(func() {
				<-start
				err := reserve(c, st, user, fmt.Sprintf("sbx-%d-%d", round, i))
				switch sandstep.ErrorCode(err) {
				case "":
					ok.Add(1)
				case sandstep.EQUOTA:
					quotaErr.Add(1)
				default:
					errs <- err
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("round %d: unexpected error: %v", round, err)
		}
		if ok.Load() != limit || quotaErr.Load() != workers-limit {
			t.Fatalf("round %d: %d reserved, %d over quota; want %d and %d", round, ok.Load(), quotaErr.Load(), limit, workers-limit)
		}
		if q := quota(t, st, user); q.Active != limit {
			t.Fatalf("round %d: active = %d, want %d", round, q.Active, limit)
		}
	}
}

// TestConcurrentReleaseExactlyOnce: 200 concurrent releases of 5
// reservations free each exactly once and bring the count to exactly 0.
func TestConcurrentReleaseExactlyOnce(t *testing.T) {
	const (
		workers = 200
		slots   = 5
	)
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: slots})
	c := ctx(t)
	for i := range slots {
		if err := reserve(c, st, "u", fmt.Sprint("s", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Commit some, so releases of committed and reserved slots race alike.
	for i := range 2 {
		if err := st.CommitSandbox(c, &sandstep.Sandbox{ID: fmt.Sprint("s", i), Owner: "u", State: sandstep.StateCreating}); err != nil {
			t.Fatal(err)
		}
	}
	var freed [slots]atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, workers)
	for i := range workers {
		wg.Go(func() {
			<-start
			released, err := st.ReleaseSlot(c, "u", fmt.Sprint("s", i%slots))
			if err != nil {
				errs <- err
				return
			}
			if released {
				freed[i%slots].Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("unexpected error: %v", err)
	}
	for i := range freed {
		if n := freed[i].Load(); n != 1 {
			t.Errorf("slot s%d freed %d times, want exactly 1", i, n)
		}
	}
	if q := quota(t, st, "u"); q.Active != 0 {
		t.Fatalf("active = %d, want 0", q.Active)
	}
}

func TestQuotaBadInput(t *testing.T) {
	st, client, table := storetest.New(t, store.Options{})
	c := ctx(t)
	long := string(make([]byte, store.MaxIDLength+1))
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"reserve empty user", func() error { return reserve(c, st, "", "s") }, "userId"},
		{"reserve user with #", func() error { return reserve(c, st, "a#b", "s") }, "userId"},
		{"reserve empty sandbox", func() error { return reserve(c, st, "u", "") }, "sandboxId"},
		{"reserve sandbox too long", func() error { return reserve(c, st, "u", long) }, "sandboxId"},
		{"reserve sandbox with space", func() error { return reserve(c, st, "u", "a b") }, "sandboxId"},
		{"release empty user", func() error { _, err := st.ReleaseSlot(c, "", "s"); return err }, "userId"},
		{"quota empty user", func() error { _, err := st.GetQuota(c, ""); return err }, "userId"},
		{"negative limit", func() error { return st.SetUserLimit(c, "u", sandstep.Quota{}, -1) }, "limit"},
		{"huge limit", func() error { return st.SetUserLimit(c, "u", sandstep.Quota{}, store.MaxUserLimit+1) }, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.call(), sandstep.EINVALID, tt.field)
		})
	}
	// Nothing was written.
	out, err := client.Scan(c, &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 0 {
		t.Fatalf("bad input wrote %d items", len(out.Items))
	}
}

// A repository's user has RepoQuota instead of DefaultQuota; an override
// still wins, and a user named like a repository but not one keeps the
// default.
func TestRepoQuota(t *testing.T) {
	tests := []struct {
		name      string
		repoQuota int
		user      string
		override  int // 0: none
		want      int
	}{
		{"a repository", 2, "github:octo/hello", 0, 2},
		{"a user", 2, "alice", 0, 4},
		{"a user whose name merely holds github:", 2, "alice-github:x", 0, 4},
		{"a repository, the rule unset", 0, "github:octo/hello", 0, 4},
		{"a repository with an override", 2, "github:octo/hello", 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 4, RepoQuota: tt.repoQuota})
			c := ctx(t)
			if tt.override > 0 {
				if err := st.SetUserLimit(c, tt.user, quota(t, st, tt.user), tt.override); err != nil {
					t.Fatal(err)
				}
			}
			if q := quota(t, st, tt.user); q.Limit != tt.want {
				t.Errorf("GetQuota = %+v, want limit %d", q, tt.want)
			}
			for i := range tt.want {
				if err := reserve(c, st, tt.user, fmt.Sprint("s", i)); err != nil {
					t.Fatalf("ReserveSlot %d of %d: %v", i+1, tt.want, err)
				}
			}
			wantCode(t, reserve(c, st, tt.user, "over"), sandstep.EQUOTA, "")
		})
	}
}

func TestNewValidatesOptions(t *testing.T) {
	_, url := storetest.Server(t)
	client := storetest.DB(t, url)
	const day = 24 * time.Hour
	tests := []struct {
		name   string
		client *dynamo.Client
		table  string
		opts   store.Options
		field  string
	}{
		{"DefaultQuota 0", client, "t", store.Options{DefaultQuota: 0, IdempotencyTTL: day}, "DefaultQuota"},
		{"empty table", client, "", store.Options{DefaultQuota: 1, IdempotencyTTL: day}, "table"},
		{"no idempotency TTL", client, "t", store.Options{DefaultQuota: 1}, "IdempotencyTTL"},
		{"negative idempotency TTL", client, "t", store.Options{DefaultQuota: 1, IdempotencyTTL: -time.Second}, "IdempotencyTTL"},
		{"negative repository quota", client, "t", store.Options{DefaultQuota: 1, RepoQuota: -1, IdempotencyTTL: day}, "RepoQuota"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := store.New(tt.client, tt.table, tt.opts); sandstep.ErrorField(err) != tt.field {
				t.Fatalf("err = %v, want one naming %s", err, tt.field)
			}
		})
	}
	if _, err := store.New(nil, "t", store.Options{DefaultQuota: 1, IdempotencyTTL: day}); err == nil {
		t.Fatal("nil client accepted")
	}
}

// A counter that drifted from the slots held is reported, and set right
// unless it is a dry run.
func TestRepairQuota(t *testing.T) {
	st, client, table := storetest.New(t, store.Options{DefaultQuota: 5})
	c := ctx(t)
	for _, id := range []string{"a", "b"} {
		if err := reserve(c, st, "u", id); err != nil {
			t.Fatal(err)
		}
	}
	setCounter(t, client, table, "u", 4)
	counter, slots, _, err := st.Counter(c, "u")
	if err != nil || counter != 4 || len(slots) != 2 {
		t.Fatalf("Counter = %v, %+v, %v; want 4 with 2 slots held", counter, slots, err)
	}
	counted, held, err := st.RepairQuota(c, "u", true)
	if err != nil || counted != 4 || held != 2 || quota(t, st, "u").Active != 4 {
		t.Fatalf("dry RepairQuota = %d, %d, %v; want 4, 2 and nothing changed", counted, held, err)
	}
	if _, _, err := st.RepairQuota(c, "u", false); err != nil || quota(t, st, "u").Active != 2 {
		t.Fatalf("RepairQuota: %v, active %d; want 2", err, quota(t, st, "u").Active)
	}
	if counted, held, err := st.RepairQuota(c, "u", false); err != nil || counted != held {
		t.Errorf("again = %d, %d, %v; want nothing to repair", counted, held, err)
	}
}

// setCounter writes user's counter behind the store's back: drift.
func setCounter(t *testing.T, client *dynamodb.Client, table, user string, n int) {
	t.Helper()
	if _, err := client.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName:                 aws.String(table),
		Key:                       map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "USER#" + user}, "SK": &types.AttributeValueMemberS{Value: "QUOTA"}},
		UpdateExpression:          aws.String("SET active = :n"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: strconv.Itoa(n)}},
	}); err != nil {
		t.Fatal(err)
	}
}

// An administrator's change of a limit and its audit event are one write:
// the event lists under the target user, and a refused change leaves none.
func TestUserLimitAudited(t *testing.T) {
	adminEvent := func(action string) sandstep.AuditEvent {
		return sandstep.AuditEvent{Action: action, UserID: "root", TargetUserID: "alice", Outcome: "ok"}
	}
	tests := []struct {
		name string
		// change acts on alice, whose limit is set to 5 first when preset,
		// and whose quota it was given as read.
		preset     bool
		change     func(c context.Context, st *store.Store, was sandstep.Quota) error
		wantCode   sandstep.Code
		wantAction []string
		wantQuota  sandstep.Quota
	}{
		{name: "set", change: func(c context.Context, st *store.Store, was sandstep.Quota) error {
			return st.SetUserLimit(c, "alice", was, 1, adminEvent("admin.quota.set"))
		}, wantAction: []string{"admin.quota.set"}, wantQuota: sandstep.Quota{UserID: "alice", Limit: 1, LimitSet: true}},
		{name: "set out of range writes nothing", change: func(c context.Context, st *store.Store, was sandstep.Quota) error {
			return st.SetUserLimit(c, "alice", was, store.MaxUserLimit+1, adminEvent("admin.quota.set"))
		}, wantCode: sandstep.EINVALID, wantQuota: sandstep.Quota{UserID: "alice", Limit: 2}},
		{name: "clear a set limit", preset: true, change: func(c context.Context, st *store.Store, was sandstep.Quota) error {
			return st.ClearUserLimit(c, "alice", was, adminEvent("admin.quota.clear"))
		}, wantAction: []string{"admin.quota.clear"}, wantQuota: sandstep.Quota{UserID: "alice", Limit: 2}},
		{name: "clear with no limit set is still audited", change: func(c context.Context, st *store.Store, was sandstep.Quota) error {
			return st.ClearUserLimit(c, "alice", was, adminEvent("admin.quota.clear"))
		}, wantAction: []string{"admin.quota.clear"}, wantQuota: sandstep.Quota{UserID: "alice", Limit: 2}},
		{name: "an event holding a secret refuses the change", change: func(c context.Context, st *store.Store, was sandstep.Quota) error {
			ev := adminEvent("admin.quota.set")
			ev.Detail = map[string]string{"token": "x"}
			return st.SetUserLimit(c, "alice", was, 1, ev)
		}, wantCode: sandstep.EINVALID, wantQuota: sandstep.Quota{UserID: "alice", Limit: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 2})
			c := ctx(t)
			if tc.preset {
				if err := st.SetUserLimit(c, "alice", quota(t, st, "alice"), 5); err != nil {
					t.Fatal(err)
				}
			}
			err := tc.change(c, st, quota(t, st, "alice"))
			if sandstep.ErrorCode(err) != tc.wantCode && !(tc.wantCode == "" && err == nil) {
				t.Fatalf("change: %v, want code %q", err, tc.wantCode)
			}
			if q := quota(t, st, "alice"); q != tc.wantQuota {
				t.Errorf("quota = %+v, want %+v", q, tc.wantQuota)
			}
			events, next, err := st.ListUserAudit(c, "alice", 10, "")
			if err != nil || next != "" {
				t.Fatalf("ListUserAudit: %q, %v", next, err)
			}
			var actions []string
			for _, ev := range events {
				actions = append(actions, ev.Action)
				if ev.UserID != "root" || ev.TargetUserID != "alice" {
					t.Errorf("event %+v: want actor root on alice", ev)
				}
			}
			if fmt.Sprint(actions) != fmt.Sprint(tc.wantAction) {
				t.Errorf("audited %v, want %v", actions, tc.wantAction)
			}
		})
	}
}

// A refused write answers with the item it was refused on, so explaining
// the refusal costs no read: one call each.
func TestRefusalsCostOneCall(t *testing.T) {
	tests := []struct {
		name   string
		refuse func(c context.Context, st *store.Store) error
		code   sandstep.Code
	}{
		{"a reservation over the limit", func(c context.Context, st *store.Store) error {
			return st.ReserveSlot(c, &sandstep.Sandbox{ID: "sb3", Owner: "alice"})
		}, sandstep.EQUOTA},
		{"a release of a slot not held", func(c context.Context, st *store.Store) error {
			_, err := st.ReleaseSlot(c, "alice", "nope")
			return err
		}, ""},
		{"a delete of another's sandbox", func(c context.Context, st *store.Store) error {
			_, err := st.MarkDeleting(c, "sb1", "bob")
			return err
		}, sandstep.ECONFLICT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, url := storetest.Server(t)
			var calls atomic.Int32
			counted := storetest.DB(t, url, func(o *dynamo.Options) {
				o.Count = func(context.Context, any) { calls.Add(1) }
			})
			table := storetest.Table
			if err := store.CreateTable(ctx(t), counted, table); err != nil {
				t.Fatal(err)
			}
			st, err := store.New(counted, table, store.Options{DefaultQuota: 2, IdempotencyTTL: storetest.DefaultIdempotencyTTL})
			if err != nil {
				t.Fatal(err)
			}
			c := ctx(t)
			seed(t, c, st, ready("sb1", "alice"))
			seed(t, c, st, ready("sb2", "alice"))
			calls.Store(0)
			if err := tt.refuse(c, st); sandstep.ErrorCode(err) != tt.code {
				t.Fatalf("error %v, want code %q", err, tt.code)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("%d DynamoDB calls, want 1", n)
			}
		})
	}
}

// ClearUserLimit changes the override alone; the reaper's repair of the
// count (which changes no held slot, so not rev) landing just before its
// write is kept, not put back to the drifted count.
func TestClearUserLimitKeepsARepairMadeMeanwhile(t *testing.T) {
	var st *store.Store
	var armed atomic.Bool
	repairFirst := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			op := r.Header.Get("X-Amz-Target")
			write := strings.HasSuffix(op, ".PutItem") || strings.HasSuffix(op, ".UpdateItem") || strings.HasSuffix(op, ".TransactWriteItems")
			if write && bytes.Contains(b, []byte(`"QUOTA"`)) && armed.CompareAndSwap(true, false) {
				// The reaper's repair lands just before the clear's write.
				if _, _, err := st.RepairQuota(r.Context(), "u", false); err != nil {
					t.Errorf("RepairQuota: %v", err)
				}
			}
			h.ServeHTTP(w, r)
		})
	}
	var client *dynamodb.Client
	st, client = storeBehind(t, repairFirst, store.Options{DefaultQuota: 5})
	c := ctx(t)
	if err := reserve(c, st, "u", "a"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetUserLimit(c, "u", quota(t, st, "u"), 2); err != nil {
		t.Fatal(err)
	}
	setCounter(t, client, storetest.Table, "u", 2) // drift: 2 counted, 1 held
	armed.Store(true)
	if err := st.ClearUserLimit(c, "u", quota(t, st, "u")); err != nil {
		t.Fatal(err)
	}
	if armed.Load() {
		t.Fatal("the repair did not run: the test did not test")
	}
	if q := quota(t, st, "u"); q.Active != 1 {
		t.Fatalf("after a repair (to 1) and a clear, the counter says %d slots held; want 1 (one held)", q.Active)
	}
}

// A change of a limit is written, with its event, only while the override
// is the one its caller read (which the event names as previous): else
// nothing is, and the refusal says why (ErrLimitChanged), whether the limit
// changed before the call or between its read and its write.
func TestUserLimitChangeNeedsTheLimitRead(t *testing.T) {
	none, five := sandstep.Quota{}, sandstep.Quota{Limit: 5, LimitSet: true}
	tests := []struct {
		name      string
		preset    int  // alice's limit before the call; 0: no counter, no limit
		meanwhile int  // a limit set between the call's read and its write; 0: none
		clear     bool // ClearUserLimit, else SetUserLimit to 1
		was       sandstep.Quota
		wantLimit int // alice's own limit after; 0: none
	}{
		{name: "set, a limit set since the read", preset: 5, was: none, wantLimit: 5},
		{name: "set, another limit since the read", preset: 5, was: sandstep.Quota{Limit: 4, LimitSet: true}, wantLimit: 5},
		{name: "set, the limit read gone since", was: five},
		{name: "set on no counter, a limit set meanwhile", meanwhile: 6, was: none, wantLimit: 6},
		{name: "set, another limit set meanwhile", preset: 5, meanwhile: 6, was: five, wantLimit: 6},
		{name: "clear, a limit set since the read", preset: 5, clear: true, was: none, wantLimit: 5},
		{name: "clear, another limit since the read", preset: 5, clear: true, was: sandstep.Quota{Limit: 4, LimitSet: true}, wantLimit: 5},
		{name: "clear, the limit read gone since", clear: true, was: five},
		{name: "clear of no limit, one set meanwhile", meanwhile: 6, clear: true, was: none, wantLimit: 6},
		{name: "clear, another limit set meanwhile", preset: 5, meanwhile: 6, clear: true, was: five, wantLimit: 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var st *store.Store
			var armed atomic.Bool
			meanwhile := func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					// The call's write, with its event, is a transaction.
					if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".TransactWriteItems") && armed.CompareAndSwap(true, false) {
						q, err := st.GetQuota(r.Context(), "alice")
						if err == nil {
							err = st.SetUserLimit(r.Context(), "alice", q, tc.meanwhile)
						}
						if err != nil {
							t.Errorf("the change meanwhile: %v", err)
						}
					}
					h.ServeHTTP(w, r)
				})
			}
			st, _ = storeBehind(t, meanwhile, store.Options{DefaultQuota: 2})
			c := ctx(t)
			if tc.preset > 0 {
				if err := st.SetUserLimit(c, "alice", none, tc.preset); err != nil {
					t.Fatal(err)
				}
			}
			armed.Store(tc.meanwhile > 0)
			ev := sandstep.AuditEvent{Action: "admin.quota.x", UserID: "root", TargetUserID: "alice", Outcome: "ok"}
			var err error
			if tc.clear {
				err = st.ClearUserLimit(c, "alice", tc.was, ev)
			} else {
				err = st.SetUserLimit(c, "alice", tc.was, 1, ev)
			}
			if armed.Load() {
				t.Fatal("the change meanwhile did not run: the test did not test")
			}
			if !errors.Is(err, sandstep.ErrLimitChanged) || sandstep.ErrorCode(err) != sandstep.ECONFLICT {
				t.Fatalf("change given %+v: %v, want ECONFLICT for ErrLimitChanged", tc.was, err)
			}
			want := sandstep.Quota{UserID: "alice", Limit: 2}
			if tc.wantLimit > 0 {
				want.Limit, want.LimitSet = tc.wantLimit, true
			}
			if q := quota(t, st, "alice"); q != want {
				t.Errorf("quota = %+v, want %+v", q, want)
			}
			if events, _, err := st.ListUserAudit(c, "alice", 10, ""); err != nil || len(events) != 0 {
				t.Errorf("audit %+v, %v; want no event of a change not made", events, err)
			}
		})
	}
}
