package store_test

import (
	"bytes"
	"errors"
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

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// issueTask is a new task of octo/hello's issue n, as HandleIssue writes it.
func issueTask(id string, n int) *sandstep.Task {
	return &sandstep.Task{ID: id, Owner: sandstep.RepoUser("octo/hello"), Status: sandstep.TaskQueued,
		Metadata: sandstep.Metadata{Repo: "octo/hello", IssueID: strconv.Itoa(n), InstallationID: "7"}}
}

// One live task per issue: a second start of the issue is refused until
// the first task ends, whatever ends it.
func TestIssueClaim(t *testing.T) {
	st, client, table := storetest.New(t, store.Options{})
	c := ctx(t)
	ended := []sandstep.TaskStatus{sandstep.TaskQueued, sandstep.TaskRunning}
	transition := func(id string, to sandstep.TaskStatus) func() error {
		return func() error { _, err := st.TransitionTask(c, id, ended, to, nil); return err }
	}
	dropRecord := func(id string) func() error {
		return func() error {
			_, err := client.DeleteItem(c, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
				"PK": &types.AttributeValueMemberS{Value: "TASK#" + id}, "SK": &types.AttributeValueMemberS{Value: "META"}}})
			return err
		}
	}
	user := &sandstep.Task{ID: "tsk_user", Owner: "alice", Status: sandstep.TaskQueued, Metadata: sandstep.Metadata{Repo: "octo/hello", IssueID: "1"}}
	steps := []struct {
		name   string
		before func() error
		put    *sandstep.Task
		refuse bool
		holder string // IssueTask's answer for issue 1 after the step
	}{
		{"the issue's first task", nil, issueTask("tsk_a", 1), false, "tsk_a"},
		{"a second start of the issue", nil, issueTask("tsk_b", 1), true, "tsk_a"},
		{"another issue", nil, issueTask("tsk_c", 2), false, "tsk_a"},
		{"a user's task naming the issue claims nothing", nil, user, false, "tsk_a"},
		{"while the first runs", transition("tsk_a", sandstep.TaskRunning), issueTask("tsk_d", 1), true, "tsk_a"},
		{"once the first ended", transition("tsk_a", sandstep.TaskCancelled), issueTask("tsk_e", 1), false, "tsk_e"},
		// An earlier version ended it without the claim, or its record is gone.
		{"a claim whose task is gone is taken over", dropRecord("tsk_e"), issueTask("tsk_f", 1), false, "tsk_f"},
		{"a task ended again lets nothing go", transition("tsk_c", sandstep.TaskFailed), issueTask("tsk_g", 1), true, "tsk_f"},
	}
	for _, s := range steps {
		if s.before != nil {
			if err := s.before(); err != nil {
				t.Fatalf("%s: before: %v", s.name, err)
			}
		}
		err := st.PutTask(c, s.put)
		if s.refuse {
			if sandstep.ErrorCode(err) != sandstep.ECONFLICT || sandstep.ErrorField(err) != "metadata.issueId" {
				t.Fatalf("%s: PutTask = %v, want conflict on metadata.issueId", s.name, err)
			}
			if _, err := st.GetTask(c, s.put.ID); sandstep.ErrorCode(err) != sandstep.ENOTFOUND {
				t.Fatalf("%s: a refused task was written: %v", s.name, err)
			}
		} else if err != nil {
			t.Fatalf("%s: PutTask = %v", s.name, err)
		}
		got, err := st.IssueTask(c, "octo/hello", "1")
		if err != nil || got == nil || got.ID != s.holder {
			t.Fatalf("%s: IssueTask = %+v, %v; want %s", s.name, got, err, s.holder)
		}
	}
	if _, err := st.TransitionTask(c, "tsk_f", ended, sandstep.TaskSucceeded, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := st.IssueTask(c, "octo/hello", "1"); err != nil || got != nil {
		t.Fatalf("IssueTask after the end = %+v, %v; want none", got, err)
	}
	// Let go by the end itself, not left for the next start to take over.
	out, err := client.GetItem(c, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "ISSUE#octo/hello#1"}, "SK": &types.AttributeValueMemberS{Value: "CLAIM"}}})
	if err != nil || out.Item != nil {
		t.Fatalf("the claim after its task's end: %v, %v; want none", out.Item, err)
	}
}

