package store_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// A limit an administrator sets through a version from before the clear's
// mark (limitDefault) is an override to this version too. Such a version
// runs the admin API after a rollback (docs/runbooks/rollback.md) or
// while the live alias is moving: its SetUserLimit writes the limit alone,
// as below, and leaves a mark a clear of this version wrote. Going forward
// again the mark must not turn the limit set since into the default: the
// user would be held to the default (refused creates, or given more than
// the administrator allowed) with the admin API saying no limit is set.
func TestLimitSetByAnOlderVersionAfterAClearIsInForce(t *testing.T) {
	st, client, table := storetest.New(t, store.Options{DefaultQuota: 1})
	c := ctx(t)
	if err := st.SetUserLimit(c, "u", quota(t, st, "u"), 3); err != nil {
		t.Fatal(err)
	}
	if err := st.ClearUserLimit(c, "u", quota(t, st, "u")); err != nil {
		t.Fatal(err)
	}
	// bb44db0's SetUserLimit, limit 5: SET limit, type, updatedAt on
	// condition the counter exists.
	_, err := client.UpdateItem(c, &dynamodb.UpdateItemInput{
		TableName:                aws.String(table),
		Key:                      map[string]types.AttributeValue{"PK": strAV("USER#u"), "SK": strAV("QUOTA")},
		ConditionExpression:      aws.String("attribute_exists(#pk)"),
		UpdateExpression:         aws.String("SET #limit = :limit, #type = :type, #updatedAt = :now"),
		ExpressionAttributeNames: map[string]string{"#pk": "PK", "#limit": "limit", "#type": "type", "#updatedAt": "updatedAt"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":limit": &types.AttributeValueMemberN{Value: "5"},
			":type":  rawItem(t, client, table, "USER#u", "QUOTA")["type"],
			":now":   strAV(time.Now().UTC().Format(time.RFC3339Nano)),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if q := quota(t, st, "u"); !q.LimitSet || q.Limit != 5 {
		t.Errorf("quota after an older version set 5 = %+v; want 5, set", q)
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := reserve(c, st, "u", id); err != nil {
			t.Fatalf("slot %s under the limit of 5 an administrator set: %v (%s)", id, err, sandstep.ErrorCode(err))
		}
	}
}
