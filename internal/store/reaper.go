package store

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The reaper's reads: scans of the table by item type, each page bounded
// (scanPage items read), strongly consistent so that what a request wrote
// before the scan began is seen.

// scanPage bounds the items one page of a scan reads.
const scanPage = 100

// scan calls each for every item matching filter, page by page.
func (s *Store) scan(ctx context.Context, filter expression.ConditionBuilder, what string, each func(map[string]types.AttributeValue) error) error {
	expr := build(expression.NewBuilder().WithFilter(filter))
	in := &dynamodb.ScanInput{
		TableName:                 aws.String(s.table),
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(scanPage),
	}
	for {
		page, err := s.db.Scan(ctx, in)
		if err != nil {
			return mapErr(err, "scan "+what)
		}
		for _, it := range page.Items {
			if err := each(it); err != nil {
				return err
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

func ofType(t string) expression.ConditionBuilder {
	return expression.Name(attrType).Equal(expression.Value(t))
}

// scanRecords returns the records of kind typ whose attr is one of values.
func scanRecords[T any](ctx context.Context, s *Store, typ, attr string, values []string) ([]*T, error) {
	var out []*T
	err := s.scan(ctx, ofType(typ).And(inValues(attr, values)), typ+" records", func(it map[string]types.AttributeValue) error {
		r, err := unmarshalRecord[T](it, typ)
		if err == nil {
			out = append(out, r)
		}
		return err
	})
	return out, err
}

// LiveSandboxes returns every sandbox record, of every owner, that is not
// in a terminal state: what the reaper matches against the provider's
// list.
func (s *Store) LiveSandboxes(ctx context.Context) ([]*sandstep.Sandbox, error) {
	return scanRecords[sandstep.Sandbox](ctx, s, typeSandbox, attrState,
		stringsOf([]sandstep.State{sandstep.StateCreating, sandstep.StateReady, sandstep.StateDeleting}))
}

// LiveTasks returns every task, of every owner, that has not ended.
func (s *Store) LiveTasks(ctx context.Context) ([]*sandstep.Task, error) {
	return scanRecords[sandstep.Task](ctx, s, typeTask, "status",
		stringsOf([]sandstep.TaskStatus{sandstep.TaskQueued, sandstep.TaskRunning}))
}

// HeldSlots returns every slot, of every owner, that is reserved or
// committed.
func (s *Store) HeldSlots(ctx context.Context) ([]sandstep.Slot, error) {
	var out []sandstep.Slot
	held := inValues(attrSlotState, []string{slotReserved, slotCommitted})
	err := s.scan(ctx, ofType(typeSlot).And(held), "quota slots", func(it map[string]types.AttributeValue) error {
		sl := sandstep.Slot{UserID: avS(it["userId"]), SandboxID: avS(it["sandboxId"])}
		sl.ReservedAt, _ = time.Parse(time.RFC3339Nano, avS(it[attrReservedAt]))
		out = append(out, sl)
		return nil
	})
	return out, err
}

// QuotaCounters returns each user's counter of slots held, for every
// user who has one.
func (s *Store) QuotaCounters(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := s.scan(ctx, ofType(typeQuota), "quota counters", func(it map[string]types.AttributeValue) error {
		u, ok := strings.CutPrefix(avS(it[attrPK]), prefixUser)
		n, _, err := numberAttr(it, attrActive)
		if ok && err == nil {
			out[u] = int(n)
		}
		return err
	})
	return out, err
}

// RepairQuota sets the user's counter to the number of slots they hold
// when the two differ, and reports both. A reservation or release that
// lands between the reads changes the counter, and the conditional write
// then leaves it alone (the next run looks again). With dryRun it only
// reports.
func (s *Store) RepairQuota(ctx context.Context, userID string, dryRun bool) (counted, held int, err error) {
	q, err := s.GetQuota(ctx, userID)
	if err != nil {
		return 0, 0, err
	}
	n, err := s.countHeld(ctx, userID)
	if err != nil || n == q.Active || dryRun {
		return q.Active, n, err
	}
	fix := build(expression.NewBuilder().
		WithCondition(expression.Name(attrActive).Equal(expression.Value(q.Active))).
		WithUpdate(expression.Set(expression.Name(attrActive), expression.Value(n)).
			Set(expression.Name(attrUpdatedAt), expression.Value(s.nowUTC().Format(time.RFC3339Nano)))))
	if err := s.write(ctx, s.update(s.quotaKey(userID), fix)); err != nil {
		if conditionFailed(err, 0) {
			return q.Active, q.Active, nil // moved meanwhile: not drift
		}
		return 0, 0, mapErr(err, "repair quota counter")
	}
	return q.Active, n, nil
}

// countHeld counts the user's reserved and committed slots.
func (s *Store) countHeld(ctx context.Context, userID string) (int, error) {
	keys := expression.Key(attrPK).Equal(expression.Value(userPK(userID))).
		And(expression.Key(attrSK).BeginsWith(prefixSlot))
	expr, err := expression.NewBuilder().WithKeyCondition(keys).
		WithFilter(inValues(attrSlotState, []string{slotReserved, slotCommitted})).Build()
	if err != nil {
		return 0, sandstep.Wrap(err, sandstep.EINTERNAL, "store: build slot query")
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    expr.KeyCondition(),
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ConsistentRead:            aws.Bool(true),
		Select:                    types.SelectCount,
	}
	n := 0
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, mapErr(err, "count quota slots")
		}
		n += int(page.Count)
		if len(page.LastEvaluatedKey) == 0 {
			return n, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

func avS(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}
