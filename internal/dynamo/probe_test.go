package dynamo_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/truora/minidyn/server"

	"github.com/sandstep/sandstep/internal/dynamo"
)

func TestProbeCold(t *testing.T) {
	if os.Getenv("PROBE") == "" {
		t.Skip()
	}
	hs := httptest.NewServer(server.NewServer())
	defer hs.Close()
	raw := func(op, body string) {
		req, _ := http.NewRequest("POST", hs.URL, strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	raw("CreateTable", `{"TableName":"T","AttributeDefinitions":[{"AttributeName":"PK","AttributeType":"S"}],"KeySchema":[{"AttributeName":"PK","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}`)
	raw("GetItem", `{"TableName":"T","Key":{"PK":{"S":"x"}}}`)
	raw("GetItem", `{"TableName":"T","Key":{"PK":{"S":"x"}}}`)
	t0 := time.Now()
	opts := dynamo.Options{}
	opts.Endpoint = hs.URL
	db, _ := dynamo.New(cfg, opts)
	t1 := time.Now()
	in := &dynamo.GetItemInput{TableName: aws.String("T"), Key: dynamo.Item{"PK": &types.AttributeValueMemberS{Value: "y"}}}
	db.GetItem(context.Background(), in)
	t2 := time.Now()
	db.GetItem(context.Background(), in)
	t3 := time.Now()
	raw("GetItem", `{"TableName":"T","Key":{"PK":{"S":"x"}}}`)
	t4 := time.Now()
	t.Logf("new %v first %v second %v raw %v", t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3))
}
