package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/truora/minidyn/server"

	"github.com/sandstep/sandstep/internal/dynamo"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// faultServer is minidyn behind a handler that answers the next request for
// one operation with a canned DynamoDB error, as DynamoDB would send it.
type faultServer struct {
	next   http.Handler
	op     atomic.Value // string: operation to fail
	status atomic.Int32
	body   atomic.Value // string
	hits   atomic.Int32
}

func (f *faultServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	if op, _ := f.op.Load().(string); op != "" && strings.HasSuffix(target, "."+op) {
		f.hits.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(int(f.status.Load()))
		fmt.Fprint(w, f.body.Load().(string))
		return
	}
	f.next.ServeHTTP(w, r)
}

func (f *faultServer) fail(op string, status int, body string) {
	f.status.Store(int32(status))
	f.body.Store(body)
	f.op.Store(op)
}

func newFaultStore(t *testing.T) (*store.Store, *faultServer, *server.Server) {
	t.Helper()
	mini := server.NewServer()
	fs := &faultServer{next: mini}
	fs.op.Store("")
	hs := httptest.NewServer(fs)
	t.Cleanup(hs.Close)
	client := storetest.DB(t, hs.URL, func(o *dynamo.Options) { o.MaxAttempts = 1 })
	if err := store.CreateTable(ctx(t), client, storetest.Table); err != nil {
		t.Fatal(err)
	}
	st, err := store.New(client, storetest.Table, store.Options{DefaultQuota: 2, IdempotencyTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return st, fs, mini
}

func TestDynamoErrorsMapped(t *testing.T) {
	st, fs, _ := newFaultStore(t)
	c := ctx(t)
	seed(t, c, st, &sandstep.Sandbox{ID: "s", Owner: "u", State: sandstep.StateReady})
	const prefix = "com.amazonaws.dynamodb.v20120810#"
	txCanceled := func(codes ...string) string {
		var rs []string
		for _, c := range codes {
			rs = append(rs, fmt.Sprintf(`{"Code":%q}`, c))
		}
		return `{"__type":"` + prefix + `TransactionCanceledException","message":"Transaction cancelled","CancellationReasons":[` + strings.Join(rs, ",") + `]}`
	}
	apiErr := func(typ string) string { return `{"__type":"` + prefix + typ + `","message":"x"}` }
	reserve := func() error { return reserve(c, st, "u", "s9") }
	// A write with its audit event is a transaction.
	tx := func() error {
		return st.SetUserLimit(c, "u", sandstep.Quota{}, 3, sandstep.AuditEvent{Action: "x", UserID: "root", TargetUserID: "u", Outcome: "ok"})
	}
	get := func() error { _, err := st.GetSandbox(c, "s"); return err }
	audit := func() error { return st.AppendAudit(c, sandstep.AuditEvent{Action: "x", UserID: "u", SandboxID: "s"}) }
	tests := []struct {
		name   string
		op     string
		status int
		body   string
		call   func() error
		code   sandstep.Code
	}{
		{"throughput exceeded", "GetItem", 400, apiErr("ProvisionedThroughputExceededException"), get, sandstep.ETRANSIENT},
		{"request limit", "GetItem", 400, apiErr("RequestLimitExceeded"), get, sandstep.ETRANSIENT},
		{"throttling", "PutItem", 400, apiErr("ThrottlingException"), audit, sandstep.ETRANSIENT},
		{"transaction conflict", "UpdateItem", 400, apiErr("TransactionConflictException"), reserve, sandstep.ETRANSIENT},
		{"internal server error", "GetItem", 500, apiErr("InternalServerError"), get, sandstep.ETRANSIENT},
		{"bare 503", "GetItem", 503, `{}`, get, sandstep.ETRANSIENT},
		{"quota condition", "UpdateItem", 400, apiErr("ConditionalCheckFailedException"), reserve, sandstep.EQUOTA},
		{"cancelled: throttled item", "TransactWriteItems", 400, txCanceled("None", "ThrottlingError"), tx, sandstep.ETRANSIENT},
		{"cancelled: conflict beats condition", "TransactWriteItems", 400, txCanceled("ConditionalCheckFailed", "TransactionConflict"), tx, sandstep.ETRANSIENT},
		{"cancelled: validation", "TransactWriteItems", 400, txCanceled("ValidationError", "None"), tx, sandstep.EINTERNAL},
		{"validation exception", "GetItem", 400, apiErr("ValidationException"), get, sandstep.EINTERNAL},
		{"item too large", "PutItem", 400, `{"__type":"` + prefix + `ValidationException","message":"Item size has exceeded the maximum allowed size"}`, audit, sandstep.ETOOLARGE},
		{"missing table", "GetItem", 400, apiErr("ResourceNotFoundException"), get, sandstep.EINTERNAL},
		{"conditional check on transition", "PutItem", 400, apiErr("ConditionalCheckFailedException"), func() error {
			_, err := st.TransitionSandbox(c, "s", []sandstep.State{sandstep.StateReady}, sandstep.StateReady, nil)
			return err
		}, sandstep.ETRANSIENT}, // it keeps losing the optimistic race
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs.fail(tt.op, tt.status, tt.body)
			defer fs.op.Store("")
			before := fs.hits.Load()
			err := tt.call()
			if fs.hits.Load() == before {
				t.Fatalf("the fault was not hit (err %v)", err)
			}
			wantCode(t, err, tt.code, "")
			if tt.code == sandstep.EINTERNAL && sandstep.ErrorMessage(err) != "internal error" {
				t.Errorf("internal error shown to the caller: %q", sandstep.ErrorMessage(err))
			}
			// Nothing swallowed: the SDK's error stays in the chain.
			var api interface{ ErrorCode() string }
			if tt.status < 500 && !errors.As(err, &api) {
				var se *sandstep.Error
				if !errors.As(err, &se) || se.Err == nil {
					t.Errorf("cause lost: %v", err)
				}
			}
		})
	}
	// The typed cancellation reasons survive for callers that want them.
	fs.fail("TransactWriteItems", 400, txCanceled("None", "ThrottlingError"))
	err := tx()
	fs.op.Store("")
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || len(tce.CancellationReasons) != 2 {
		t.Fatalf("TransactionCanceledException not in chain: %v", err)
	}
}

