package local

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/dynamo"
	"github.com/sandstep/sandstep/internal/sandstep"

	"github.com/sandstep/sandstep/internal/store"
)

// openTable starts a durable DynamoDB on dir with the store's table and
// what a snapshot in dir holds.
func openTable(t *testing.T, dir string, now time.Time) (*durableDynamoDB, *dynamo.Client) {
	t.Helper()
	d, err := newDurableDynamoDB(dir, "T", store.TTLAttribute, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	d.now = func() time.Time { return now }
	hs := httptest.NewServer(d)
	t.Cleanup(hs.Close)
	client, err := DynamoDBClient(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateTable(context.Background(), client, "T"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.restore(); err != nil {
		t.Fatal(err)
	}
	return d, client
}

func putItem(t *testing.T, c *dynamo.Client, pk string, expires int64) {
	t.Helper()
	item := map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: "META"},
		"data": &types.AttributeValueMemberB{Value: []byte{0, 1, 2}},
		"list": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberN{Value: "1.5"}}},
	}
	if expires != 0 {
		item[store.TTLAttribute] = &types.AttributeValueMemberN{Value: strconv.FormatInt(expires, 10)}
	}
	if err := c.PutItem(context.Background(), &types.Put{TableName: aws.String("T"), Item: item}); err != nil {
		t.Fatal(err)
	}
}

func keys(t *testing.T, c *dynamo.Client) map[string]bool {
	t.Helper()
	out, err := c.Scan(context.Background(), &dynamo.ScanInput{TableName: aws.String("T")})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, it := range out.Items {
		got[it["PK"].(*types.AttributeValueMemberS).Value] = true
		if b, ok := it["data"].(*types.AttributeValueMemberB); !ok || len(b.Value) != 3 {
			t.Errorf("item %v lost its binary attribute", it["PK"])
		}
	}
	return got
}

// The table is there again after a restart, item for item, and expired
// items are swept (and never restored), as DynamoDB's TTL deletes them.
func TestDurableDynamoDB(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	d, c := openTable(t, dir, now)
	putItem(t, c, "keep", 0)
	putItem(t, c, "future", now.Add(time.Hour).Unix())
	putItem(t, c, "past", now.Add(-time.Second).Unix())
	if n, err := d.sweep(); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v; want the one expired item", n, err)
	}
	if got := keys(t, c); len(got) != 2 || !got["keep"] || !got["future"] {
		t.Fatalf("after the sweep: %v", got)
	}
	if err := d.close(); err != nil {
		t.Fatal(err)
	}

	// An hour and a minute later "future" has expired too: not restored.
	_, c2 := openTable(t, dir, now.Add(time.Hour+time.Minute))
	if got := keys(t, c2); len(got) != 1 || !got["keep"] {
		t.Fatalf("after the restart: %v, want only keep", got)
	}
}

// A snapshot is written only when something changed, and reflects deletes.
func TestSnapshotFollowsWrites(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	d, c := openTable(t, dir, now)
	putItem(t, c, "a", 0)
	putItem(t, c, "b", 0)
	if err := d.snapshot(false); err != nil {
		t.Fatal(err)
	}
	if d.dirty.Load() {
		t.Fatal("still dirty after a snapshot")
	}
	if err := c.DeleteItem(context.Background(), &types.Delete{TableName: aws.String("T"), Key: map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "a"}, "SK": &types.AttributeValueMemberS{Value: "META"}}}); err != nil {
		t.Fatal(err)
	}
	if !d.dirty.Load() {
		t.Fatal("a delete did not mark the table changed")
	}
	if err := d.snapshot(false); err != nil {
		t.Fatal(err)
	}
	_, c2 := openTable(t, dir, now)
	if got := keys(t, c2); len(got) != 1 || !got["b"] {
		t.Fatalf("after the restart: %v, want only b", got)
	}
}

// The local DynamoDB answers a GET of its root as DynamoDB does, so a
// function's warm-up opens its connection without an error answer.
func TestDynamoDBAnswersHealthy(t *testing.T) {
	d, err := newDurableDynamoDB(t.TempDir(), "T", store.TTLAttribute, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), "healthy: dynamodb.") {
		t.Errorf("GET / answered %d %q", rec.Code, rec.Body.String())
	}
}

// A task that ended (its record left the live index) and then expired is
// swept without hiding other items from the index: minidyn keeps an ended
// item's index entry, and deleting the item without its key left the entry
// behind, misaligning the index.
func TestSweepKeepsTheLiveIndex(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d, st := retainingStore(t, now)
	ctx := context.Background()
	for i := range 6 {
		if err := st.PutTask(ctx, &sandstep.Task{ID: nthTaskID(i), Owner: "u", Status: sandstep.TaskRunning}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.TransitionTask(ctx, nthTaskID(0), []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskSucceeded, nil); err != nil {
		t.Fatal(err)
	}
	d.now = func() time.Time { return now.Add(2 * time.Hour) }
	if n, err := d.sweep(); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v; want the ended task", n, err)
	}
	if l, err := st.LiveRecords(ctx); err != nil || len(l.Tasks) != 5 {
		t.Errorf("live tasks after the sweep: %d, %v; want 5", len(l.Tasks), err)
	}
}

// tickWhileRead runs tick on the first read of the body it wraps: the
// snapshot's tick while a write is in flight, its handler already entered.
type tickWhileRead struct {
	io.Reader
	tick func()
}

func (r *tickWhileRead) Read(p []byte) (int, error) {
	if r.tick != nil {
		r.tick()
		r.tick = nil
	}
	return r.Reader.Read(p)
}

// A snapshot taken while a write is in flight does not make the next ones
// skip it: the write is noted for a snapshot once it has landed, so a kill
// -9 after the next tick keeps it.
func TestSnapshotDuringAWriteKeepsIt(t *testing.T) {
	dir := t.TempDir()
	d, _ := openTable(t, dir, time.Now())
	body := `{"TableName":"T","Item":{"PK":{"S":"USER#inflight"},"SK":{"S":"META"},"data":{"B":"AAEC"}}}`
	req := httptest.NewRequest(http.MethodPost, "/", &tickWhileRead{Reader: strings.NewReader(body), tick: func() {
		if err := d.snapshot(false); err != nil {
			t.Error(err)
		}
	}})
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.PutItem")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("PutItem answered %d: %s", rec.Code, rec.Body)
	}
	if err := d.snapshot(false); err != nil { // the next tick
		t.Fatal(err)
	}
	// kill -9, and a start from what is on disk.
	_, c := openTable(t, dir, time.Now())
	if !keys(t, c)["USER#inflight"] {
		t.Error("a write acknowledged before the last tick is missing after a restart")
	}
}

// retainingStore is a store, at now, on a durable local table of its own,
// that keeps an ended task's record an hour.
func retainingStore(t *testing.T, now time.Time) (*durableDynamoDB, *store.Store) {
	t.Helper()
	d, c := openTable(t, t.TempDir(), now)
	st, err := store.New(c, "T", store.Options{DefaultQuota: 1, IdempotencyTTL: time.Hour, TaskRetention: time.Hour,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return d, st
}

// nthTaskID is the i-th task id of a test (a digit repeated).
func nthTaskID(i int) string { return "tsk_" + strings.Repeat(strconv.Itoa(i), 26) }
