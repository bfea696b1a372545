package store_test

import (
	"fmt"
	"reflect"
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

func TestCommitSandbox(t *testing.T) {
	clk := newClock()
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 2, Now: clk.Now})
	c := ctx(t)

	sb := &sandstep.Sandbox{
		ID: "sb1", Owner: "alice", State: sandstep.StateCreating,
		Labels:    map[string]string{"sandstep/id": "sb1"},
		Metadata:  sandstep.Metadata{Repo: "o/r", IssueID: "7"},
		Resources: &sandstep.Resources{CPU: 2},
		Network:   &sandstep.NetworkPolicy{AllowList: []string{"10.0.0.0/8"}, DomainAllowList: []string{"github.com", "*.pypi.org"}},
	}
	// Nothing reserved: refused, nothing written.
	wantCode(t, st.CommitSandbox(c, sb), sandstep.ECONFLICT, "")
	wantCode(t, func() error { _, err := st.GetSandbox(c, "sb1"); return err }(), sandstep.ENOTFOUND, "")

	// The reservation writes no record; RecordCreating writes it in state
	// creating.
	reserved := &sandstep.Sandbox{ID: "sb1", Owner: "alice", State: sandstep.StateCreating, Labels: sb.Labels,
		Network: &sandstep.NetworkPolicy{BlockAll: true}}
	if err := st.ReserveSlot(c, reserved); err != nil {
		t.Fatal(err)
	}
	wantCode(t, st.CommitSandbox(c, sb), sandstep.ECONFLICT, "")
	if err := st.RecordCreating(c, reserved); err != nil {
		t.Fatal(err)
	}
	if got, err := st.GetSandbox(c, "sb1"); err != nil || !reflect.DeepEqual(got, reserved) {
		t.Fatalf("record after RecordCreating = %+v, %v; want %+v", got, err, reserved)
	}
	sb.CreatedAt = reserved.CreatedAt
	if err := st.CommitSandbox(c, sb); err != nil {
		t.Fatalf("CommitSandbox: %v", err)
	}
	if !sb.CreatedAt.Equal(clk.Now()) || !sb.UpdatedAt.Equal(clk.Now()) || sb.State != sandstep.StateReady {
		t.Errorf("commit did not make it ready now: %v %v %s", sb.CreatedAt, sb.UpdatedAt, sb.State)
	}
	got, err := st.GetSandbox(c, "sb1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sb) {
		t.Fatalf("GetSandbox = %+v\nwant %+v", got, sb)
	}
	// Committing again: the record is no longer being created.
	wantCode(t, st.CommitSandbox(c, sb), sandstep.ECONFLICT, "")
	// The committed slot still counts, and releases once.
	if q := quota(t, st, "alice"); q.Active != 1 {
		t.Fatalf("active = %d, want 1", q.Active)
	}
	if released, err := st.ReleaseSlot(c, "alice", "sb1"); err != nil || !released {
		t.Fatalf("release committed slot = %v, %v", released, err)
	}
	// Another user's record cannot be committed.
	if err := reserve(c, st, "bob", "sb3"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, st.CommitSandbox(c, &sandstep.Sandbox{ID: "sb3", Owner: "alice", State: sandstep.StateCreating}), sandstep.ECONFLICT, "")
}

// TestReserveIsCreateOnly: a new record never overwrites one, even for a
// user with a free slot.
func TestReserveIsCreateOnly(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{})
	c := ctx(t)
	if err := reserve(c, st, "u", "x"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, reserve(c, st, "other", "x"), sandstep.ECONFLICT, "")
	got, err := st.GetSandbox(c, "x")
	if err != nil || got.Owner != "u" {
		t.Fatalf("GetSandbox = %+v, %v; the first record must stay", got, err)
	}
	// The slot taken for the refused record is the caller's to release.
	if released, err := st.ReleaseSlot(c, "other", "x"); err != nil || !released {
		t.Fatalf("release of the refused record's slot = %v, %v", released, err)
	}
}