func TestEmulatedServerFailureIsTransient(t *testing.T) {
	st, _, mini := newFaultStore(t)
	mini.EmulateFailure(server.FailureConditionInternalServerError)
	_, err := st.GetSandbox(ctx(t), "s")
	wantCode(t, err, sandstep.ETRANSIENT, "")
	_, err = st.ReleaseSlot(ctx(t), "u", "s")
	wantCode(t, err, sandstep.ETRANSIENT, "")
	mini.EmulateFailure(server.FailureConditionNone)
	_, err = st.GetSandbox(ctx(t), "s")
	wantCode(t, err, sandstep.ENOTFOUND, "")
}

func TestUnreachableAndContextErrors(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	url := hs.URL
	hs.Close() // nothing listens there any more
	client := storetest.DB(t, url, func(o *dynamo.Options) { o.MaxAttempts = 1 })
	st, err := store.New(client, "t", store.Options{DefaultQuota: 1, IdempotencyTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.GetSandbox(ctx(t), "s")
	wantCode(t, err, sandstep.ETRANSIENT, "")

	live, _, _ := storetest.New(t, store.Options{})
	cancelled, cancel := context.WithCancel(ctx(t))
	cancel()
	_, err = live.GetSandbox(cancelled, "s")
	wantCode(t, err, sandstep.ETRANSIENT, "")
	expired, cancel2 := context.WithDeadline(ctx(t), time.Now().Add(-time.Second))
	defer cancel2()
	err = reserve(expired, live, "u", "s")
	wantCode(t, err, sandstep.ETIMEOUT, "")
}

func TestCreateTableIdempotent(t *testing.T) {
	_, url := storetest.Server(t)
	client := storetest.DB(t, url)
	for range 2 {
		if err := store.CreateTable(ctx(t), client, "tbl"); err != nil {
			t.Fatalf("CreateTable: %v", err)
		}
	}
	wantCode(t, store.CreateTable(ctx(t), client, ""), sandstep.EINVALID, "table")
}
