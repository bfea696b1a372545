package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/truora/minidyn/server"

	"github.com/sandstep/sandstep/internal/atomicfile"
	"github.com/sandstep/sandstep/internal/dynamo"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/txtoken"
)

// DynamoDBClient returns the store's DynamoDB client for a local endpoint
// (the embedded minidyn) with dummy static credentials and a fixed region,
// so that nothing is read from the environment, a profile or an instance
// metadata address.
func DynamoDBClient(endpoint string) (*dynamo.Client, error) {
	cfg := aws.Config{
		Region:      DefaultRegion,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}
	opts := dynamo.Options{}
	opts.Endpoint = endpoint
	return dynamo.New(cfg, opts)
}

// ReadStore returns a store on a local table for reading what it holds
// (records, slots held); its quota and idempotency options shape nothing
// read.
func ReadStore(endpoint, table string) (*store.Store, error) {
	db, err := DynamoDBClient(endpoint)
	if err != nil {
		return nil, err
	}
	return store.New(db, table, store.Options{DefaultQuota: 1, IdempotencyTTL: time.Hour})
}

// How often the durable DynamoDB writes its snapshot (when something
// changed) and sweeps expired items: a kill -9 loses at most the last
// snapshotEvery of writes. A variable for tests only: a child stack of
// theirs is killed before its next snapshot.
var snapshotEvery = 2 * time.Second

const sweepEvery = 30 * time.Second

// durableDynamoDB is the embedded minidyn with what it lacks and the local
// stack promises: its table survives a restart (a snapshot file, written
// when something changed and at shutdown, read back at start), and items
// whose TTL attribute has passed are deleted, as DynamoDB's TTL does, so a
// long-lived local table neither keeps what AWS would delete nor slows
// down as it grows.
type durableDynamoDB struct {
	db      *startKeys     // minidyn, its start keys read as DynamoDB reads them
	front   dynamoDBServer // db as clients see it
	table   string
	ttlAttr string
	path    string // the snapshot file
	log     *slog.Logger
	now     func() time.Time

	dirty   atomic.Bool
	mu      sync.Mutex // one snapshot or sweep at a time
	running atomic.Bool
	stop    chan struct{}
	stopped chan struct{}
}

func newDurableDynamoDB(dir, table, ttlAttr string, log *slog.Logger) (*durableDynamoDB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db := &startKeys{next: server.NewServer()}
	return &durableDynamoDB{
		db: db, front: newDynamoDBServer(db), table: table, ttlAttr: ttlAttr,
		path: filepath.Join(dir, table+".json"), log: log, now: time.Now,
		stop: make(chan struct{}), stopped: make(chan struct{}),
	}, nil
}

// ServeHTTP serves DynamoDB, noting writes for the next snapshot once
// they have landed: a snapshot between a mark made before and the write
// would clear it without the write.
func (d *durableDynamoDB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.") {
	case "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems":
		defer d.dirty.Store(true)
	}
	d.front.ServeHTTP(w, r)
}

// DynamoDBServer returns the embedded DynamoDB as the stack serves it,
// keeping nothing: a load run serves it from a process of its own
// (Options.DynamoDBURL).
func DynamoDBServer() http.Handler {
	return newDynamoDBServer(&startKeys{next: server.NewServer()})
}

// dynamoDBServer is minidyn, with a GET of the root answered as DynamoDB
// answers it (clients open their connection with one),
// TransactWriteItems' ClientRequestToken honoured as DynamoDB honours it,
// and a start key read as a position (startKeys).
type dynamoDBServer struct{ db http.Handler }

func newDynamoDBServer(db *startKeys) dynamoDBServer {
	return dynamoDBServer{txtoken.Wrap(db, nil)}
}

func (d dynamoDBServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/" {
		_, _ = io.WriteString(w, "healthy: dynamodb."+DefaultRegion+".amazonaws.com ")
		return
	}
	d.db.ServeHTTP(w, r)
}

// snapshotFile is what the snapshot holds: the items in DynamoDB's own JSON.
type snapshotFile struct {
	Table string            `json:"table"`
	Saved time.Time         `json:"saved"`
	Items []json.RawMessage `json:"items"`
}

