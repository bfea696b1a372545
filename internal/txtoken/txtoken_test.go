package txtoken_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/truora/minidyn/server"

	"github.com/sandstep/sandstep/internal/store/storetest"
	"github.com/sandstep/sandstep/internal/txtoken"
)

const table = "t"

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newDB serves minidyn behind Wrap, with one table, and returns a client
// that never retries (each call is one request).
func newDB(t *testing.T, clk *clock) *dynamodb.Client {
	t.Helper()
	hs := httptest.NewServer(txtoken.Wrap(server.NewServer(), clk.now))
	t.Cleanup(hs.Close)
	db := storetest.Client(hs.URL, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	_, err := db.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("k"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("k"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// add is a transaction adding by to item k's n, on condition that n stays
// at most 10.
func add(k string, by int, token string) *dynamodb.TransactWriteItemsInput {
	in := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{Update: &types.Update{
		TableName:                 aws.String(table),
		Key:                       map[string]types.AttributeValue{"k": &types.AttributeValueMemberS{Value: k}},
		UpdateExpression:          aws.String("ADD n :by"),
		ConditionExpression:       aws.String("attribute_not_exists(n) OR n <= :max"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":by": &types.AttributeValueMemberN{Value: strconv.Itoa(by)}, ":max": &types.AttributeValueMemberN{Value: strconv.Itoa(10 - by)}},
	}}}}
	if token != "" {
		in.ClientRequestToken = aws.String(token)
	}
	return in
}

func n(t *testing.T, db *dynamodb.Client, k string) string {
	t.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{"k": &types.AttributeValueMemberS{Value: k}}})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := out.Item["n"].(*types.AttributeValueMemberN); ok {
		return v.Value
	}
	return ""
}

func TestWrap(t *testing.T) {
	type call struct {
		in      *dynamodb.TransactWriteItemsInput
		after   time.Duration // the clock moves on before the call
		wantErr string        // the error type, "" for success
	}
	cases := []struct {
		name  string
		calls []call
		want  string
	}{
		{"a token repeated is written once", []call{{in: add("a", 1, "tok")}, {in: add("a", 1, "tok")}}, "1"},
		{"without a token each call writes", []call{{in: add("a", 1, "")}, {in: add("a", 1, "")}}, "2"},
		{"other tokens write", []call{{in: add("a", 1, "t1")}, {in: add("a", 1, "t2")}}, "2"},
		{"a token repeated with other items is refused", []call{{in: add("a", 1, "tok")}, {in: add("a", 2, "tok"), wantErr: "IdempotentParameterMismatchException"}}, "1"},
		{"a token is forgotten after its window", []call{{in: add("a", 1, "tok")}, {in: add("a", 1, "tok"), after: txtoken.Window + time.Second}}, "2"},
		{"a token is kept for its window", []call{{in: add("a", 1, "tok")}, {in: add("a", 1, "tok"), after: txtoken.Window - time.Second}}, "1"},
		{"a failed call consumes no token", []call{
			{in: add("a", 9, "")},
			{in: add("a", 5, "tok"), wantErr: "TransactionCanceledException"},
			{in: add("a", -5, "")},
			{in: add("a", 5, "tok")},
		}, "9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
			db := newDB(t, clk)
			for i, c := range tc.calls {
				clk.add(c.after)
				_, err := db.TransactWriteItems(context.Background(), c.in)
				var ae interface{ ErrorCode() string }
				switch {
				case c.wantErr == "" && err != nil:
					t.Fatalf("call %d: %v", i, err)
				case c.wantErr != "" && (!errors.As(err, &ae) || ae.ErrorCode() != c.wantErr):
					t.Fatalf("call %d: %v, want %s", i, err, c.wantErr)
				}
			}
			if got := n(t, db, "a"); got != tc.want {
				t.Errorf("n = %s, want %s", got, tc.want)
			}
		})
	}
}

// A call repeating the token of one still running is refused, as
// DynamoDB refuses it, rather than written twice.
func TestWrapRefusesATokenInProgress(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		_, _ = w.Write([]byte("{}"))
	})
	hs := httptest.NewServer(txtoken.Wrap(slow, nil))
	t.Cleanup(hs.Close)
	db := storetest.Client(hs.URL, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	first := make(chan error, 1)
	go func() {
		_, err := db.TransactWriteItems(context.Background(), add("a", 1, "tok"))
		first <- err
	}()
	<-entered
	_, err := db.TransactWriteItems(context.Background(), add("a", 1, "tok"))
	var ae interface{ ErrorCode() string }
	if !errors.As(err, &ae) || ae.ErrorCode() != "TransactionInProgressException" {
		t.Errorf("a repeat while the first runs: %v, want TransactionInProgressException", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}