func TestTransitionSandbox(t *testing.T) {
	clk := newClock()
	st, _, _ := storetest.New(t, store.Options{Now: clk.Now})
	c := ctx(t)
	created := clk.Now()
	if err := reserve(c, st, "u", "s"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	got, err := st.TransitionSandbox(c, "s", []sandstep.State{sandstep.StateCreating}, sandstep.StateReady, func(sb *sandstep.Sandbox) {
		sb.DaytonaID = "d-1"
		sb.ProviderState = "started"
		sb.Owner = "mallory" // immutable: ignored
		sb.State = sandstep.StateGone
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != sandstep.StateReady || got.DaytonaID != "d-1" || got.Owner != "u" || !got.UpdatedAt.Equal(clk.Now()) || !got.CreatedAt.Equal(created) {
		t.Fatalf("transition result = %+v", got)
	}
	stored, err := st.GetSandbox(c, "s")
	if err != nil || !reflect.DeepEqual(stored, got) {
		t.Fatalf("stored = %+v (%v), want %+v", stored, err, got)
	}

	// From a state the record is not in: conflict, and nothing changes.
	_, err = st.TransitionSandbox(c, "s", []sandstep.State{sandstep.StateCreating, sandstep.StateDeleting}, sandstep.StateFailed, func(sb *sandstep.Sandbox) { sb.Error = "x" })
	wantCode(t, err, sandstep.ECONFLICT, "")
	if !strings.Contains(sandstep.ErrorMessage(err), "is ready, not one of creating, deleting") {
		t.Errorf("conflict message = %q", sandstep.ErrorMessage(err))
	}
	if again, _ := st.GetSandbox(c, "s"); again.Error != "" || again.State != sandstep.StateReady {
		t.Fatalf("failed transition changed the record: %+v", again)
	}

	_, err = st.TransitionSandbox(c, "missing", []sandstep.State{sandstep.StateReady}, sandstep.StateDeleting, nil)
	wantCode(t, err, sandstep.ENOTFOUND, "")
	_, err = st.TransitionSandbox(c, "s", []sandstep.State{sandstep.StateReady}, "bogus", nil)
	wantCode(t, err, sandstep.EINVALID, "state")
	_, err = st.TransitionSandbox(c, "s", nil, sandstep.StateDeleting, nil)
	wantCode(t, err, sandstep.EINVALID, "from")

	now := clk.Now()
	got, err = st.TransitionSandbox(c, "s", []sandstep.State{sandstep.StateReady}, sandstep.StateDeleted, func(sb *sandstep.Sandbox) { sb.DeletedAt = &now })
	if err != nil || got.DeletedAt == nil || !got.DeletedAt.Equal(now) {
		t.Fatalf("delete transition = %+v, %v", got, err)
	}
}

// TestConcurrentTransitionsOneWins: of many goroutines moving ready →
// deleting at once, exactly one succeeds; the others see a conflict.
func TestConcurrentTransitionsOneWins(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{})
	c := ctx(t)
	seed(t, c, st, &sandstep.Sandbox{ID: "s", Owner: "u", State: sandstep.StateReady})
	const workers = 30
	var won, conflict atomic.Int32
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			_, err := st.TransitionSandbox(c, "s", []sandstep.State{sandstep.StateReady}, sandstep.StateDeleting, func(sb *sandstep.Sandbox) {
				sb.ProviderState = fmt.Sprint("w", i)
			})
			switch sandstep.ErrorCode(err) {
			case "":
				won.Add(1)
			case sandstep.ECONFLICT:
				conflict.Add(1)
			default:
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 || conflict.Load() != workers-1 {
		t.Fatalf("%d won, %d conflicted; want 1 and %d", won.Load(), conflict.Load(), workers-1)
	}
}

func TestListSandboxesPaging(t *testing.T) {
	clk := newClock()
	st, _, _ := storetest.New(t, store.Options{Now: clk.Now, DefaultQuota: 10})
	c := ctx(t)
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("s%d", i)
		seed(t, c, st, &sandstep.Sandbox{ID: id, Owner: "alice", State: sandstep.StateReady})
		want = append([]string{id}, want...) // newest first
		// Two sandboxes at the same instant must both list, ordered by id.
		if i != 3 {
			clk.Advance(time.Second)
		}
	}
	want[3], want[4] = want[4], want[3] // s4 and s3 share a time: s4 > s3 by id, newest-first lists s4 first
	seed(t, c, st, &sandstep.Sandbox{ID: "b1", Owner: "bob", State: sandstep.StateReady})
	if err := st.PutTask(c, &sandstep.Task{ID: "t1", Owner: "alice", Status: sandstep.TaskQueued}); err != nil {
		t.Fatal(err)
	}

	var got []string
	cursor := ""
	pages := 0
	for {
		page, next, err := st.ListSandboxes(c, "alice", 3, cursor)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, sb := range page {
			if sb.Owner != "alice" {
				t.Fatalf("listed %s of %s", sb.ID, sb.Owner)
			}
			got = append(got, sb.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if fmt.Sprint(got) != fmt.Sprint([]string{"s6", "s5", "s4", "s3", "s2", "s1", "s0"}) {
		t.Fatalf("listed %v", got)
	}
	if pages != 3 {
		t.Errorf("pages = %d, want 3 (no empty last page)", pages)
	}

	// Exactly a page's worth: one page, no cursor.
	page, next, err := st.ListSandboxes(c, "bob", 1, "")
	if err != nil || len(page) != 1 || next != "" {
		t.Fatalf("bob's list = %d items, next %q, %v", len(page), next, err)
	}
	// Nobody's list is empty.
	page, next, err = st.ListSandboxes(c, "nobody", 20, "")
	if err != nil || len(page) != 0 || next != "" {
		t.Fatalf("empty list = %v, %q, %v", page, next, err)
	}
	// Tasks list apart from sandboxes.
	tasks, _, err := st.ListTasks(c, "alice", 10, "")
	if err != nil || len(tasks) != 1 || tasks[0].ID != "t1" {
		t.Fatalf("ListTasks = %v, %v", tasks, err)
	}
}

func TestListCursorRejected(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{})
	c := ctx(t)
	for i := range 3 {
		seed(t, c, st, &sandstep.Sandbox{ID: fmt.Sprint("s", i), Owner: "alice", State: sandstep.StateReady})
		if err := st.PutTask(c, &sandstep.Task{ID: fmt.Sprint("t", i), Owner: "alice", Status: sandstep.TaskQueued}); err != nil {
			t.Fatal(err)
		}
	}
	_, next, err := st.ListSandboxes(c, "alice", 1, "")
	if err != nil || next == "" {
		t.Fatalf("first page: next %q, %v", next, err)
	}
	_, taskNext, err := st.ListTasks(c, "alice", 1, "")
	if err != nil || taskNext == "" {
		t.Fatalf("first task page: next %q, %v", taskNext, err)
	}
	// The cursor is refused before any call, so the client points nowhere.
	other, err := store.New(storetest.DB(t, "http://127.0.0.1:9"), "another-table", store.Options{DefaultQuota: 1, IdempotencyTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	flip := []byte(next)
	flip[5] ^= 1
	tests := []struct {
		name string
		call func() error
	}{
		{"garbage", func() error { _, _, err := st.ListSandboxes(c, "alice", 1, "garbage"); return err }},
		{"one changed byte", func() error { _, _, err := st.ListSandboxes(c, "alice", 1, string(flip)); return err }},
		{"truncated", func() error { _, _, err := st.ListSandboxes(c, "alice", 1, next[:len(next)-2]); return err }},
		{"another user's cursor", func() error { _, _, err := st.ListSandboxes(c, "bob", 1, next); return err }},
		{"a task cursor for sandboxes", func() error { _, _, err := st.ListSandboxes(c, "alice", 1, taskNext); return err }},
		{"another table's store", func() error { _, _, err := other.ListSandboxes(c, "alice", 1, next); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.call(), sandstep.EINVALID, "cursor")
		})
	}
	// The genuine cursor still works.
	if page, _, err := st.ListSandboxes(c, "alice", 1, next); err != nil || len(page) != 1 {
		t.Fatalf("genuine cursor: %v, %v", page, err)
	}
}

// Only a move into cancelled is refused once a task is killed: one
// cancelled over a kill by an earlier release is still written as
// cancelled (its notice claimed, its sandbox's end recorded).
func TestAKilledTaskAlreadyCancelledIsStillWritten(t *testing.T) {
	clk := newClock()
	st, _, _ := storetest.New(t, store.Options{Now: clk.Now})
	c := ctx(t)
	killed := clk.Now()
	task := &sandstep.Task{ID: "t1", Owner: "u", SandboxID: "s1", Status: sandstep.TaskCancelled, Command: "make", KilledAt: &killed, FinishedAt: &killed}
	if err := st.PutTask(c, task); err != nil {
		t.Fatal(err)
	}
	got, err := st.TransitionTask(c, "t1", []sandstep.TaskStatus{sandstep.TaskCancelled}, sandstep.TaskCancelled, func(t *sandstep.Task) { t.Error = "cancelled by its owner" })
	if err != nil || got.Error != "cancelled by its owner" {
		t.Fatalf("a cancelled task's write = %+v, %v; want written", got, err)
	}
}

func TestTasks(t *testing.T) {
	clk := newClock()
	st, _, _ := storetest.New(t, store.Options{Now: clk.Now})
	c := ctx(t)
	deadline := clk.Now().Add(time.Hour)
	task := &sandstep.Task{ID: "t1", Owner: "u", SandboxID: "s1", Status: sandstep.TaskQueued, Command: "make test", Deadline: &deadline}
	if err := st.PutTask(c, task); err != nil {
		t.Fatal(err)
	}
	wantCode(t, st.PutTask(c, task), sandstep.ECONFLICT, "")
	got, err := st.GetTask(c, "t1")
	if err != nil || !reflect.DeepEqual(got, task) {
		t.Fatalf("GetTask = %+v, %v; want %+v", got, err, task)
	}
	started := clk.Now()
	got, err = st.TransitionTask(c, "t1", []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskRunning, func(t *sandstep.Task) {
		t.StartedAt = &started
		t.ExecutionARN = "arn:aws:states:us-east-1:1:execution:m:e"
	})
	if err != nil || got.Status != sandstep.TaskRunning || got.ExecutionARN == "" {
		t.Fatalf("TransitionTask = %+v, %v", got, err)
	}
	_, err = st.TransitionTask(c, "t1", []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskRunning, nil)
	wantCode(t, err, sandstep.ECONFLICT, "")
	// Killed at its deadline, it ends timed out: a cancel is refused.
	killed := clk.Now()
	if _, err := st.TransitionTask(c, "t1", []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning, func(t *sandstep.Task) { t.KilledAt = &killed }); err != nil {
		t.Fatal(err)
	}
	_, err = st.TransitionTask(c, "t1", []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskCancelled, nil)
	wantCode(t, err, sandstep.ECONFLICT, "")
	code := 3
	got, err = st.TransitionTask(c, "t1", []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskFailed, func(t *sandstep.Task) { t.ExitCode = &code })
	if err != nil || got.ExitCode == nil || *got.ExitCode != 3 {
		t.Fatalf("finish = %+v, %v", got, err)
	}
	stored, _ := st.GetTask(c, "t1")
	if !reflect.DeepEqual(stored, got) {
		t.Fatalf("stored %+v, want %+v", stored, got)
	}
	_, err = st.TransitionTask(c, "nope", []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskRunning, nil)
	wantCode(t, err, sandstep.ENOTFOUND, "")
	_, err = st.TransitionTask(c, "t1", []sandstep.TaskStatus{sandstep.TaskFailed}, "done", nil)
	wantCode(t, err, sandstep.EINVALID, "status")
}

func TestRecordBadInput(t *testing.T) {
	st, client, table := storetest.New(t, store.Options{})
	c := ctx(t)
	huge := map[string]string{"big": strings.Repeat("x", store.MaxItemSize)}
	tests := []struct {
		name  string
		call  func() error
		code  sandstep.Code
		field string
	}{
		{"nil sandbox", func() error { return st.CommitSandbox(c, nil) }, sandstep.EINVALID, "sandbox"},
		{"empty id", func() error { return st.CommitSandbox(c, &sandstep.Sandbox{Owner: "u"}) }, sandstep.EINVALID, "id"},
		{"id with #", func() error { return st.CommitSandbox(c, &sandstep.Sandbox{ID: "a#META", Owner: "u"}) }, sandstep.EINVALID, "id"},
		{"empty owner", func() error { return st.CommitSandbox(c, &sandstep.Sandbox{ID: "s"}) }, sandstep.EINVALID, "owner"},
		{"reserve without owner", func() error { return st.ReserveSlot(c, &sandstep.Sandbox{ID: "s"}) }, sandstep.EINVALID, "userId"},
		{"new record in another state", func() error { return st.RecordCreating(c, &sandstep.Sandbox{ID: "s", Owner: "u", State: "zombie"}) }, sandstep.EINVALID, "state"},
		{"oversized sandbox", func() error {
			return st.RecordCreating(c, &sandstep.Sandbox{ID: "s", Owner: "u", State: sandstep.StateCreating, Labels: huge})
		}, sandstep.ETOOLARGE, "labels"},
		{"oversized commit", func() error {
			if err := reserve(c, st, "u", "big"); err != nil {
				return err
			}
			return st.CommitSandbox(c, &sandstep.Sandbox{ID: "big", Owner: "u", State: sandstep.StateCreating, Labels: huge})
		}, sandstep.ETOOLARGE, "labels"},
		{"oversized task", func() error {
			return st.PutTask(c, &sandstep.Task{ID: "t", Owner: "u", Status: sandstep.TaskQueued, Command: strings.Repeat("y", store.MaxItemSize)})
		}, sandstep.ETOOLARGE, "command"},
		{"task unknown status", func() error { return st.PutTask(c, &sandstep.Task{ID: "t", Owner: "u", Status: "meh"}) }, sandstep.EINVALID, "status"},
		{"task bad sandbox id", func() error {
			return st.PutTask(c, &sandstep.Task{ID: "t", Owner: "u", Status: sandstep.TaskQueued, SandboxID: "x#y"})
		}, sandstep.EINVALID, "sandboxId"},
		{"get empty id", func() error { _, err := st.GetSandbox(c, ""); return err }, sandstep.EINVALID, "id"},
		{"get task too long id", func() error { _, err := st.GetTask(c, strings.Repeat("a", 200)); return err }, sandstep.EINVALID, "id"},
		{"list empty owner", func() error { _, _, err := st.ListSandboxes(c, "", 0, ""); return err }, sandstep.EINVALID, "owner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.call(), tt.code, tt.field)
		})
	}
	// Nothing else was written: only what the reservation of "big" wrote
	// (the counter holding its slot, and its creating record) exists, and
	// the record is still creating (the oversized commit changed nothing).
	out, err := client.Scan(c, &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, it := range out.Items {
		keys = append(keys, fmt.Sprint(it["PK"], it["SK"]))
	}
	if len(out.Items) != 2 {
		t.Fatalf("bad input left %d items: %v", len(out.Items), keys)
	}
	if err := st.CommitSandbox(c, &sandstep.Sandbox{ID: "big", Owner: "u", State: sandstep.StateCreating}); err != nil {
		t.Fatalf("record not still creating after the refused commit: %v", err)
	}
}

// A filtered list pages over the items it skips: every match once, in
// order, and no cursor to an empty page.
func TestListSandboxesFiltered(t *testing.T) {
	clk := newClock()
	st, _, _ := storetest.New(t, store.Options{Now: clk.Now, DefaultQuota: 20})
	c := ctx(t)
	var want []string
	for i := range 9 {
		id := fmt.Sprintf("s%d", i)
		seed(t, c, st, &sandstep.Sandbox{ID: id, Owner: "alice"})
		if i%3 != 0 {
			if _, err := st.TransitionSandbox(c, id, []sandstep.State{sandstep.StateReady}, sandstep.StateDeleted, nil); err != nil {
				t.Fatal(err)
			}
		} else {
			want = append([]string{id}, want...)
		}
		clk.Advance(time.Second)
	}
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		items, next, err := st.ListSandboxes(c, "alice", 2, cursor, sandstep.StateReady)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) == 0 {
			t.Fatalf("page %d is empty", page)
		}
		for _, it := range items {
			got = append(got, it.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("listed %v, want %v", got, want)
	}
	all, _, err := st.ListSandboxes(c, "alice", 100, "")
	if err != nil || len(all) != 9 {
		t.Fatalf("unfiltered list = %d items, %v; want 9", len(all), err)
	}
}

// An ended task's record expires TaskRetention after it ended; a live one
// never does. Past its time it is gone to GetTask, though DynamoDB deletes
// it up to days later.
func TestTaskRetention(t *testing.T) {
	clk := newClock()
	st, client, table := storetest.New(t, store.Options{Now: clk.Now, TaskRetention: 48 * time.Hour})
	c := ctx(t)
	expiry := func() string {
		t.Helper()
		out, err := client.GetItem(c, &dynamodb.GetItemInput{
			TableName: aws.String(table), ConsistentRead: aws.Bool(true),
			Key: map[string]dynamodbAV{"PK": strAV("TASK#t1"), "SK": strAV("META")},
		})
		if err != nil || out.Item == nil {
			t.Fatalf("raw GetItem: %v", err)
		}
		if av, ok := out.Item[store.TTLAttribute].(*types.AttributeValueMemberN); ok {
			return av.Value
		}
		return ""
	}
	if err := st.PutTask(c, &sandstep.Task{ID: "t1", Owner: "alice", Status: sandstep.TaskQueued}); err != nil {
		t.Fatal(err)
	}
	if got := expiry(); got != "" {
		t.Fatalf("a queued task expires at %s", got)
	}
	if _, err := st.TransitionTask(c, "t1", []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskRunning, nil); err != nil {
		t.Fatal(err)
	}
	if got := expiry(); got != "" {
		t.Fatalf("a running task expires at %s", got)
	}
	ended := clk.Now().Add(time.Hour).UTC()
	clk.Advance(2 * time.Hour)
	if _, err := st.TransitionTask(c, "t1", []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskSucceeded, func(t *sandstep.Task) {
		t.FinishedAt = &ended
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := expiry(), fmt.Sprint(ended.Add(48*time.Hour).Unix()); got != want {
		t.Errorf("expiresAt = %s, want %s: 48h after it ended", got, want)
	}
	clk.Advance(47*time.Hour - time.Second)
	if _, err := st.GetTask(c, "t1"); err != nil {
		t.Fatalf("a second before its expiry: %v", err)
	}
	clk.Advance(time.Second)
	if got, err := st.GetTask(c, "t1"); sandstep.ErrorCode(err) != sandstep.ENOTFOUND {
		t.Errorf("expired, not yet deleted: GetTask = %+v, %v; want not found", got, err)
	}
}
