package store_test

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// A clear gives a counter its LiveIndex key by an update when a version
// before the index wrote the counter without it. On minidyn, the local
// stack's DynamoDB, an update that gives an item its first index key drops
// another item's entry from the index (newCounter's comment; the store
// gives a key only by a put), and the reaper, which reads the index, then
// misses the live records it should finish (creates, deletes, tasks,
// pending notices).
func TestAClearOfAnUnindexedCounterKeepsTheIndex(t *testing.T) {
	tests := []struct {
		name  string
		users []string // whose sandboxes are live beside the counter
	}{
		{name: "one other user", users: []string{"alice"}},
		{name: "two other users", users: []string{"alice", "bob"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, client, table := storetest.New(t, store.Options{DefaultQuota: 10})
			c := ctx(t)
			for i, u := range tc.users {
				seed(t, c, st, &sandstep.Sandbox{ID: sbxID(byte('a' + i)), Owner: u})
			}
			// carol's counter as a version before the index wrote it: no
			// LivePK, an override of 4.
			_, err := client.PutItem(c, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
				"PK": strAV("USER#carol"), "SK": strAV("QUOTA"), "type": strAV("quota"),
				"limit": &types.AttributeValueMemberN{Value: "4"}, "active": &types.AttributeValueMemberN{Value: "0"},
				"rev":  &types.AttributeValueMemberN{Value: "0"},
				"held": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"#": &types.AttributeValueMemberN{Value: "0"}}},
			}})
			if err != nil {
				t.Fatal(err)
			}
			before := liveSummary(t, st)
			if err := st.ClearUserLimit(c, "carol", quota(t, st, "carol")); err != nil {
				t.Fatal(err)
			}
			after := liveSummary(t, st)
			for _, want := range before {
				if !slices.Contains(after, want) {
					t.Errorf("after the clear the index lacks %q; it has %v", want, after)
				}
			}
		})
	}
}

func liveSummary(t *testing.T, st *store.Store) []string {
	t.Helper()
	l, err := st.LiveRecords(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return summary(l)
}