// A task that ends while another holds its issue's claim (it was started
// by a version before claims) ends all the same, and the claim stays.
func TestIssueClaimHeldByAnother(t *testing.T) {
	st, client, table := storetest.New(t, store.Options{})
	c := ctx(t)
	if err := st.PutTask(c, issueTask("tsk_old", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteItem(c, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "ISSUE#octo/hello#1"}, "SK": &types.AttributeValueMemberS{Value: "CLAIM"}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutTask(c, issueTask("tsk_new", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TransitionTask(c, "tsk_old", []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskSucceeded, nil); err != nil {
		t.Fatalf("the old task's end = %v", err)
	}
	if got, err := st.IssueTask(c, "octo/hello", "1"); err != nil || got == nil || got.ID != "tsk_new" {
		t.Fatalf("IssueTask = %+v, %v; want tsk_new", got, err)
	}
}

// Of many starts of one issue at once, on as many instances, one writes
// its task.
func TestIssueClaimConcurrent(t *testing.T) {
	const n = 8
	stores := storetest.Instances(t, n, store.Options{})
	c := ctx(t)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = stores[i].PutTask(c, issueTask("tsk_"+strconv.Itoa(i), 1)) })
	}
	wg.Wait()
	written := 0
	for i, err := range errs {
		switch {
		case err == nil:
			written++
		case sandstep.ErrorCode(err) != sandstep.ECONFLICT:
			t.Errorf("start %d: %v, want written or conflict", i, err)
		}
	}
	if written != 1 {
		t.Fatalf("%d of %d starts wrote a task, want 1", written, n)
	}
}

// claimWatch sees the writes that touch an issue's claim: it counts them
// and, while armed, answers them as DynamoDB does while another
// transaction writes the claim (a second delivery's start).
type claimWatch struct {
	armed  atomic.Bool
	writes atomic.Int32
}

func (w *claimWatch) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".TransactWriteItems") || !bytes.Contains(b, []byte("ISSUE#")) {
			h.ServeHTTP(rw, r)
			return
		}
		w.writes.Add(1)
		if !w.armed.Load() {
			h.ServeHTTP(rw, r)
			return
		}
		rw.Header().Set("Content-Type", "application/x-amz-json-1.0")
		rw.WriteHeader(http.StatusBadRequest)
		io.WriteString(rw, `{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"Transaction cancelled","CancellationReasons":[{"Code":"None"},{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"}]}`)
	})
}

func claimWatchStore(t *testing.T, w *claimWatch) *store.Store {
	t.Helper()
	st, _ := storeBehind(t, w.wrap, store.Options{})
	return st
}

// A task's end is not refused because another start of its issue is
// writing the claim at that moment: the record is written alone, and the
// claim, naming an ended task, is the next start's to take over.
func TestTaskEndsWhileItsClaimIsBeingWritten(t *testing.T) {
	w := &claimWatch{}
	st := claimWatchStore(t, w)
	c := ctx(t)
	if err := st.PutTask(c, issueTask("tsk_a", 1)); err != nil {
		t.Fatal(err)
	}
	w.armed.Store(true)
	if _, err := st.TransitionTask(c, "tsk_a", []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskCancelled, nil); err != nil {
		t.Fatalf("the task's end while its claim is being written: %v", err)
	}
	w.armed.Store(false)
	if got, err := st.GetTask(c, "tsk_a"); err != nil || got.Status != sandstep.TaskCancelled {
		t.Fatalf("the task after its end: %+v, %v; want cancelled", got, err)
	}
	if err := st.PutTask(c, issueTask("tsk_b", 1)); err != nil {
		t.Fatalf("the issue's next start: %v", err)
	}
}

