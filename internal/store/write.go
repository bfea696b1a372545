package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/dynamo"
)

// build returns b's expression. Every expression the store builds has a
// fixed shape, so a build error is a bug in the store, not a runtime
// condition.
func build(b expression.Builder) expression.Expression {
	e, err := b.Build()
	if err != nil {
		panic("store: building an expression: " + err.Error())
	}
	return e
}

// absent is the condition of a put that creates an item.
var absent = build(expression.NewBuilder().WithCondition(expression.AttributeNotExists(expression.Name(attrPK))))

// put is a write of a whole item on condition cond (a zero cond: none).
func (s *Store) put(item map[string]types.AttributeValue, cond expression.Expression) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName:                 aws.String(s.table),
		Item:                      item,
		ConditionExpression:       cond.Condition(),
		ExpressionAttributeNames:  cond.Names(),
		ExpressionAttributeValues: cond.Values(),
	}}
}

// update changes the item at key with e's update, on e's condition.
// A refused update answers with the item as it was (failedImage), which
// says why without a read.
func (s *Store) update(key map[string]types.AttributeValue, e expression.Expression) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		TableName:                           aws.String(s.table),
		Key:                                 key,
		ConditionExpression:                 e.Condition(),
		UpdateExpression:                    e.Update(),
		ExpressionAttributeNames:            e.Names(),
		ExpressionAttributeValues:           e.Values(),
	}}
}

// remove deletes the item at key on cond.
func (s *Store) remove(key map[string]types.AttributeValue, cond expression.Expression) types.TransactWriteItem {
	return types.TransactWriteItem{Delete: &types.Delete{
		TableName:                 aws.String(s.table),
		Key:                       key,
		ConditionExpression:       cond.Condition(),
		ExpressionAttributeNames:  cond.Names(),
		ExpressionAttributeValues: cond.Values(),
	}}
}

// check is a condition on the item at key that a transaction writes
// nothing to.
func (s *Store) check(key map[string]types.AttributeValue, cond expression.Expression) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:                 aws.String(s.table),
		Key:                       key,
		ConditionExpression:       cond.Condition(),
		ExpressionAttributeNames:  cond.Names(),
		ExpressionAttributeValues: cond.Values(),
	}}
}

// write is the store's one door for writes: it applies items atomically,
// one item as a plain conditional write (half a transaction's cost), several
// in one transaction. Either way txReasons(err) says which item's condition
// failed. The error is DynamoDB's, unmapped: callers explain conditions
// first, then mapErr the rest.
func (s *Store) write(ctx context.Context, items ...types.TransactWriteItem) error {
	if len(items) != 1 {
		return s.db.TransactWriteItems(ctx, &dynamo.TransactWriteItemsInput{TransactItems: items})
	}
	switch it := items[0]; {
	case it.Put != nil:
		err := s.db.PutItem(ctx, it.Put)
		if conditionFailed(err, 0) && dynamo.EarlierTryMayHaveApplied(err) && s.holds(ctx, it.Put.Item) {
			// A try whose answer was lost wrote the item; the retry's
			// condition was refused by it.
			return nil
		}
		return err
	case it.Update != nil:
		_, err := s.db.UpdateItem(ctx, it.Update, "")
		return err
	case it.Delete != nil:
		return s.db.DeleteItem(ctx, it.Delete)
	default:
		panic("store: write of an item that is neither a put, an update nor a delete")
	}
}

// holds says whether the table holds item exactly as given, read strongly
// consistent; a failed read says no.
func (s *Store) holds(ctx context.Context, item map[string]types.AttributeValue) bool {
	out, err := s.db.GetItem(ctx, &dynamo.GetItemInput{TableName: aws.String(s.table),
		Key: map[string]types.AttributeValue{attrPK: item[attrPK], attrSK: item[attrSK]}, ConsistentRead: aws.Bool(true)})
	return err == nil && out.Item != nil && dynamo.Equal(out.Item, item)
}
