package app

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
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
		{"a read", &dynamodb.GetItemInput{}, false, 1, true},
		{"a query", &dynamodb.QueryInput{}, false, 1, true},
		{"a write", &dynamodb.UpdateItemInput{}, true, 1, true},
		{"a transaction's items count twice", &dynamodb.TransactWriteItemsInput{TransactItems: two}, true, 4, true},
		{"a batch of reads", &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			"t": {Keys: make([]map[string]types.AttributeValue, 3)}}}, false, 3, true},
		{"not a data request", &dynamodb.DescribeTableInput{}, false, 0, false},
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
