package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"slices"
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

// calls counts the DynamoDB operations a store sends, and runs after, once,
// when the operation named op has been answered skip times more.
type calls struct {
	mu    sync.Mutex
	n     map[string]int
	op    string
	skip  int
	after func()
}

// wire puts c in front of the store's DynamoDB.
func (c *calls) wire(t *testing.T) func(*dynamo.Options) {
	c.n = map[string]int{}
	return inFront(t, func(w http.ResponseWriter, r *http.Request, pass http.Handler) {
		_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		pass.ServeHTTP(w, r)
		c.mu.Lock()
		c.n[op]++
		var after func()
		if op == c.op {
			if c.skip--; c.skip < 0 {
				after, c.op, c.after = c.after, "", nil
			}
		}
		c.mu.Unlock()
		if after != nil {
			after()
		}
	})
}

// inFront puts h in front of the store's DynamoDB: h gets every request
// and pass, which passes one on.
func inFront(t *testing.T, h func(w http.ResponseWriter, r *http.Request, pass http.Handler)) func(*dynamo.Options) {
	return func(o *dynamo.Options) {
		target, err := url.Parse(o.Endpoint)
		if err != nil {
			t.Fatal(err)
		}
		pass := httputil.NewSingleHostReverseProxy(target)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(w, r, pass) }))
		t.Cleanup(srv.Close)
		o.Endpoint = srv.URL
	}
}

// rawItem reads the item at pk/sk as it is in the table.
func rawItem(t *testing.T, client *dynamodb.Client, table, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	key := map[string]types.AttributeValue{"PK": strAV(pk), "SK": strAV(sk)}
	got, err := client.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil || got.Item == nil {
		t.Fatalf("get %s: %v", pk, err)
	}
	return got.Item
}

func (c *calls) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

func (c *calls) once(op string, skip int, after func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.op, c.skip, c.after = op, skip, after
}

// summary lists what a read of the live records found, sorted.
func summary(l *sandstep.Live) []string {
	var out []string
	for _, sb := range l.Sandboxes {
		out = append(out, "sandbox "+sb.ID+" "+string(sb.State))
	}
	for _, tk := range l.Tasks {
		out = append(out, "task "+tk.ID+" "+string(tk.Status))
	}
	for _, tk := range l.Notices {
		out = append(out, "notice "+tk.ID)
	}
	for u, n := range l.Counted {
		out = append(out, fmt.Sprintf("counter %s %d", u, n))
	}
	for _, sl := range l.Held {
		out = append(out, "slot "+sl.UserID+" "+sl.SandboxID)
	}
	if l.Deployment != "" {
		out = append(out, "deployment "+l.Deployment)
	}
	slices.Sort(out)
	return out
}

func sbxID(c byte) string { return "sbx_" + strings.Repeat(string(c), 26) }
func tskID(c byte) string { return "tsk_" + strings.Repeat(string(c), 26) }

