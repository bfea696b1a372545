package dynamo_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/awsjson"
	"github.com/sandstep/sandstep/internal/dynamo"
)

var cfg = aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("x", "y", "")}

// every holds one value of each kind, empty containers and nesting
// included.
var every = map[string]types.AttributeValue{
	"s":     &types.AttributeValueMemberS{Value: "é \"quoted\""},
	"empty": &types.AttributeValueMemberS{Value: ""},
	"n":     &types.AttributeValueMemberN{Value: "-1.5e3"},
	"b":     &types.AttributeValueMemberB{Value: []byte{0, 1, 255}},
	"t":     &types.AttributeValueMemberBOOL{Value: true},
	"f":     &types.AttributeValueMemberBOOL{Value: false},
	"null":  &types.AttributeValueMemberNULL{Value: true},
	"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
		"inner": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberN{Value: "1"}}},
		"none":  &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}},
	}},
	"l0": &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
	"ss": &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
	"ns": &types.AttributeValueMemberNS{Value: []string{"1", "2"}},
	"bs": &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2, 3}}},
}

// capture is a DynamoDB endpoint that records each request's target and
// body and answers with answer.
type capture struct {
	mu      sync.Mutex
	targets []string
	bodies  [][]byte
	status  int
	answer  string
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.targets = append(c.targets, r.Header.Get("X-Amz-Target"))
	c.bodies = append(c.bodies, b)
	status, answer := c.status, c.answer
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(cmpOr(status, http.StatusOK))
	_, _ = io.WriteString(w, cmpStr(answer, "{}"))
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func serve(t *testing.T, c *capture) string {
	hs := httptest.NewServer(c)
	t.Cleanup(hs.Close)
	return hs.URL
}

func ours(t *testing.T, url string, attempts int, count func(context.Context, any)) *dynamo.Client {
	t.Helper()
	opts := dynamo.Options{Count: count}
	opts.Endpoint, opts.MaxAttempts = url, attempts
	c, err := dynamo.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sdk(url string) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(url)
		o.DisableValidateResponseChecksum = true
		o.RetryMaxAttempts = 1
	})
}

func decoded(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}

