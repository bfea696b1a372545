package store

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/dynamo"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The reaper's reads: scans of the table by item type, strongly consistent
// so that what a request wrote before the scan began is seen. A scan reads
// every item, the audit trail's too, whatever its filter keeps, so its
// pages are DynamoDB's largest (1 MB, about 4,000 audit events): a bound on
// items per page would multiply the round trips of a run that must finish
// within the reaper's timeout.

// scan calls each for every item matching filter, page by page.
func (s *Store) scan(ctx context.Context, filter expression.ConditionBuilder, what string, each func(map[string]types.AttributeValue) error) error {
	expr := build(expression.NewBuilder().WithFilter(filter))
	in := &dynamo.ScanInput{
		TableName:                 aws.String(s.table),
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ConsistentRead:            aws.Bool(true),
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

// LiveRecords reads, in one scan of the table, what the reaper matches
// and finishes: every owner's sandbox records not in a terminal state, the
// tasks that have not ended, the ended tasks whose completion notice is
// still pending (which the reaper attempts again), every user's counter
// with the slots it holds, the deployment's id, and the slots still held
// as items of the earlier layout (Legacy, for FoldLegacySlots).
func (s *Store) LiveRecords(ctx context.Context) (*sandstep.Live, error) {
	live := stringsOf([]sandstep.TaskStatus{sandstep.TaskQueued, sandstep.TaskRunning})
	ended := stringsOf([]sandstep.TaskStatus{sandstep.TaskSucceeded, sandstep.TaskFailed, sandstep.TaskTimedOut, sandstep.TaskCancelled})
	filter := ofType(typeSandbox).And(inValues(attrState,
		stringsOf([]sandstep.State{sandstep.StateCreating, sandstep.StateReady, sandstep.StateDeleting}))).
		Or(ofType(typeTask).And(inValues("status", live)),
			ofType(typeTask).And(inValues("notify.status", []string{string(sandstep.NoticePending)})).And(inValues("status", ended)),
			ofType(typeQuota),
			ofType(typeDeployment),
			ofType(typeSlot).And(legacyHeld()))
	found := &sandstep.Live{Counted: map[string]int{}}
	err := s.scan(ctx, filter, "live records", func(it map[string]types.AttributeValue) error {
		switch avS(it[attrType]) {
		case typeSandbox:
			sb, err := unmarshalRecord[sandstep.Sandbox](it, typeSandbox)
			if err != nil {
				return err
			}
			found.Sandboxes = append(found.Sandboxes, sb)
		case typeTask:
			t, err := unmarshalRecord[sandstep.Task](it, typeTask)
			if err != nil {
				return err
			}
			if slices.Contains(live, string(t.Status)) {
				found.Tasks = append(found.Tasks, t)
			} else {
				found.Notices = append(found.Notices, t)
			}
		case typeQuota:
			return s.addCounter(found.Counted, &found.Held, it)
		case typeDeployment:
			if avS(it[attrPK]) == deploymentPK {
				found.Deployment = avS(it[attrID])
			}
		case typeSlot:
			reserved, _ := time.Parse(time.RFC3339Nano, avS(it["reservedAt"]))
			found.Legacy = append(found.Legacy, sandstep.Slot{UserID: avS(it["userId"]), SandboxID: avS(it["sandboxId"]), ReservedAt: reserved})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

// Counters scans every user's counter: what it counts, by user, and the
// slots it holds.
func (s *Store) Counters(ctx context.Context) (map[string]int, []sandstep.Slot, error) {
	counted := map[string]int{}
	var held []sandstep.Slot
	err := s.scan(ctx, ofType(typeQuota), "quota counters", func(it map[string]types.AttributeValue) error {
		return s.addCounter(counted, &held, it)
	})
	return counted, held, err
}

// addCounter adds a scanned counter item to counted and its slots to held.
func (s *Store) addCounter(counted map[string]int, held *[]sandstep.Slot, it map[string]types.AttributeValue) error {
	u, ok := strings.CutPrefix(avS(it[attrPK]), prefixUser)
	if !ok {
		return nil
	}
	q, slots, err := s.parseQuota(u, it)
	if err != nil {
		return err
	}
	counted[u] = q.Active
	*held = append(*held, slots...)
	return nil
}

// legacyHeld matches the slot items of the earlier layout
// (USER#<u>/SLOT#<sandbox>) that still hold their slot.
func legacyHeld() expression.ConditionBuilder {
	return inValues(attrSlotState, []string{slotReserved, slotCommitted})
}

// FoldLegacySlots moves slots still held as items of the earlier layout
// (LiveRecords' Legacy) onto their owner's counter, which counts them
// already, and reports how many it moved. Each move is one transaction,
// so a slot is held in exactly one place at any time; a slot released or
// moved since the scan is left alone. It reads nothing itself: the
// reaper's one scan of the table finds them, where a scan of its own read
// the whole table a second time on every run.
func (s *Store) FoldLegacySlots(ctx context.Context, slots []sandstep.Slot) (int, error) {
	moved := 0
	for _, l := range slots {
		if err := s.makeHeldMap(ctx, l.UserID); err != nil {
			return moved, err
		}
		release := build(expression.NewBuilder().
			WithCondition(legacyHeld()).
			WithUpdate(expression.Set(expression.Name(attrSlotState), expression.Value(slotReleased)).
				Set(expression.Name(TTLAttribute), expression.Value(s.nowUTC().Add(24*time.Hour).Unix()))))
		hold := build(expression.NewBuilder().
			WithCondition(heldName(l.SandboxID).AttributeNotExists()).
			WithUpdate(expression.Set(heldName(l.SandboxID), expression.Value(l.ReservedAt.UnixMilli())).
				Add(expression.Name(attrRev), expression.Value(1))))
		werr := s.write(ctx, s.update(key(userPK(l.UserID), prefixSlot+l.SandboxID), release), s.update(s.quotaKey(l.UserID), hold))
		switch {
		case werr == nil:
			moved++
		case conditionFailed(werr, 0), conditionFailed(werr, 1): // released or moved meanwhile
		default:
			return moved, mapErr(werr, "fold a legacy quota slot")
		}
	}
	return moved, nil
}

// RepairQuota sets the user's counter to the number of slots they hold
// when the two differ, and reports both. A reservation or release that
// lands between the read and the write changes the held slots, and the
// conditional write then leaves the counter alone (the next run looks
// again). With dryRun it only reports.
func (s *Store) RepairQuota(ctx context.Context, userID string, dryRun bool) (counted, held int, err error) {
	out, err := s.db.GetItem(ctx, &dynamo.GetItemInput{
		TableName: aws.String(s.table), Key: s.quotaKey(userID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, 0, mapErr(err, "read quota")
	}
	q, slots, err := s.parseQuota(userID, out.Item)
	n := len(slots)
	if err != nil || n == q.Active || dryRun {
		return q.Active, n, err
	}
	rev, hasRev, err := numberAttr(out.Item, attrRev)
	if err != nil {
		return 0, 0, err
	}
	same := expression.Name(attrRev).AttributeNotExists()
	if hasRev {
		same = expression.Name(attrRev).Equal(expression.Value(rev))
	}
	fix := build(expression.NewBuilder().
		WithCondition(same.And(expression.Name(attrActive).Equal(expression.Value(q.Active)))).
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

func avS(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}