// TestLiveRecordsReadsTheIndex: one scan of the index finds every live
// record, counter and the deployment, and nothing else, as records come
// and go; no sweep is needed for what the store writes.
func TestLiveRecordsReadsTheIndex(t *testing.T) {
	var wire calls
	clk := newClock()
	st, client, table := storetest.New(t, store.Options{DefaultQuota: 10, Now: clk.Now}, wire.wire(t))
	c := ctx(t)
	dep := mustDeployment(t, st)
	for _, id := range []byte("abcd") {
		seed(t, c, st, &sandstep.Sandbox{ID: sbxID(id), Owner: "alice"})
	}
	if err := reserve(c, st, "bob", sbxID('e')); err != nil { // creating
		t.Fatal(err)
	}
	if _, err := st.MarkDeleting(c, sbxID('b'), "alice"); err != nil { // deleting
		t.Fatal(err)
	}
	notice := &sandstep.TaskNotice{URL: "https://hooks.example.com/x", Host: "hooks.example.com", DeliveryID: "dlv_x", Status: sandstep.NoticePending}
	now := clk.Now()
	for _, tk := range []*sandstep.Task{
		{ID: tskID('a'), Owner: "alice", Status: sandstep.TaskQueued},
		{ID: tskID('b'), Owner: "alice", Status: sandstep.TaskRunning},
		{ID: tskID('c'), Owner: "alice", Status: sandstep.TaskSucceeded, FinishedAt: &now, Notify: notice},
		{ID: tskID('d'), Owner: "alice", Status: sandstep.TaskFailed, FinishedAt: &now},
	} {
		if err := st.PutTask(c, tk); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetUserLimit(c, "dave", quota(t, st, "dave"), 3); err != nil { // a counter holding nothing
		t.Fatal(err)
	}
	read := func() []string {
		t.Helper()
		wire.take()
		l, err := st.LiveRecords(c)
		if err != nil {
			t.Fatal(err)
		}
		if n := wire.take(); n["Scan"] != 1 || len(n) != 1 {
			t.Errorf("LiveRecords made %v, want one scan (of the index)", n)
		}
		return summary(l)
	}
	got := read()
	if want := []string{
		"counter alice 4", "counter bob 1", "counter dave 0", "deployment " + dep,
		"notice " + tskID('c'),
		"sandbox " + sbxID('a') + " ready", "sandbox " + sbxID('b') + " deleting", "sandbox " + sbxID('c') + " ready",
		"sandbox " + sbxID('d') + " ready", "sandbox " + sbxID('e') + " creating",
		"slot alice " + sbxID('a'), "slot alice " + sbxID('b'), "slot alice " + sbxID('c'), "slot alice " + sbxID('d'),
		"slot bob " + sbxID('e'),
		"task " + tskID('a') + " queued", "task " + tskID('b') + " running",
	}; !slices.Equal(got, want) {
		t.Errorf("the index has\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A sweep finds nothing missing.
	if sw, err := st.Sweep(c); err != nil || !sw.Done || sw.Indexed != 0 || len(sw.Legacy) != 0 {
		t.Errorf("sweep = %+v, %v; want it ended, nothing missing from the index", sw, err)
	}

	// Records leave their live states, others come.
	deleting := &sandstep.Sandbox{ID: sbxID('b'), Owner: "alice"}
	if _, err := st.FinishDelete(c, deleting, deleteEvent(deleting)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TransitionSandbox(c, sbxID('c'), []sandstep.State{sandstep.StateReady}, sandstep.StateGone, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TransitionTask(c, tskID('b'), []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskSucceeded, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TransitionTask(c, tskID('c'), []sandstep.TaskStatus{sandstep.TaskSucceeded}, sandstep.TaskSucceeded, func(tk *sandstep.Task) {
		tk.Notify.Status = sandstep.NoticeDelivered
	}); err != nil {
		t.Fatal(err)
	}
	seed(t, c, st, &sandstep.Sandbox{ID: sbxID('f'), Owner: "carol"})
	// dave's counter written without its key (by a version before the
	// index, say): clearing his limit, an update, leaves the key to the
	// sweep (an update must not give an item its first index key, see
	// newCounter), which gives it.
	storetest.Unindex(t, client, table, "USER#dave", "QUOTA")
	if err := st.ClearUserLimit(c, "dave", quota(t, st, "dave")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(25 * time.Hour) // the next day's sweep
	if sw, err := st.Sweep(c); err != nil || sw.Indexed != 1 {
		t.Errorf("sweep = %+v, %v; want dave's counter indexed", sw, err)
	}
	// What ended was written without its index key (minidyn ignores
	// FinishDelete's REMOVE of it: a deleted record is left to the filter).
	for _, pk := range []string{"SBX#" + sbxID('c'), "TASK#" + tskID('b'), "TASK#" + tskID('c'), "TASK#" + tskID('d')} {
		if item := rawItem(t, client, table, pk, "META"); item["LivePK"] != nil {
			t.Errorf("%s ended with its index key %v", pk, item["LivePK"])
		}
	}
	got = read()
	if want := []string{
		"counter alice 3", "counter bob 1", "counter carol 1", "counter dave 0", "deployment " + dep,
		"sandbox " + sbxID('a') + " ready", "sandbox " + sbxID('d') + " ready", "sandbox " + sbxID('e') + " creating",
		"sandbox " + sbxID('f') + " ready",
		"slot alice " + sbxID('a'), "slot alice " + sbxID('c'), "slot alice " + sbxID('d'),
		"slot bob " + sbxID('e'), "slot carol " + sbxID('f'),
		"task " + tskID('a') + " queued",
	}; !slices.Equal(got, want) {
		t.Errorf("after the changes the index has\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func mustDeployment(t *testing.T, st *store.Store) string {
	t.Helper()
	id, err := st.Deployment(t.Context(), "dep")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestSweepIndexesWhatTheIndexLacks: items written without their index
// key (before the index existed, or by an earlier version during an
// update) are found by a sweep, which gives them the key unless they
// changed since it read them. A sweep runs when due: a day after the last
// ended, or on a table never swept.
func TestSweepIndexesWhatTheIndexLacks(t *testing.T) {
	var wire calls
	clk := newClock()
	st, client, table := storetest.New(t, store.Options{DefaultQuota: 10, Now: clk.Now}, wire.wire(t))
	c := ctx(t)
	dep := mustDeployment(t, st)
	seed(t, c, st, &sandstep.Sandbox{ID: sbxID('a'), Owner: "alice"})
	seed(t, c, st, &sandstep.Sandbox{ID: sbxID('b'), Owner: "alice"})
	seed(t, c, st, &sandstep.Sandbox{ID: sbxID('d'), Owner: "bob"})
	if err := st.SetUserLimit(c, "carol", quota(t, st, "carol"), 3); err != nil {
		t.Fatal(err)
	}
	for _, id := range []byte("ab") {
		if err := st.PutTask(c, &sandstep.Task{ID: tskID(id), Owner: "alice", Status: sandstep.TaskRunning}); err != nil {
			t.Fatal(err)
		}
	}
	sweep := func(wantScan bool) *sandstep.Sweep {
		t.Helper()
		wire.take()
		sw, err := st.Sweep(c)
		if err != nil {
			t.Fatal(err)
		}
		if n := wire.take(); (n["Scan"] > 0) != wantScan {
			t.Errorf("sweep made %v; want a scan of the table: %v", n, wantScan)
		}
		return sw
	}
	if sw := sweep(true); !sw.Done || sw.Indexed != 0 { // never swept: due
		t.Fatalf("first sweep = %+v, want it ended with nothing missing", sw)
	}
	if sw := sweep(false); sw.Pages != 0 { // ended a moment ago
		t.Fatalf("sweep right after one = %+v, want none", sw)
	}
	for _, k := range [][2]string{{"SBX#" + sbxID('a'), "META"}, {"SBX#" + sbxID('b'), "META"},
		{"TASK#" + tskID('a'), "META"}, {"TASK#" + tskID('b'), "META"}, {"USER#alice", "QUOTA"}, {"USER#bob", "QUOTA"},
		{"USER#carol", "QUOTA"}, {"DEPLOYMENT", "META"}} {
		storetest.Unindex(t, client, table, k[0], k[1])
	}
	if got, want := summary(mustLive(t, st)), []string{"sandbox " + sbxID('d') + " ready"}; !slices.Equal(got, want) {
		t.Fatalf("the index has %v, want only %v", got, want)
	}
	clk.Advance(23 * time.Hour)
	if sw := sweep(false); sw.Pages != 0 {
		t.Fatalf("sweep 23h after the last = %+v, want none", sw)
	}
	clk.Advance(time.Hour)
	// Between the sweep's scan and its writes, sandbox b is marked
	// deleting, task b ends and bob takes a slot: the sweep leaves all
	// three as they now are.
	wire.once("Scan", 0, func() {
		if _, err := st.MarkDeleting(c, sbxID('b'), "alice"); err != nil {
			t.Error(err)
		}
		if _, err := st.TransitionTask(c, tskID('b'), []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskFailed, nil); err != nil {
			t.Error(err)
		}
		if err := reserve(c, st, "bob", sbxID('e')); err != nil {
			t.Error(err)
		}
		if err := st.SetUserLimit(c, "carol", sandstep.Quota{Limit: 3, LimitSet: true}, 7); err != nil {
			t.Error(err)
		}
	})
	if sw := sweep(true); !sw.Done || sw.Indexed != 4 {
		t.Errorf("sweep a day later = %+v, want it ended, 4 items indexed (alice's counter, the deployment, sandbox a, task a)", sw)
	}
	want := []string{"counter alice 2", "deployment " + dep, "sandbox " + sbxID('a') + " ready",
		"sandbox " + sbxID('d') + " ready", "sandbox " + sbxID('e') + " creating",
		"slot alice " + sbxID('a'), "slot alice " + sbxID('b'), "task " + tskID('a') + " running"}
	if got := summary(mustLive(t, st)); !slices.Equal(got, want) {
		t.Errorf("after the sweep the index has\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if sb, err := st.GetSandbox(c, sbxID('b')); err != nil || sb.State != sandstep.StateDeleting {
		t.Errorf("sandbox b = %+v, %v; want deleting, as marked after the scan", sb, err)
	}
	if tk, err := st.GetTask(c, tskID('b')); err != nil || tk.Status != sandstep.TaskFailed {
		t.Errorf("task b = %+v, %v; want failed, as ended after the scan", tk, err)
	}
	if q, err := st.GetQuota(c, "bob"); err != nil || q.Active != 2 {
		t.Errorf("bob's counter = %+v, %v; want 2, with the slot taken after the scan", q, err)
	}
	if q, err := st.GetQuota(c, "carol"); err != nil || q.Limit != 7 {
		t.Errorf("carol's counter = %+v, %v; want the limit of 7 set after the scan", q, err)
	}
}

// TestSweepGoesOnWhereItStopped: a share of a sweep reads at most 100
// pages and writes at most 1,000 items back, and the next run's share goes
// on from there, so that a table of any size, even one whose every live
// item lacks its key, is swept within the reaper's timeout.
func TestSweepGoesOnWhereItStopped(t *testing.T) {
	for _, tt := range []struct {
		name     string
		items    int
		pageSize int
		shares   []sandstep.Sweep
	}{
		{"by pages", 150, 1, []sandstep.Sweep{{Pages: 100, Indexed: 100}, {Pages: 51, Indexed: 50, Done: true}}},
		// The second share reads only the 50 after the 1,000th.
		{"by writes", 1050, 100, []sandstep.Sweep{{Pages: 10, Indexed: 1000}, {Pages: 1, Indexed: 50, Done: true}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var scans atomic.Int32
			st, client, table := storetest.New(t, store.Options{DefaultQuota: 10}, pagesOf(t, tt.pageSize, &scans))
			c := ctx(t)
			for i := range tt.items {
				id := fmt.Sprintf("tsk_%026d", i)
				if err := st.PutTask(c, &sandstep.Task{ID: id, Owner: "u", Status: sandstep.TaskRunning}); err != nil {
					t.Fatal(err)
				}
				storetest.Unindex(t, client, table, "TASK#"+id, "META")
			}
			var shares []sandstep.Sweep
			for len(shares) < 5 {
				sw, err := st.Sweep(c)
				if err != nil {
					t.Fatal(err)
				}
				shares = append(shares, *sw)
				if sw.Done {
					break
				}
			}
			if !reflect.DeepEqual(shares, tt.shares) {
				t.Errorf("shares %+v, want %+v", shares, tt.shares)
			}
			if l := mustLive(t, st); len(l.Tasks) != tt.items {
				t.Errorf("the index has %d tasks, want %d", len(l.Tasks), tt.items)
			}
		})
	}
}

// pagesOf puts a wire in front of the store's DynamoDB that asks for
// pages of n items in every scan (minidyn answers in one page), counting
// the scans.
func pagesOf(t *testing.T, n int, scans *atomic.Int32) func(*dynamo.Options) {
	return inFront(t, func(w http.ResponseWriter, r *http.Request, pass http.Handler) {
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".Scan") {
			var in map[string]any
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
				t.Errorf("scan request: %v", err)
			}
			in["Limit"] = n
			b, _ := json.Marshal(in)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
			scans.Add(1)
		}
		pass.ServeHTTP(w, r)
	})
}

func mustLive(t *testing.T, st *store.Store) *sandstep.Live {
	t.Helper()
	l, err := st.LiveRecords(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestSweepGoesOnPastAnItemItCannotIndex: an item whose write is refused
// for good is counted and left for the next sweep; the sweep ends. One
// the database is too busy to take, or whose write goes unanswered, stops
// the share where the last one stopped, for the next run to read again.
func TestSweepGoesOnPastAnItemItCannotIndex(t *testing.T) {
	for _, tt := range []struct {
		name, errType string
		wantErr       bool
	}{
		{"refused", "ValidationException", false},
		{"busy", "ProvisionedThroughputExceededException", true},
		{"cut off", "", true}, // the connection closed unanswered
	} {
		t.Run(tt.name, func(t *testing.T) {
			var refuse atomic.Bool
			wire := inFront(t, func(w http.ResponseWriter, r *http.Request, pass http.Handler) {
				if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".PutItem") && refuse.Load() {
					body, _ := io.ReadAll(r.Body)
					if bytes.Contains(body, []byte(tskID('a'))) {
						if tt.errType == "" {
							conn, _, err := http.NewResponseController(w).Hijack()
							if err == nil {
								conn.Close()
							}
							return
						}
						w.Header().Set("Content-Type", "application/x-amz-json-1.0")
						w.WriteHeader(http.StatusBadRequest)
						fmt.Fprintf(w, `{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"no"}`, tt.errType)
						return
					}
					r.Body = io.NopCloser(bytes.NewReader(body))
				}
				pass.ServeHTTP(w, r)
			})
			st, client, table := storetest.New(t, store.Options{DefaultQuota: 10}, wire)
			c := ctx(t)
			for _, id := range []byte("ab") {
				if err := st.PutTask(c, &sandstep.Task{ID: tskID(id), Owner: "u", Status: sandstep.TaskRunning}); err != nil {
					t.Fatal(err)
				}
				storetest.Unindex(t, client, table, "TASK#"+tskID(id), "META")
			}
			refuse.Store(true)
			sw, err := st.Sweep(c)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("sweep = %+v; want its error", sw)
				}
				if sw, err := st.Sweep(c); err == nil { // the share again, from where it was
					t.Errorf("sweep again = %+v; want the same error", sw)
				}
				return
			}
			if err != nil || !sw.Done || sw.Indexed != 1 || sw.Failed != 1 {
				t.Errorf("sweep = %+v, %v; want it ended, task b indexed, task a failed", sw, err)
			}
		})
	}
}

// Administrators' audit events live, never expiring (no expiresAt), in
// the user's partition beside the quota counter (README: PK=USER#<user>,
// SK=EVT#…), and every GET /admin/users/{u}/quota adds one. The reaper's
// Counter reads that partition whole, with a filter, so each read of the
// counter pays for the user's whole administrative history:
// architecture.md promises a reaper run "costs what is live, not the
// history". The counter's read must not scan the audit events.
func TestCounterReadsNoAdminAuditHistory(t *testing.T) {
	ctx := context.Background()
	// Pages of 10 items, as DynamoDB pages at 1 MB: the queries a read
	// takes count the items it reads, filtered out or not.
	var queries atomic.Int64
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 3}, inFront(t, func(w http.ResponseWriter, r *http.Request, pass http.Handler) {
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".Query") {
			var in map[string]any
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
				t.Errorf("query request: %v", err)
			}
			in["Limit"] = 10
			b, _ := json.Marshal(in)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
			queries.Add(1)
		}
		pass.ServeHTTP(w, r)
	}))
	if err := st.SetUserLimit(ctx, "alice", quota(t, st, "alice"), 2); err != nil {
		t.Fatal(err)
	}
	const reads = 200 // an operator's dashboard reading alice's usage
	for range reads {
		if err := st.AppendAudit(ctx, sandstep.AuditEvent{Action: "admin.usage.read", UserID: "root", TargetUserID: "alice", Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	queries.Store(0)
	if _, _, _, err := st.Counter(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if n := queries.Load(); n > 1 {
		t.Errorf("reading alice's counter took %d pages of 10 items; want one: the counter, not her %d audit events (they never expire, so this grows forever)", n, reads)
	}
}