// TestRequestsAsTheSDKWritesThem: each operation's request, target and
// body, is what the SDK's own serializers write for the same input (member
// names exactly, which the local stand-in, decoding case-insensitively,
// would not catch).
func TestRequestsAsTheSDKWritesThem(t *testing.T) {
	table, cond := aws.String("T"), aws.String("attribute_not_exists(#p) AND #n < :v")
	names := map[string]string{"#p": "PK", "#n": "n"}
	values := map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: "5"}}
	key := map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "A"}, "SK": &types.AttributeValueMemberS{Value: "B"}}
	allOld := types.ReturnValuesOnConditionCheckFailureAllOld
	attrs := []types.AttributeDefinition{{AttributeName: aws.String("PK"), AttributeType: types.ScalarAttributeTypeS}}
	hashKey := []types.KeySchemaElement{{AttributeName: aws.String("PK"), KeyType: types.KeyTypeHash}}
	gsis := []types.GlobalSecondaryIndex{{IndexName: aws.String("G"), KeySchema: hashKey,
		Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}}}
	sse := &types.SSESpecification{Enabled: aws.Bool(true)}
	tests := []struct {
		name string
		ours func(context.Context, *dynamo.Client) error
		sdk  func(context.Context, *dynamodb.Client) error
	}{
		{"GetItem", func(c context.Context, d *dynamo.Client) error {
			_, err := d.GetItem(c, &dynamo.GetItemInput{TableName: table, Key: key, ConsistentRead: aws.Bool(true),
				ProjectionExpression: aws.String("#p"), ExpressionAttributeNames: map[string]string{"#p": "PK"}})
			return err
		}, func(c context.Context, d *dynamodb.Client) error {
			_, err := d.GetItem(c, &dynamodb.GetItemInput{TableName: table, Key: key, ConsistentRead: aws.Bool(true),
				ProjectionExpression: aws.String("#p"), ExpressionAttributeNames: map[string]string{"#p": "PK"}})
			return err
		}},
		{"PutItem of every kind of value", func(c context.Context, d *dynamo.Client) error {
			return d.PutItem(c, &types.Put{TableName: table, Item: every, ConditionExpression: cond,
				ExpressionAttributeNames: names, ExpressionAttributeValues: values, ReturnValuesOnConditionCheckFailure: allOld})
		}, func(c context.Context, d *dynamodb.Client) error {
			_, err := d.PutItem(c, &dynamodb.PutItemInput{TableName: table, Item: every, ConditionExpression: cond,
				ExpressionAttributeNames: names, ExpressionAttributeValues: values, ReturnValuesOnConditionCheckFailure: allOld})
			return err
		}},
		{"UpdateItem", func(c context.Context, d *dynamo.Client) error {
			_, err := d.UpdateItem(c, &types.Update{TableName: table, Key: key, UpdateExpression: aws.String("SET #n = :v"),
				ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values,
				ReturnValuesOnConditionCheckFailure: allOld}, types.ReturnValueAllNew)
			return err
		}, func(c context.Context, d *dynamodb.Client) error {
			_, err := d.UpdateItem(c, &dynamodb.UpdateItemInput{TableName: table, Key: key, UpdateExpression: aws.String("SET #n = :v"),
				ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values,
				ReturnValues: types.ReturnValueAllNew, ReturnValuesOnConditionCheckFailure: allOld})
			return err
		}},
		{"DeleteItem", func(c context.Context, d *dynamo.Client) error {
			return d.DeleteItem(c, &types.Delete{TableName: table, Key: key, ConditionExpression: cond,
				ExpressionAttributeNames: names, ExpressionAttributeValues: values})
		}, func(c context.Context, d *dynamodb.Client) error {
			_, err := d.DeleteItem(c, &dynamodb.DeleteItemInput{TableName: table, Key: key, ConditionExpression: cond,
				ExpressionAttributeNames: names, ExpressionAttributeValues: values})
			return err
		}},
		{"Query", func(c context.Context, d *dynamo.Client) error {
			_, err := d.Query(c, &dynamo.QueryInput{TableName: table, IndexName: aws.String("GSI1"),
				KeyConditionExpression: aws.String("#p = :v"), FilterExpression: aws.String("#n < :v"),
				ExpressionAttributeNames: names, ExpressionAttributeValues: values, ExclusiveStartKey: key,
				ConsistentRead: aws.Bool(false), ScanIndexForward: aws.Bool(false), Limit: aws.Int32(11)})
			return err
		}, func(c context.Context, d *dynamodb.Client) error {
			_, err := d.Query(c, &dynamodb.QueryInput{TableName: table, IndexName: aws.String("GSI1"),
				KeyConditionExpression: aws.String("#p = :v"), FilterExpression: aws.String("#n < :v"),
				ExpressionAttributeNames: names, ExpressionAttributeValues: values, ExclusiveStartKey: key,
				ConsistentRead: aws.Bool(false), ScanIndexForward: aws.Bool(false), Limit: aws.Int32(11)})
			return err
		}},
		{"Scan", func(c context.Context, d *dynamo.Client) error {
			_, err := d.Scan(c, &dynamo.ScanInput{TableName: table, FilterExpression: aws.String("#n < :v"),
				ExpressionAttributeNames: names, ExpressionAttributeValues: values, ConsistentRead: aws.Bool(true), Limit: aws.Int32(100)})
			return err
		}, func(c context.Context, d *dynamodb.Client) error {
			_, err := d.Scan(c, &dynamodb.ScanInput{TableName: table, FilterExpression: aws.String("#n < :v"),
				ExpressionAttributeNames: names, ExpressionAttributeValues: values, ConsistentRead: aws.Bool(true), Limit: aws.Int32(100)})
			return err
		}},
		{"TransactWriteItems", func(c context.Context, d *dynamo.Client) error {
			return d.TransactWriteItems(c, &dynamo.TransactWriteItemsInput{TransactItems: transaction(table, key, cond, names, values)})
		}, func(c context.Context, d *dynamodb.Client) error {
			_, err := d.TransactWriteItems(c, &dynamodb.TransactWriteItemsInput{TransactItems: transaction(table, key, cond, names, values)})
			return err
		}},
		{"CreateTable", func(c context.Context, d *dynamo.Client) error {
			return d.CreateTable(c, &dynamo.CreateTableInput{TableName: table, BillingMode: types.BillingModePayPerRequest,
				AttributeDefinitions: attrs, KeySchema: hashKey, GlobalSecondaryIndexes: gsis, SSESpecification: sse})
		}, func(c context.Context, d *dynamodb.Client) error {
			_, err := d.CreateTable(c, &dynamodb.CreateTableInput{TableName: table, BillingMode: types.BillingModePayPerRequest,
				AttributeDefinitions: attrs, KeySchema: hashKey, GlobalSecondaryIndexes: gsis, SSESpecification: sse})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &capture{}
			url := serve(t, c)
			ctx := context.Background()
			if err := tt.ours(ctx, ours(t, url, 1, nil)); err != nil {
				t.Fatal(err)
			}
			if err := tt.sdk(ctx, sdk(url)); err != nil {
				t.Fatal(err)
			}
			if c.targets[0] != c.targets[1] {
				t.Errorf("target %q, the SDK's %q", c.targets[0], c.targets[1])
			}
			got, want := decoded(t, c.bodies[0]), decoded(t, c.bodies[1])
			// Each client makes up its own idempotency token.
			if _, sdkHas := want.(map[string]any)["ClientRequestToken"]; sdkHas {
				if _, has := got.(map[string]any)["ClientRequestToken"]; !has {
					t.Errorf("no ClientRequestToken; the SDK sends one")
				}
				delete(want.(map[string]any), "ClientRequestToken")
				delete(got.(map[string]any), "ClientRequestToken")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body\n%s\nthe SDK's\n%s", c.bodies[0], c.bodies[1])
			}
		})
	}
}

