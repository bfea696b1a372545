// Package storetest gives tests of other packages a real store: an embedded
// minidyn DynamoDB server on 127.0.0.1 (httptest), the store's own
// DynamoDB client talking HTTP to it, the table created from
// store.TableDefinition, and the SDK's client beside it for tests that look
// at the table themselves.
package storetest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/truora/minidyn/server"

	"github.com/sandstep/sandstep/internal/dynamo"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/txtoken"
)

// Table is the name of the table New creates.
const Table = "sandstep-test"

// The options New uses when given zero values.
const (
	DefaultQuota          = 5
	DefaultIdempotencyTTL = 24 * time.Hour
)

// Server starts an embedded minidyn server and returns it (for failure
// emulation and ClearTable) with its URL, its handler wrapped by wrap (a
// meter, a proxy) if given. Like DynamoDB it honours TransactWriteItems'
// ClientRequestToken (txtoken). It stops when the test ends.
func Server(tb testing.TB, wrap ...func(http.Handler) http.Handler) (*server.Server, string) {
	tb.Helper()
	srv := server.NewServer()
	h := txtoken.Wrap(srv, nil)
	for _, w := range wrap {
		h = w(h)
	}
	hs := httptest.NewServer(h)
	tb.Cleanup(hs.Close)
	return srv, hs.URL
}

// Client returns an SDK client for the DynamoDB endpoint url, with dummy
// static credentials and a fixed region, so that nothing is read from the
// environment, a profile or an instance metadata address. optFns change
// further options (e.g. RetryMaxAttempts).
func Client(url string, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	opts := append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(url)
		// minidyn sends no CRC32 header; without this the SDK logs a
		// warning on every reply.
		o.DisableValidateResponseChecksum = true
	}}, optFns...)
	return dynamodb.NewFromConfig(config(), opts...)
}

func config() aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
}

// DB returns the store's own client (internal/dynamo) for the DynamoDB
// endpoint url, with the same dummy credentials and region as Client.
// optFns change its options (a call counter, one attempt).
func DB(tb testing.TB, url string, optFns ...func(*dynamo.Options)) *dynamo.Client {
	tb.Helper()
	opts := dynamo.Options{}
	opts.Endpoint = url
	for _, f := range optFns {
		f(&opts)
	}
	db, err := dynamo.New(config(), opts)
	if err != nil {
		tb.Fatalf("storetest: dynamo client: %v", err)
	}
	return db
}

// New returns a store on a fresh embedded server with the table created,
// an SDK client for looking at the table and the table name. Zero
// opts.DefaultQuota and opts.IdempotencyTTL take the defaults above; dbOpts
// change the store's own client (see DB). Everything is torn down when the
// test ends.
func New(tb testing.TB, opts store.Options, dbOpts ...func(*dynamo.Options)) (*store.Store, *dynamodb.Client, string) {
	tb.Helper()
	_, url := Server(tb)
	client := Client(url)
	db := DB(tb, url, dbOpts...)
	if err := store.CreateTable(context.Background(), db, Table); err != nil {
		tb.Fatalf("storetest: create table: %v", err)
	}
	opts = withDefaults(opts)
	st, err := store.New(db, Table, opts)
	if err != nil {
		tb.Fatalf("storetest: new store: %v", err)
	}
	return st, client, Table
}

// Unindex writes the item at pk/sk back without its live index key, as a
// version from before the index wrote it: a put of the whole item
// (minidyn ignores an update's REMOVE of an index key).
func Unindex(tb testing.TB, client *dynamodb.Client, table, pk, sk string) {
	tb.Helper()
	key := map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: sk}}
	got, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil || got.Item == nil {
		tb.Fatalf("storetest: get %s/%s: %v", pk, sk, err)
	}
	attr, _ := store.LiveKey(pk)
	delete(got.Item, attr)
	if _, err := client.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: got.Item}); err != nil {
		tb.Fatalf("storetest: put %s/%s: %v", pk, sk, err)
	}
}

// withDefaults gives zero opts.DefaultQuota and opts.IdempotencyTTL the
// defaults above.
func withDefaults(opts store.Options) store.Options {
	if opts.DefaultQuota == 0 {
		opts.DefaultQuota = DefaultQuota
	}
	if opts.IdempotencyTTL == 0 {
		opts.IdempotencyTTL = DefaultIdempotencyTTL
	}
	return opts
}

// Instances returns n stores on one fresh table, each with a client of
// its own, as n Lambda instances of a deployment have; zero
// opts.DefaultQuota and opts.IdempotencyTTL take the defaults above.
func Instances(tb testing.TB, n int, opts store.Options) []*store.Store {
	tb.Helper()
	_, url := Server(tb)
	if err := store.CreateTable(context.Background(), DB(tb, url), Table); err != nil {
		tb.Fatalf("storetest: create table: %v", err)
	}
	opts = withDefaults(opts)
	stores := make([]*store.Store, n)
	for i := range stores {
		st, err := store.New(DB(tb, url), Table, opts)
		if err != nil {
			tb.Fatalf("storetest: new store: %v", err)
		}
		stores[i] = st
	}
	return stores
}

// SpendWatch is a store that tells on Spent each spend of the create
// budget (SpendCreates) once it is written, while Spent has room.
type SpendWatch struct {
	*store.Store
	Spent chan struct{}
}

func (q *SpendWatch) SpendCreates(ctx context.Context, until time.Time) error {
	err := q.Store.SpendCreates(ctx, until)
	select {
	case q.Spent <- struct{}{}:
	default:
	}
	return err
}
