package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/infra/local"
	"github.com/sandstep/sandstep/internal/dynamo"
)

// bareStore measures the embedded DynamoDB by itself, through the
// functions' own client (internal/dynamo), as their calls are measured (request to response headers), with as many requests
// in flight as the API had: for each of LOAD_N keys a PutItem, a GetItem
// and a TransactWriteItems of a conditional update and a put (the shape of
// a quota reservation). Its items are deleted afterwards. It returns the
// durations by operation.
func (l *loadRun) bareStore(ctx context.Context) map[string][]time.Duration {
	var (
		mu  sync.Mutex
		got = map[string][]time.Duration{}
	)
	timed := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		res, err := l.awsTransport.RoundTrip(req)
		d := time.Since(start)
		op := req.Header.Get("X-Amz-Target")
		op = op[strings.LastIndex(op, ".")+1:]
		mu.Lock()
		got[op] = append(got[op], d)
		mu.Unlock()
		return res, err
	})
	opts := dynamo.Options{}
	opts.Endpoint = l.st.DynamoDBURL
	db, err := dynamo.New(aws.Config{
		Region:      local.DefaultRegion,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient:  &http.Client{Transport: timed},
	}, opts)
	if err != nil {
		l.problem("bare store: %v", err)
		return got
	}
	table := aws.String(l.st.Config.TableName)
	key := func(i int, sk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: fmt.Sprintf("LOADBARE#%06d", i)},
			"SK": &types.AttributeValueMemberS{Value: sk},
		}
	}
	start := time.Now()
	l.parallel(ctx, l.cfg.creates, func(i int) {
		item := key(i, "ITEM")
		item["n"] = &types.AttributeValueMemberN{Value: "0"}
		item["body"] = &types.AttributeValueMemberS{Value: strings.Repeat("x", 300)}
		if err := db.PutItem(ctx, &types.Put{TableName: table, Item: item}); err != nil {
			l.problem("bare store PutItem: %v", err)
			return
		}
		if _, err := db.GetItem(ctx, &dynamo.GetItemInput{TableName: table, Key: key(i, "ITEM"), ConsistentRead: aws.Bool(true)}); err != nil {
			l.problem("bare store GetItem: %v", err)
			return
		}
		err := db.TransactWriteItems(ctx, &dynamo.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Update: &types.Update{
				TableName: table, Key: key(i, "ITEM"),
				UpdateExpression:          aws.String("SET n = n + :one"),
				ConditionExpression:       aws.String("n < :limit"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}, ":limit": &types.AttributeValueMemberN{Value: "5"}},
			}},
			{Put: &types.Put{TableName: table, Item: key(i, "SLOT")}},
		}})
		if err != nil {
			l.problem("bare store TransactWriteItems: %v", err)
		}
	})
	elapsed := since(start)
	cleanup := context.WithoutCancel(ctx)
	l.parallel(cleanup, l.cfg.creates, func(i int) {
		for _, sk := range []string{"ITEM", "SLOT"} {
			if err := db.DeleteItem(cleanup, &types.Delete{TableName: table, Key: key(i, sk)}); err != nil {
				l.problem("bare store DeleteItem: %v", err)
				return
			}
		}
	})
	l.say("bare store: %d × (PutItem, GetItem, TransactWriteItems) in %s", l.cfg.creates, elapsed)
	return got
}
