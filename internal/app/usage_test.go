package app

import (
	"strings"
	"testing"

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
