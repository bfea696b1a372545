package store

import (
	"context"
	"maps"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/dynamo"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The reaper's reads. A run reads LiveIndex, which holds only what is
// live; once every sweepEvery it scans the whole table instead, strongly
// consistent, and puts into the index what it finds missing there. A scan
// reads every item, the audit trail's too, whatever its filter keeps, so
// its pages are DynamoDB's largest (1 MB, about 4,000 audit events): a
// bound on items per page would multiply the round trips of a sweep that
// must finish within the reaper's timeout.

// sweepEvery is how often the reaper scans the whole table rather than
// reading LiveIndex. An index read is eventually consistent and sees only
// items written with their index key: not those written before the index
// existed, nor by an earlier version of the functions still running
// during an update. A sweep finds those; once a day keeps its cost (it
// grows with the history) a 288th of scanning at every run.
const sweepEvery = 24 * time.Hour

// The sweep item (SWEEP/META) records when the last sweep ended.
const (
	sweepPK     = "SWEEP"
	typeSweep   = "sweep"
	attrSweptAt = "sweptAt"
)

// scan calls each for every item matching filter, page by page: of the
// table, strongly consistent, or (index not "") of that index.
func (s *Store) scan(ctx context.Context, index string, filter expression.ConditionBuilder, what string, each func(map[string]types.AttributeValue) error) error {
	expr := build(expression.NewBuilder().WithFilter(filter))
	in := &dynamo.ScanInput{
		TableName:                 aws.String(s.table),
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ConsistentRead:            aws.Bool(true),
	}
	if index != "" {
		in.IndexName, in.ConsistentRead = aws.String(index), nil
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

// liveFilter matches what the reaper reads; the items it matches are the
// ones written with their LiveIndex key (sandboxItem, taskItem, the
// counters, the deployment and sweep items), and the earlier layout's
// held slots, which only a sweep reads.
func liveFilter() expression.ConditionBuilder {
	live := stringsOf([]sandstep.TaskStatus{sandstep.TaskQueued, sandstep.TaskRunning})
	ended := stringsOf([]sandstep.TaskStatus{sandstep.TaskSucceeded, sandstep.TaskFailed, sandstep.TaskTimedOut, sandstep.TaskCancelled})
	return ofType(typeSandbox).And(inValues(attrState,
		stringsOf([]sandstep.State{sandstep.StateCreating, sandstep.StateReady, sandstep.StateDeleting}))).
		Or(ofType(typeTask).And(inValues("status", live)),
			ofType(typeTask).And(inValues("notify.status", []string{string(sandstep.NoticePending)})).And(inValues("status", ended)),
			ofType(typeQuota),
			ofType(typeDeployment),
			ofType(typeSweep),
			ofType(typeSlot).And(legacyHeld()))
}

// LiveRecords reads what the reaper matches and finishes: every owner's
// sandbox records not in a terminal state, the tasks that have not ended,
// the ended tasks whose completion notice is still pending (which the
// reaper attempts again), every user's counter with the slots it holds,
// the deployment's id, and the slots still held as items of the earlier
// layout (Legacy, for FoldLegacySlots; only a sweep finds them). It reads
// LiveIndex, or sweeps the table when the last sweep is sweepEvery old or
// none is recorded (Live.Swept); unless dryRun, a sweep adds to the index
// what it found missing there and records itself.
func (s *Store) LiveRecords(ctx context.Context, dryRun bool) (*sandstep.Live, error) {
	found := &sandstep.Live{Counted: map[string]int{}}
	var sweptAt time.Time
	// The index's own filter: minidyn, the local DynamoDB, keeps an item
	// in an index after its key is gone.
	indexed := liveFilter().And(expression.Name(attrLivePK).AttributeExists())
	err := s.scan(ctx, LiveIndex, indexed, "the live index", func(it map[string]types.AttributeValue) error {
		if avS(it[attrType]) == typeSweep {
			sweptAt, _ = time.Parse(time.RFC3339Nano, avS(it[attrSweptAt]))
			return nil
		}
		return s.addLive(found, it)
	})
	if err != nil {
		return nil, err
	}
	if !sweptAt.IsZero() && s.nowUTC().Sub(sweptAt) < sweepEvery {
		return found, nil
	}
	found = &sandstep.Live{Counted: map[string]int{}, Swept: true}
	var missing []map[string]types.AttributeValue
	err = s.scan(ctx, "", liveFilter(), "live records", func(it map[string]types.AttributeValue) error {
		switch avS(it[attrType]) {
		case typeSweep:
			return nil
		case typeSandbox, typeTask, typeQuota, typeDeployment:
			if avS(it[attrLivePK]) != liveShard(avS(it[attrPK])) {
				missing = append(missing, it)
			}
		}
		return s.addLive(found, it)
	})
	if err != nil {
		return nil, err
	}
	if dryRun {
		return found, nil
	}
	for _, it := range missing {
		if err := s.index(ctx, it); err != nil {
			return nil, err
		}
	}
	sweep := key(sweepPK, skMeta)
	sweep[attrType], sweep[attrLivePK] = str(typeSweep), str(liveShard(sweepPK))
	sweep[attrSweptAt] = str(s.nowUTC().Format(time.RFC3339Nano))
	if err := s.write(ctx, s.put(sweep, expression.Expression{})); err != nil {
		return nil, mapErr(err, "record the sweep")
	}
	return found, nil
}

// index gives a live item its LiveIndex key: it writes back the item as
// read, with the key, unless the item changed since (its writer then gave
// it the key, or the next sweep looks again). A put, not an update: see
// newCounter.
func (s *Store) index(ctx context.Context, it map[string]types.AttributeValue) error {
	var same []string // the attributes every write of such an item changes
	switch avS(it[attrType]) {
	case typeSandbox, typeTask:
		same = []string{attrVersion}
	case typeQuota:
		same = []string{attrRev, attrActive, attrLimit, attrUpdatedAt, attrHeld}
	default:
		same = []string{attrID}
	}
	unchanged := expression.Name(attrPK).AttributeExists()
	for _, a := range same {
		if v, ok := it[a]; ok {
			unchanged = unchanged.And(expression.Name(a).Equal(expression.Value(v)))
		} else {
			unchanged = unchanged.And(expression.Name(a).AttributeNotExists())
		}
	}
	item := maps.Clone(it)
	item[attrLivePK] = str(liveShard(avS(it[attrPK])))
	err := s.write(ctx, s.put(item, build(expression.NewBuilder().WithCondition(unchanged))))
	if conditionFailed(err, 0) {
		return nil
	}
	return mapErr(err, "add an item to the live index")
}

// addLive adds an item LiveRecords read to found.
func (s *Store) addLive(found *sandstep.Live, it map[string]types.AttributeValue) error {
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
		if !t.Status.Terminal() {
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
}

// Counter reads the user's counter, strongly consistent: what it counts
// and the slots it holds.
func (s *Store) Counter(ctx context.Context, userID string) (int, []sandstep.Slot, error) {
	if err := validateID("userId", userID); err != nil {
		return 0, nil, err
	}
	out, err := s.db.GetItem(ctx, &dynamo.GetItemInput{
		TableName: aws.String(s.table), Key: s.quotaKey(userID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, nil, mapErr(err, "read quota")
	}
	q, slots, err := s.parseQuota(userID, out.Item)
	return q.Active, slots, err
}

// Counters scans every user's counter: what it counts, by user, and the
// slots it holds.
func (s *Store) Counters(ctx context.Context) (map[string]int, []sandstep.Slot, error) {
	counted := map[string]int{}
	var held []sandstep.Slot
	err := s.scan(ctx, "", ofType(typeQuota), "quota counters", func(it map[string]types.AttributeValue) error {
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
