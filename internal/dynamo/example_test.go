package dynamo_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/truora/minidyn/server"

	"github.com/sandstep/sandstep/internal/dynamo"
)

// A client against a local DynamoDB (here minidyn): create a table, write
// an item on a condition, read it back.
func Example() {
	hs := httptest.NewServer(server.NewServer())
	defer hs.Close()
	opts := dynamo.Options{}
	opts.Endpoint = hs.URL
	db, err := dynamo.New(cfg, opts)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	table := aws.String("example")
	if err := db.CreateTable(ctx, &dynamo.CreateTableInput{TableName: table, BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("PK"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("PK"), KeyType: types.KeyTypeHash}}}); err != nil {
		panic(err)
	}
	key := dynamo.Item{"PK": &types.AttributeValueMemberS{Value: "sb-1"}}
	item := dynamo.Item{"PK": key["PK"], "state": &types.AttributeValueMemberS{Value: "ready"}}
	for range 2 {
		err := db.PutItem(ctx, &types.Put{TableName: table, Item: item,
			ConditionExpression: aws.String("attribute_not_exists(PK)")})
		fmt.Println("put:", err == nil)
	}
	out, err := db.GetItem(ctx, &dynamo.GetItemInput{TableName: table, Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		panic(err)
	}
	fmt.Println("state:", out.Item["state"].(*types.AttributeValueMemberS).Value)
	// Output:
	// put: true
	// put: false
	// state: ready
}