// TestTransactionTokenPerCall: every try of one transaction carries the
// same token, so a retry of one that had committed is answered as it was;
// another call carries another.
func TestTransactionTokenPerCall(t *testing.T) {
	c := &capture{status: 500, answer: `{"__type":"InternalServerError"}`}
	db := ours(t, serve(t, c), 2, nil)
	in := &dynamo.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{Delete: &types.Delete{TableName: aws.String("T")}}}}
	for range 2 {
		if err := db.TransactWriteItems(context.Background(), in); err == nil {
			t.Fatal("no error from a failing endpoint")
		}
	}
	if in.ClientRequestToken != nil {
		t.Error("the caller's input was changed")
	}
	tokens := make([]string, len(c.bodies))
	for i, b := range c.bodies {
		var body struct{ ClientRequestToken string }
		if err := json.Unmarshal(b, &body); err != nil || body.ClientRequestToken == "" || len(body.ClientRequestToken) > 36 {
			t.Fatalf("try %d: token %q, %v", i, body.ClientRequestToken, err)
		}
		tokens[i] = body.ClientRequestToken
	}
	if len(tokens) != 4 || tokens[0] != tokens[1] || tokens[2] != tokens[3] || tokens[0] == tokens[2] {
		t.Errorf("tokens of two calls of two tries each: %q", tokens)
	}
}

func transaction(table *string, key map[string]types.AttributeValue, cond *string, names map[string]string,
	values map[string]types.AttributeValue) []types.TransactWriteItem {
	return []types.TransactWriteItem{
		{Put: &types.Put{TableName: table, Item: every, ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values}},
		{Update: &types.Update{TableName: table, Key: key, UpdateExpression: aws.String("ADD #n :v"), ConditionExpression: cond,
			ExpressionAttributeNames: names, ExpressionAttributeValues: values,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}},
		{Delete: &types.Delete{TableName: table, Key: key}},
		{ConditionCheck: &types.ConditionCheck{TableName: table, Key: key, ConditionExpression: cond,
			ExpressionAttributeNames: names, ExpressionAttributeValues: values}},
	}
}

