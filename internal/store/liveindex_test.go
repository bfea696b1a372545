package store_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
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
	return func(o *dynamo.Options) {
		target, err := url.Parse(o.Endpoint)
		if err != nil {
			t.Fatal(err)
		}
		proxy := httputil.NewSingleHostReverseProxy(target)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
			proxy.ServeHTTP(w, r)
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
		}))
		t.Cleanup(srv.Close)
		o.Endpoint = srv.URL
	}
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

// TestLiveRecordsReadsTheIndexBetweenSweeps: the first read sweeps the
// table and records it; the reads after it, for a day, query the index
// alone and find what a sweep finds, as records come and go.
func TestLiveRecordsReadsTheIndexBetweenSweeps(t *testing.T) {
	var wire calls
	clk := newClock()
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 10, Now: clk.Now}, wire.wire(t))
	c := ctx(t)
	if _, err := st.Deployment(c, "dep"); err != nil {
		t.Fatal(err)
	}
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
	read := func(dryRun, wantSwept bool) []string {
		t.Helper()
		wire.take()
		l, err := st.LiveRecords(c, dryRun)
		if err != nil {
			t.Fatal(err)
		}
		n := wire.take()
		if l.Swept != wantSwept {
			t.Errorf("Swept = %v, want %v", l.Swept, wantSwept)
		}
		if !wantSwept && (n["Scan"] != 1 || len(n) != 1) {
			t.Errorf("a read between sweeps made %v, want one scan (of the index)", n)
		}
		if wantSwept && (n["Scan"] != 2 || !dryRun && n["PutItem"] != 1) {
			// One put records the sweep; no item lacked its index key.
			t.Errorf("a sweep made %v, want two scans (the index, then the table) and, not in a dry run, one put", n)
		}
		return summary(l)
	}
	swept := read(false, true)
	if want := []string{
		"counter alice 4", "counter bob 1", "deployment " + mustDeployment(t, st),
		"notice " + tskID('c'),
		"sandbox " + sbxID('a') + " ready", "sandbox " + sbxID('b') + " deleting", "sandbox " + sbxID('c') + " ready",
		"sandbox " + sbxID('d') + " ready", "sandbox " + sbxID('e') + " creating",
		"slot alice " + sbxID('a'), "slot alice " + sbxID('b'), "slot alice " + sbxID('c'), "slot alice " + sbxID('d'),
		"slot bob " + sbxID('e'),
		"task " + tskID('a') + " queued", "task " + tskID('b') + " running",
	}; !slices.Equal(swept, want) {
		t.Errorf("the sweep found\n%s\nwant\n%s", strings.Join(swept, "\n"), strings.Join(want, "\n"))
	}
	if indexed := read(false, false); !slices.Equal(indexed, swept) {
		t.Errorf("the index has\n%s\nwant what the sweep found\n%s", strings.Join(indexed, "\n"), strings.Join(swept, "\n"))
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
	indexed := read(false, false)
	clk.Advance(24 * time.Hour)
	if truth := read(true, true); !slices.Equal(indexed, truth) {
		t.Errorf("after the changes the index has\n%s\nwant what a sweep finds\n%s", strings.Join(indexed, "\n"), strings.Join(truth, "\n"))
	}
	for _, gone := range []string{sbxID('b'), sbxID('c'), tskID('b'), tskID('c')} {
		if slices.ContainsFunc(indexed, func(s string) bool { return strings.Contains(s, gone) && !strings.HasPrefix(s, "slot") }) {
			t.Errorf("the index still has %s", gone)
		}
	}
	if !slices.Contains(indexed, "sandbox "+sbxID('f')+" ready") || !slices.Contains(indexed, "counter carol 1") {
		t.Errorf("the index lacks carol's new sandbox or counter:\n%s", strings.Join(indexed, "\n"))
	}
	// The dry run recorded no sweep: the next read sweeps, and records it.
	read(false, true)
	read(false, false)
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
// update) are found by the next sweep, which gives them the key unless
// they changed since it read them, and writes nothing in a dry run.
func TestSweepIndexesWhatTheIndexLacks(t *testing.T) {
	var wire calls
	clk := newClock()
	st, client, table := storetest.New(t, store.Options{DefaultQuota: 10, Now: clk.Now}, wire.wire(t))
	c := ctx(t)
	dep := mustDeployment(t, st)
	seed(t, c, st, &sandstep.Sandbox{ID: sbxID('a'), Owner: "alice"})
	seed(t, c, st, &sandstep.Sandbox{ID: sbxID('b'), Owner: "alice"})
	for _, id := range []byte("ab") {
		if err := st.PutTask(c, &sandstep.Task{ID: tskID(id), Owner: "alice", Status: sandstep.TaskRunning}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.LiveRecords(c, false); err != nil { // the sweep, recorded
		t.Fatal(err)
	}
	// As an earlier version wrote them: a put of the whole item, without
	// the key (minidyn ignores an update's REMOVE of an index key).
	unindex := func(pk, sk string) {
		t.Helper()
		key := map[string]types.AttributeValue{"PK": strAV(pk), "SK": strAV(sk)}
		got, err := client.GetItem(c, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil || got.Item == nil {
			t.Fatalf("get %s: %v", pk, err)
		}
		delete(got.Item, "LivePK")
		if _, err := client.PutItem(c, &dynamodb.PutItemInput{TableName: aws.String(table), Item: got.Item}); err != nil {
			t.Fatal(err)
		}
	}
	unindex("SBX#"+sbxID('a'), "META")
	unindex("SBX#"+sbxID('b'), "META")
	unindex("TASK#"+tskID('a'), "META")
	unindex("TASK#"+tskID('b'), "META")
	unindex("USER#alice", "QUOTA")
	unindex("DEPLOYMENT", "META")
	if got := summary(mustLive(t, st, false)); len(got) != 0 {
		t.Fatalf("the index still has %v", got)
	}

	clk.Advance(24*time.Hour + time.Second)
	wire.take()
	dry := mustLive(t, st, true)
	all := summary(dry)
	if want := []string{"counter alice 2", "deployment " + dep, "sandbox " + sbxID('a') + " ready", "sandbox " + sbxID('b') + " ready",
		"slot alice " + sbxID('a'), "slot alice " + sbxID('b'), "task " + tskID('a') + " running", "task " + tskID('b') + " running",
	}; !dry.Swept || !slices.Equal(all, want) {
		t.Errorf("a dry run's sweep found\n%s\n(swept %v), want\n%s", strings.Join(all, "\n"), dry.Swept, strings.Join(want, "\n"))
	}
	if n := wire.take(); n["PutItem"] != 0 || n["UpdateItem"] != 0 || n["TransactWriteItems"] != 0 {
		t.Errorf("the dry run wrote: %v", n)
	}
	// Between the sweep's scan of the table (after the index's) and its
	// writes, sandbox b is marked deleting and task b ends: the sweep
	// leaves both as they now are.
	wire.once("Scan", 1, func() {
		if _, err := st.MarkDeleting(c, sbxID('b'), "alice"); err != nil {
			t.Error(err)
		}
		if _, err := st.TransitionTask(c, tskID('b'), []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskFailed, nil); err != nil {
			t.Error(err)
		}
	})
	if got := mustLive(t, st, false); !got.Swept || !slices.Equal(summary(got), all) {
		t.Errorf("the sweep found %v (swept %v), want %v", summary(got), got.Swept, all)
	}
	got := mustLive(t, st, false)
	if got.Swept {
		t.Fatal("the sweep was not recorded")
	}
	want := []string{"counter alice 2", "deployment " + dep, "sandbox " + sbxID('a') + " ready",
		"slot alice " + sbxID('a'), "slot alice " + sbxID('b'), "task " + tskID('a') + " running"}
	if !slices.Equal(summary(got), want) {
		t.Errorf("after the sweep the index has\n%s\nwant\n%s", strings.Join(summary(got), "\n"), strings.Join(want, "\n"))
	}
	if sb, err := st.GetSandbox(c, sbxID('b')); err != nil || sb.State != sandstep.StateDeleting {
		t.Errorf("sandbox b = %+v, %v; want deleting, as marked after the scan", sb, err)
	}
	if tk, err := st.GetTask(c, tskID('b')); err != nil || tk.Status != sandstep.TaskFailed {
		t.Errorf("task b = %+v, %v; want failed, as ended after the scan", tk, err)
	}
}

func mustLive(t *testing.T, st *store.Store, dryRun bool) *sandstep.Live {
	t.Helper()
	l, err := st.LiveRecords(context.Background(), dryRun)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