// restore puts the snapshot's items (if there is a snapshot) into the
// table, which must exist and be empty. Expired items are not restored.
func (d *durableDynamoDB) restore() (int, error) {
	var snap snapshotFile
	b, err := os.ReadFile(d.path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &snap)
	}
	if err != nil {
		return 0, fmt.Errorf("read the DynamoDB snapshot %s: %w", d.path, err)
	}
	now := d.now().Unix()
	var batch []json.RawMessage
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		reqs := make([]map[string]any, len(batch))
		for i, it := range batch {
			reqs[i] = map[string]any{"PutRequest": map[string]any{"Item": it}}
		}
		var out struct{ UnprocessedItems map[string][]json.RawMessage }
		if err := d.call("BatchWriteItem", map[string]any{"RequestItems": map[string]any{d.table: reqs}}, &out); err != nil {
			return err
		}
		if len(out.UnprocessedItems[d.table]) > 0 {
			return fmt.Errorf("restore: %d items not written", len(out.UnprocessedItems[d.table]))
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	for _, it := range snap.Items {
		if exp, ok := d.expiry(it); ok && exp < now {
			continue
		}
		batch = append(batch, it)
		if len(batch) == 25 {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}

// start snapshots and sweeps in the background until close.
func (d *durableDynamoDB) start() {
	d.running.Store(true)
	go d.run()
}

func (d *durableDynamoDB) run() {
	defer close(d.stopped)
	snap := time.NewTicker(snapshotEvery)
	defer snap.Stop()
	lastSweep := time.Time{}
	for {
		select {
		case <-d.stop:
			return
		case <-snap.C:
		}
		if time.Since(lastSweep) >= sweepEvery {
			if n, err := d.sweep(); err != nil {
				d.log.Warn("dynamodb: sweeping expired items failed", "err", err)
			} else if n > 0 {
				d.log.Debug("dynamodb: expired items deleted", "items", n)
			}
			lastSweep = time.Now()
		}
		if err := d.snapshot(false); err != nil {
			d.log.Warn("dynamodb: snapshot failed", "err", err)
		}
	}
}

// close stops the loop, if started, and writes a last snapshot.
func (d *durableDynamoDB) close() error {
	if d.running.Load() {
		close(d.stop)
		<-d.stopped
	}
	return d.snapshot(true)
}

// snapshot writes every item to the snapshot file, if anything changed
// since the last one (or always, with force).
func (d *durableDynamoDB) snapshot(force bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.dirty.Swap(false) && !force {
		return nil
	}
	items, err := d.scan()
	if err != nil {
		d.dirty.Store(true)
		return err
	}
	b, err := json.Marshal(snapshotFile{Table: d.table, Saved: d.now().UTC(), Items: items})
	if err != nil {
		return err
	}
	if err := atomicfile.Write(d.path, b); err != nil {
		d.dirty.Store(true)
		return err
	}
	return nil
}

// sweep deletes the items whose TTL attribute has passed. Each delete is
// conditioned on the attribute still being past, so an item a writer
// extended meanwhile stays.
func (d *durableDynamoDB) sweep() (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	items, err := d.scan()
	if err != nil {
		return 0, err
	}
	now := d.now().Unix()
	n := 0
	for _, it := range items {
		exp, ok := d.expiry(it)
		if !ok || exp >= now {
			continue
		}
		var keyed map[string]json.RawMessage
		if err := json.Unmarshal(it, &keyed); err != nil {
			return n, err
		}
		past := map[string]any{
			"TableName":                 d.table,
			"ConditionExpression":       "#ttl < :now",
			"ExpressionAttributeNames":  map[string]string{"#ttl": d.ttlAttr},
			"ExpressionAttributeValues": map[string]any{":now": map[string]string{"N": strconv.FormatInt(now, 10)}},
		}
		// With its live index key first (see store.LiveKey), so that
		// minidyn deletes the index entry it may have kept.
		var pk struct{ S string }
		if err := json.Unmarshal(keyed["PK"], &pk); err != nil {
			return n, err
		}
		if attr, value := store.LiveKey(pk.S); keyed[attr] == nil {
			keyed[attr], _ = json.Marshal(map[string]string{"S": value})
			if err := d.call("PutItem", with(past, "Item", keyed), nil); err != nil {
				if strings.Contains(err.Error(), "ConditionalCheckFailed") {
					continue
				}
				return n, err
			}
		}
		in := with(past, "Key", map[string]json.RawMessage{"PK": keyed["PK"], "SK": keyed["SK"]})
		if err := d.call("DeleteItem", in, nil); err != nil {
			if strings.Contains(err.Error(), "ConditionalCheckFailed") {
				continue
			}
			return n, err
		}
		d.dirty.Store(true)
		n++
	}
	return n, nil
}

// with is m and k: v, in a new map.
func with(m map[string]any, k string, v any) map[string]any {
	out := maps.Clone(m)
	out[k] = v
	return out
}

// expiry reads an item's TTL attribute (a Number of Unix seconds).
func (d *durableDynamoDB) expiry(item json.RawMessage) (int64, bool) {
	var attrs map[string]struct {
		N *string `json:"N"`
	}
	if json.Unmarshal(item, &attrs) != nil {
		return 0, false
	}
	a, ok := attrs[d.ttlAttr]
	if !ok || a.N == nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(*a.N, 64)
	if err != nil {
		return 0, false
	}
	return int64(f), true
}

// scan reads every item of the table, in DynamoDB's JSON.
func (d *durableDynamoDB) scan() ([]json.RawMessage, error) {
	var items []json.RawMessage
	var start json.RawMessage
	for {
		in := map[string]any{"TableName": d.table}
		if start != nil {
			in["ExclusiveStartKey"] = start
		}
		var out struct {
			Items            []json.RawMessage
			LastEvaluatedKey json.RawMessage
		}
		if err := d.call("Scan", in, &out); err != nil {
			return nil, err
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 || string(out.LastEvaluatedKey) == "null" {
			return items, nil
		}
		start = out.LastEvaluatedKey
	}
}

// call makes one DynamoDB call in-process, in its JSON protocol.
func (d *durableDynamoDB) call(op string, in, out any) error { return callInProcess(d.db, op, in, out) }

// callInProcess makes one call of db, a DynamoDB server, in-process, in
// its JSON protocol.
func callInProcess(db http.Handler, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	rec := httptest.NewRecorder()
	db.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("dynamodb %s: %d %s", op, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(rec.Body.Bytes(), out)
}