// TestAnswersAsTheSDKReadsThem: items read back are what the SDK's
// deserializers make of the same answer.
func TestAnswersAsTheSDKReadsThem(t *testing.T) {
	c := &capture{}
	url := serve(t, c)
	item, err := json.Marshal(dynamo.Item(every))
	if err != nil {
		t.Fatal(err)
	}
	c.answer = `{"Items":[` + string(item) + `,{}],"LastEvaluatedKey":{"PK":{"S":"A"}},"Count":2,"ScannedCount":9}`
	ctx := context.Background()
	got, err := ours(t, url, 1, nil).Query(ctx, &dynamo.QueryInput{TableName: aws.String("T")})
	if err != nil {
		t.Fatal(err)
	}
	want, err := sdk(url).Query(ctx, &dynamodb.QueryInput{TableName: aws.String("T")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Items) != len(want.Items) {
		t.Fatalf("%d items, the SDK %d", len(got.Items), len(want.Items))
	}
	for i := range want.Items {
		if !reflect.DeepEqual(map[string]types.AttributeValue(got.Items[i]), want.Items[i]) {
			t.Errorf("item %d: %#v, the SDK %#v", i, got.Items[i], want.Items[i])
		}
	}
	if !reflect.DeepEqual(map[string]types.AttributeValue(got.LastEvaluatedKey), want.LastEvaluatedKey) {
		t.Errorf("LastEvaluatedKey %#v, the SDK %#v", got.LastEvaluatedKey, want.LastEvaluatedKey)
	}
	c.answer = `{}`
	absent, err := ours(t, url, 1, nil).GetItem(ctx, &dynamo.GetItemInput{TableName: aws.String("T")})
	if err != nil || absent.Item != nil {
		t.Errorf("an absent item: %v, %v", absent.Item, err)
	}
}

func TestItemRefusesWhatDynamoDBWouldNot(t *testing.T) {
	tests := []struct {
		name string
		json string
	}{
		{"a value with no member", `{"a":{}}`},
		{"an unknown member only", `{"a":{"X":"1"}}`},
		{"an empty value nested in a list", `{"a":{"L":[{}]}}`},
		{"not an object", `["a"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var it dynamo.Item
			if err := json.Unmarshal([]byte(tt.json), &it); err == nil {
				t.Errorf("read %s as %#v", tt.json, it)
			}
		})
	}
	for name, v := range map[string]types.AttributeValue{
		"a nil value":         nil,
		"an empty string set": &types.AttributeValueMemberSS{},
		"an empty number set": &types.AttributeValueMemberNS{Value: []string{}},
		"an empty binary set": &types.AttributeValueMemberBS{},
		"an empty set in a map": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"s": &types.AttributeValueMemberSS{}}},
	} {
		if b, err := json.Marshal(dynamo.Item{"a": v}); err == nil {
			t.Errorf("%s: wrote %s", name, b)
		}
	}
}

// TestErrors: a refused write carries its item, a cancelled transaction
// its reasons, as the SDK's types; any other answer is an APIError. A
// call is counted once, however many tries it takes.
func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		answer string
		check  func(*testing.T, error)
		tries  int
	}{
		{"a refused write", 400, `{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed","Item":{"PK":{"S":"A"},"n":{"N":"2"}}}`,
			func(t *testing.T, err error) {
				var ccf *types.ConditionalCheckFailedException
				if !errors.As(err, &ccf) || ccf.Item["n"].(*types.AttributeValueMemberN).Value != "2" || aws.ToString(ccf.Message) == "" {
					t.Errorf("%#v", err)
				}
			}, 1},
		{"a cancelled transaction", 400, `{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled","CancellationReasons":[{"Code":"None"},{"Code":"ConditionalCheckFailed","Message":"The conditional request failed","Item":{"PK":{"S":"B"}}}]}`,
			func(t *testing.T, err error) {
				var tce *types.TransactionCanceledException
				if !errors.As(err, &tce) || len(tce.CancellationReasons) != 2 {
					t.Fatalf("%#v", err)
				}
				r := tce.CancellationReasons
				if aws.ToString(r[0].Code) != "None" || r[0].Item != nil || aws.ToString(r[1].Code) != "ConditionalCheckFailed" ||
					r[1].Item["PK"].(*types.AttributeValueMemberS).Value != "B" {
					t.Errorf("reasons %#v", r)
				}
			}, 1},
		{"throttled, retried", 400, `{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}`,
			func(t *testing.T, err error) {
				var ae *awsjson.APIError
				if !errors.As(err, &ae) || ae.Code != "ProvisionedThroughputExceededException" {
					t.Errorf("%#v", err)
				}
			}, 2},
		{"a validation error, not retried", 400, `{"__type":"com.amazon.coral.validate#ValidationException","message":"Item size has exceeded the maximum allowed size"}`,
			func(t *testing.T, err error) {
				var ae *awsjson.APIError
				if !errors.As(err, &ae) || ae.Code != "ValidationException" || ae.Message == "" {
					t.Errorf("%#v", err)
				}
			}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &capture{status: tt.status, answer: tt.answer}
			counted := 0
			db := ours(t, serve(t, c), 2, func(context.Context, any) { counted++ })
			_, err := db.UpdateItem(context.Background(), &types.Update{TableName: aws.String("T")}, "")
			tt.check(t, err)
			if counted != 1 || len(c.bodies) != tt.tries {
				t.Errorf("counted %d calls, sent %d tries; want 1 and %d", counted, len(c.bodies), tt.tries)
			}
		})
	}
}

// TestErrorsAsTheSDKReadsThem: a refused write's item and a cancelled
// transaction's reasons are what the SDK's deserializers make of the same
// answer.
func TestErrorsAsTheSDKReadsThem(t *testing.T) {
	tests := []struct {
		name, answer string
	}{
		{"a refused write", `{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed","Item":{"PK":{"S":"A"},"m":{"M":{"l":{"L":[{"N":"1"},{"NULL":true}]}}}}}`},
		{"a refused write without its item", `{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}`},
		{"a cancelled transaction", `{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed]","CancellationReasons":[{"Code":"None"},{"Code":"ConditionalCheckFailed","Message":"The conditional request failed","Item":{"PK":{"S":"B"},"b":{"B":"AAE="}}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &capture{status: 400, answer: tt.answer}
			url := serve(t, c)
			ctx := context.Background()
			// Each operation reads the errors its model names: a refusal
			// comes from an update, a cancellation from a transaction.
			key := map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "A"}}
			update := &types.Update{TableName: aws.String("T"), Key: key, UpdateExpression: aws.String("SET a = b")}
			var got, want error
			if strings.Contains(tt.name, "transaction") {
				items := []types.TransactWriteItem{{Update: update}}
				got = ours(t, url, 1, nil).TransactWriteItems(ctx, &dynamo.TransactWriteItemsInput{TransactItems: items})
				_, want = sdk(url).TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
			} else {
				_, got = ours(t, url, 1, nil).UpdateItem(ctx, update, "")
				_, want = sdk(url).UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: update.TableName, Key: key, UpdateExpression: update.UpdateExpression})
			}
			var gotCCF, wantCCF *types.ConditionalCheckFailedException
			var gotTCE, wantTCE *types.TransactionCanceledException
			switch {
			case errors.As(want, &wantCCF):
				if !errors.As(got, &gotCCF) {
					t.Fatalf("%v; the SDK read %T", got, wantCCF)
				}
				if !reflect.DeepEqual(map[string]types.AttributeValue(gotCCF.Item), wantCCF.Item) ||
					aws.ToString(gotCCF.Message) != aws.ToString(wantCCF.Message) {
					t.Errorf("%#v, the SDK %#v", gotCCF, wantCCF)
				}
			case errors.As(want, &wantTCE):
				if !errors.As(got, &gotTCE) {
					t.Fatalf("%v; the SDK read %T", got, wantTCE)
				}
				if !reflect.DeepEqual(gotTCE.CancellationReasons, wantTCE.CancellationReasons) ||
					aws.ToString(gotTCE.Message) != aws.ToString(wantTCE.Message) {
					t.Errorf("%#v, the SDK %#v", gotTCE.CancellationReasons, wantTCE.CancellationReasons)
				}
			default:
				t.Fatalf("the SDK read %v", want)
			}
		})
	}
}

// TestTransactionInProgressIsRetried: DynamoDB answers a retried
// transaction whose first try still runs with TransactionInProgressException;
// the client tries again with the same token and gets the outcome.
func TestTransactionInProgressIsRetried(t *testing.T) {
	var mu sync.Mutex
	answers := []struct {
		status int
		body   string
	}{
		{500, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"boom"}`},
		{400, `{"__type":"com.amazonaws.dynamodb.v20120810#TransactionInProgressException","message":"in progress"}`},
		{200, `{}`},
	}
	var tokens []string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ ClientRequestToken string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		a := answers[min(len(tokens), len(answers)-1)]
		tokens = append(tokens, body.ClientRequestToken)
		mu.Unlock()
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(hs.Close)
	db := ours(t, hs.URL, 3, nil)
	items := []types.TransactWriteItem{{Delete: &types.Delete{TableName: aws.String("T")}}}
	if err := db.TransactWriteItems(context.Background(), &dynamo.TransactWriteItemsInput{TransactItems: items}); err != nil {
		t.Fatalf("after 500, in progress, 200: %v", err)
	}
	if len(tokens) != 3 || tokens[0] == "" || tokens[0] != tokens[1] || tokens[1] != tokens[2] {
		t.Errorf("tokens of the tries: %q, want three, the same", tokens)
	}
}

// A page's JSON may be far larger than its 1 MB of items (a control
// character is six bytes): such a page is read, not refused.
func TestLargePage(t *testing.T) {
	long := strings.Repeat(`\u0001`, 200<<10) // 1.2 MB of JSON, 200 KB of item
	var b strings.Builder
	b.WriteString(`{"Items":[`)
	const n = 7 // 8.4 MB of JSON, as a page of 1.4 MB of such items
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"PK":{"S":"` + long + `"}}`)
	}
	b.WriteString(`]}`)
	c := &capture{answer: b.String()}
	page, err := ours(t, serve(t, c), 1, nil).Query(context.Background(), &dynamo.QueryInput{TableName: aws.String("T")})
	if err != nil {
		t.Fatalf("a page of %d bytes: %v", b.Len(), err)
	}
	if len(page.Items) != n {
		t.Errorf("%d items, want %d", len(page.Items), n)
	}
}

func TestEqual(t *testing.T) {
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	n := func(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
	for _, tc := range []struct {
		name string
		a, b dynamo.Item
		want bool
	}{
		{"the same", dynamo.Item{"a": s("x"), "n": n("1")}, dynamo.Item{"a": s("x"), "n": n("1")}, true},
		{"numbers by value", dynamo.Item{"n": n("1.0")}, dynamo.Item{"n": n("1")}, true},
		{"large numbers by value", dynamo.Item{"n": n("1e21")}, dynamo.Item{"n": n("1000000000000000000000")}, true},
		{"another number", dynamo.Item{"n": n("1")}, dynamo.Item{"n": n("2")}, false},
		{"another string", dynamo.Item{"a": s("x")}, dynamo.Item{"a": s("y")}, false},
		{"a number is not its string", dynamo.Item{"a": s("1")}, dynamo.Item{"a": n("1")}, false},
		{"an attribute more", dynamo.Item{"a": s("x")}, dynamo.Item{"a": s("x"), "b": s("y")}, false},
		{"another attribute", dynamo.Item{"a": s("x")}, dynamo.Item{"b": s("x")}, false},
		{"sets in any order", dynamo.Item{"ss": &types.AttributeValueMemberSS{Value: []string{"a", "b"}}, "ns": &types.AttributeValueMemberNS{Value: []string{"1", "2.5"}}},
			dynamo.Item{"ss": &types.AttributeValueMemberSS{Value: []string{"b", "a"}}, "ns": &types.AttributeValueMemberNS{Value: []string{"2.50", "1"}}}, true},
		{"another set", dynamo.Item{"ss": &types.AttributeValueMemberSS{Value: []string{"a", "b"}}}, dynamo.Item{"ss": &types.AttributeValueMemberSS{Value: []string{"a", "c"}}}, false},
		{"lists in order", dynamo.Item{"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("a"), s("b")}}},
			dynamo.Item{"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("b"), s("a")}}}, false},
		{"maps deeply", dynamo.Item{"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": n("5")}}},
			dynamo.Item{"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": n("5.0")}}}, true},
		{"maps differing inside", dynamo.Item{"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": n("5")}}},
			dynamo.Item{"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": n("6")}}}, false},
		{"bytes", dynamo.Item{"b": &types.AttributeValueMemberB{Value: []byte("x")}, "t": &types.AttributeValueMemberBOOL{Value: true}},
			dynamo.Item{"b": &types.AttributeValueMemberB{Value: []byte("x")}, "t": &types.AttributeValueMemberBOOL{Value: true}}, true},
		{"another bool", dynamo.Item{"t": &types.AttributeValueMemberBOOL{Value: true}}, dynamo.Item{"t": &types.AttributeValueMemberBOOL{Value: false}}, false},
		{"nothing and nothing", nil, dynamo.Item{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dynamo.Equal(tc.a, tc.b); got != tc.want {
				t.Errorf("Equal(a, b) = %v, want %v", got, tc.want)
			}
			if got := dynamo.Equal(tc.b, tc.a); got != tc.want {
				t.Errorf("Equal(b, a) = %v, want %v", got, tc.want)
			}
		})
	}
}