// Only a task's end touches its issue's claim: a task that has ended is
// written alone afterwards (its notice, its comment), whoever holds the
// claim.
func TestAnEndedTaskIsWrittenWithoutItsClaim(t *testing.T) {
	w := &claimWatch{}
	st := claimWatchStore(t, w)
	c := ctx(t)
	if err := st.PutTask(c, issueTask("tsk_a", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TransitionTask(c, "tsk_a", []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskFailed, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.PutTask(c, issueTask("tsk_b", 1)); err != nil {
		t.Fatal(err)
	}
	before := w.writes.Load()
	if _, err := st.TransitionTask(c, "tsk_a", []sandstep.TaskStatus{sandstep.TaskFailed}, sandstep.TaskFailed, nil); err != nil {
		t.Fatal(err)
	}
	if n := w.writes.Load() - before; n != 0 {
		t.Fatalf("an ended task written again: %d writes with its issue's claim, want 0", n)
	}
	if got, err := st.IssueTask(c, "octo/hello", "1"); err != nil || got == nil || got.ID != "tsk_b" {
		t.Fatalf("IssueTask = %+v, %v; want tsk_b", got, err)
	}
}

// A task of an issue asked for before the issue's last cancel mark is
// refused; one asked for after it is written. Of two marks the later
// stays, whichever is written last.
func TestIssueCancelMark(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{})
	c := ctx(t)
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, at := range []time.Time{t0.Add(2 * time.Second), t0} {
		if err := st.MarkIssueCancelled(c, "octo/hello", "12", at); err != nil {
			t.Fatalf("mark at %s: %v", at, err)
		}
	}
	for i, tc := range []struct {
		name   string
		asked  time.Time
		issue  int
		refuse bool
	}{
		{"asked before the earlier mark", t0.Add(-time.Second), 12, true},
		{"asked between the marks", t0.Add(time.Second), 12, true},
		{"asked as the later mark was made", t0.Add(2 * time.Second), 12, true},
		{"another issue", t0, 13, false},
		{"asked after the later mark", t0.Add(3 * time.Second), 12, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task := issueTask("t"+strconv.Itoa(i), tc.issue)
			task.CreatedAt = tc.asked
			err := st.PutTask(c, task)
			if got := errors.Is(err, sandstep.ErrIssueCancelled); got != tc.refuse || !tc.refuse && err != nil {
				t.Fatalf("PutTask asked at %s = %v; want refused for the cancel: %v", tc.asked, err, tc.refuse)
			}
			if tc.refuse && sandstep.ErrorCode(err) != sandstep.ECONFLICT {
				t.Errorf("code %s, want conflict", sandstep.ErrorCode(err))
			}
			if _, err := st.GetTask(c, task.ID); tc.refuse != (sandstep.ErrorCode(err) == sandstep.ENOTFOUND) {
				t.Errorf("the task's record: %v; written: %v", err, !tc.refuse)
			}
		})
	}
}

// A cancel mark meeting a start's transaction (which checks it) is
// refused by DynamoDB with TransactionConflictException, and written when
// tried again.
func TestACancelMarkMeetingAStartsTransactionIsWritten(t *testing.T) {
	var left atomic.Int32
	left.Store(1)
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".UpdateItem") && bytes.Contains(b, []byte(`"CANCEL"`)) && left.Add(-1) >= 0 {
				answerConflict(w)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	st, _ := storeBehind(t, wrap, store.Options{})
	c := ctx(t)
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := st.MarkIssueCancelled(c, "octo/hello", "12", t0); err != nil {
		t.Fatalf("MarkIssueCancelled after one TransactionConflictException = %v (code %s); want it written, as the rate's writes are after a conflict", err, sandstep.ErrorCode(err))
	}
	task := issueTask("t-before", 12)
	task.CreatedAt = t0.Add(-time.Second)
	if err := st.PutTask(c, task); !errors.Is(err, sandstep.ErrIssueCancelled) {
		t.Fatalf("PutTask asked before the cancel = %v; want refused", err)
	}
}
