package app

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/dynamo"
)

func TestDynamoDBUnits(t *testing.T) {
	two := []types.TransactWriteItem{{}, {}}
	tests := []struct {
		name  string
		in    any
		write bool
		units int
		ok    bool
	}{
		{"a read", &dynamo.GetItemInput{}, false, 1, true},
		{"a query", &dynamo.QueryInput{}, false, 1, true},
		{"a write", &types.Update{}, true, 1, true},
		{"a transaction's items count twice", &dynamo.TransactWriteItemsInput{TransactItems: two}, true, 4, true},
		{"a small put", &types.Put{Item: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "TASK#x"}}}, true, 1, true},
		{"a put of 1.5 KB", &types.Put{Item: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: "TASK#x"}, "command": &types.AttributeValueMemberS{Value: strings.Repeat("x", 1500)}}}, true, 2, true},
		{"a transaction putting 1.5 KB", &dynamo.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{Item: map[string]types.AttributeValue{"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
				"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: strings.Repeat("y", 1500)}}}}}}}},
			{}}}, true, 6, true},
		{"a scan", &dynamo.ScanInput{}, false, 1, true},
		{"a delete", &types.Delete{}, true, 1, true},
		{"not a data request", &dynamo.CreateTableInput{}, false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			write, units, ok := dynamoDBUnits(tt.in)
			if write != tt.write || units != tt.units || ok != tt.ok {
				t.Errorf("dynamoDBUnits = %v, %d, %v; want %v, %d, %v", write, units, ok, tt.write, tt.units, tt.ok)
			}
		})
	}
}

// A price table that cannot be read is asked for again only after
// pricesRetry, not for every task shown; one that can is read once.
func TestPricesReadAgainOnlyAfterAWhile(t *testing.T) {
	for _, tt := range []struct {
		name   string
		params map[string]string
		reads  []int // after each ask: at 0, 0, 30 s, 61 s, 62 s
		fails  bool
	}{
		{"missing", nil, []int{1, 1, 1, 2, 2}, true},
		{"there", map[string]string{"/sandstep/prices": `{"s3": {"put": 0.00001}}`}, []int{1, 1, 1, 1, 1}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ssm := fakeSSM(t, tt.params)
			reads := &ssm.reads
			env := map[string]string{
				"AWS_ENDPOINT_URL_SSM": ssm.URL, "TABLE_NAME": "sandstep", "DAYTONA_API_KEY_REF": "ssm:/k",
				"PRICE_TABLE_REF": "ssm:/sandstep/prices", "AWS_REGION": "eu-west-1",
				"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "dummy-secret-access-key",
			}
			e, err := NewEnv(Options{Getenv: func(k string) string { return env[k] }, LogWriter: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
			for i, at := range []time.Duration{0, 0, 30 * time.Second, 61 * time.Second, 62 * time.Second} {
				e.now = func() time.Time { return start.Add(at) }
				_, err := e.Prices(context.Background())
				if (err != nil) != tt.fails || int(reads.Load()) != tt.reads[i] {
					t.Errorf("ask %d at %s: %v after %d reads; want failing %v after %d", i, at, err, reads.Load(), tt.fails, tt.reads[i])
				}
			}
		})
	}
}
