package store

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/dynamo"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The reaper's reads. A run judges what LiveIndex holds, which is only
// what is live, and then sweeps a share of the whole table, strongly
// consistent, to put into the index what it finds missing there. A scan
// of the table reads every item, the audit trail's too, whatever its
// filter keeps, so its pages are DynamoDB's largest (1 MB, about 4,000
// audit events), and a sweep goes on where the last run's share ended.

// sweepEvery is how long after a sweep of the table ended the next one
// begins. The index is eventually consistent and holds only items written
// with their index key: not those written before the index existed, nor by
// an earlier version of the functions still running during an update. A
// sweep finds those; once a day keeps its cost (it grows with the
// history) a 288th of scanning the table at every 5-minute run.
const sweepEvery = 24 * time.Hour

// sweepPages and sweepWrites bound one run's share of a sweep: the pages
// of the table it reads (at most about 100 MB) and the items it writes
// back with their index key (one at a time, a few ms each), so that a table
// of any size, and the first sweep after the index was added, when every
// live item lacks its key, are swept within the reaper's timeout, over as
// many runs as it takes.
const (
	sweepPages  = 100
	sweepWrites = 1000
)

// The sweep item (SWEEP/META): when the last sweep ended, and where the
// one under way goes on.
const (
	sweepPK      = "SWEEP"
	typeSweep    = "sweep"
	attrSweptAt  = "sweptAt"
	attrCursorPK = "cursorPK"
	attrCursorSK = "cursorSK"
)

// scanIndex calls each for every item of LiveIndex matching filter, page
// by page (an index read is eventually consistent).
func (s *Store) scanIndex(ctx context.Context, filter expression.ConditionBuilder, each func(map[string]types.AttributeValue) error) error {
	expr := build(expression.NewBuilder().WithFilter(filter))
	in := &dynamo.ScanInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(LiveIndex),
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	}
	for {
		page, err := s.db.Scan(ctx, in)
		if err != nil {
			return mapErr(err, "scan the live index")
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

// liveFilter matches what the reaper reads: the items written with their
// LiveIndex key (sandboxItem, taskItem, the counters and the deployment
// item), and the earlier layout's held slots, which only a sweep finds.
func liveFilter() expression.ConditionBuilder {
	live := stringsOf([]sandstep.TaskStatus{sandstep.TaskQueued, sandstep.TaskRunning})
	ended := stringsOf([]sandstep.TaskStatus{sandstep.TaskSucceeded, sandstep.TaskFailed, sandstep.TaskTimedOut, sandstep.TaskCancelled})
	return ofType(typeSandbox).And(inValues(attrState,
		stringsOf([]sandstep.State{sandstep.StateCreating, sandstep.StateReady, sandstep.StateDeleting}))).
		Or(ofType(typeTask).And(inValues("status", live)),
			ofType(typeTask).And(inValues("notify.status", []string{string(sandstep.NoticePending)})).And(inValues("status", ended)),
			ofType(typeQuota),
			ofType(typeDeployment),
			ofType(typeSlot).And(legacyHeld()))
}

// LiveRecords reads what the reaper matches and finishes: every owner's
// sandbox records not in a terminal state, the tasks that have not ended,
// the ended tasks whose completion notice is still pending (which the
// reaper attempts again), every user's counter with the slots it holds,
// and the deployment's id. It scans LiveIndex: eventually consistent, and
// without what Sweep has not yet put there.
func (s *Store) LiveRecords(ctx context.Context) (*sandstep.Live, error) {
	found := &sandstep.Live{Counted: map[string]int{}}
	// The index's own key in the filter: minidyn, the local DynamoDB,
	// keeps an item in an index after its key is gone.
	indexed := liveFilter().And(expression.Name(attrLivePK).AttributeExists())
	err := s.scanIndex(ctx, indexed, func(it map[string]types.AttributeValue) error {
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
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

// Sweep does one run's share of a sweep of the table, when one is under
// way or due (sweepEvery after the last ended, or none ever ended): it
// reads up to sweepPages pages from where the last share stopped (and
// stops after sweepWrites writes), gives the live items that lack it
// their LiveIndex key, deletes the counters idle for counterIdle, returns
// the slots still held as items of the earlier layout (for
// FoldLegacySlots), and records where it stopped, or that the sweep
// ended.
func (s *Store) Sweep(ctx context.Context) (*sandstep.Sweep, error) {
	out, err := s.db.GetItem(ctx, &dynamo.GetItemInput{
		TableName: aws.String(s.table), Key: key(sweepPK, skMeta), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, mapErr(err, "read the sweep")
	}
	sweptAt, _ := time.Parse(time.RFC3339Nano, avS(out.Item[attrSweptAt]))
	var cursor dynamo.Item
	if pk, sk := avS(out.Item[attrCursorPK]), avS(out.Item[attrCursorSK]); pk != "" {
		cursor = key(pk, sk)
	} else if !sweptAt.IsZero() && s.nowUTC().Sub(sweptAt) < sweepEvery {
		return &sandstep.Sweep{}, nil
	}
	expr := build(expression.NewBuilder().WithFilter(liveFilter()))
	in := &dynamo.ScanInput{
		TableName:                 aws.String(s.table),
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ConsistentRead:            aws.Bool(true),
		ExclusiveStartKey:         cursor,
	}
	sw := &sandstep.Sweep{}
	writes := 0
pages:
	for sw.Pages < sweepPages && !sw.Done {
		page, err := s.db.Scan(ctx, in)
		if err != nil {
			return nil, mapErr(err, "sweep the table")
		}
		sw.Pages++
		for _, it := range page.Items {
			if avS(it[attrType]) == typeSlot {
				sw.Legacy = append(sw.Legacy, legacySlot(it))
				continue
			}
			switch {
			case markedLive(it) && s.idleCounter(it):
				writes++
				if err := s.forgetCounter(ctx, it); err != nil {
					return nil, err // the next run's share reads these pages again
				}
			case markedLive(it):
				continue
			default:
				writes++
				switch indexed, err := s.index(ctx, it); {
				case refusedForGood(err):
					sw.Failed++ // not this item for ever: the next sweep tries again
				case err != nil:
					return nil, err // the next run's share reads these pages again
				case indexed:
					sw.Indexed++
				}
			}
			if writes == sweepWrites {
				// The next share goes on after this item.
				in.ExclusiveStartKey = dynamo.Item{attrPK: it[attrPK], attrSK: it[attrSK]}
				break pages
			}
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
		sw.Done = len(page.LastEvaluatedKey) == 0
	}
	rec := key(sweepPK, skMeta)
	rec[attrType] = str(typeSweep)
	if sw.Done {
		sweptAt = s.nowUTC()
	} else {
		rec[attrCursorPK], rec[attrCursorSK] = in.ExclusiveStartKey[attrPK], in.ExclusiveStartKey[attrSK]
	}
	if !sweptAt.IsZero() {
		rec[attrSweptAt] = str(sweptAt.Format(time.RFC3339Nano))
	}
	if err := s.write(ctx, s.put(rec, expression.Expression{})); err != nil {
		return nil, mapErr(err, "record the sweep")
	}
	return sw, nil
}

// index gives a live item its LiveIndex key: it writes back the item as
// read, with the key, unless the item changed since (its writer then gave
// it the key, or the next sweep looks again), and reports whether it did.
// A put, not an update: see newCounter.
func (s *Store) index(ctx context.Context, it map[string]types.AttributeValue) (bool, error) {
	item := maps.Clone(it)
	markLive(item)
	err := s.write(ctx, s.put(item, build(expression.NewBuilder().WithCondition(unchanged(it)))))
	if conditionFailed(err, 0) {
		return false, nil
	}
	return err == nil, mapErr(err, "add an item to the live index")
}

// unchanged is the condition that the item is still it as read.
func unchanged(it map[string]types.AttributeValue) expression.ConditionBuilder {
	var same []string // scalars that every write of such an item changes
	unchanged := expression.Name(attrPK).AttributeExists()
	switch avS(it[attrType]) {
	case typeSandbox, typeTask:
		same = []string{attrVersion}
	case typeQuota:
		// rev counts the held map's changes; the map itself is compared
		// by whether it is there (makeHeldMap adds it without a rev).
		same = []string{attrRev, attrActive, attrLimit, attrUpdatedAt}
		if _, ok := it[attrHeld]; ok {
			unchanged = unchanged.And(expression.Name(attrHeld).AttributeExists())
		} else {
			unchanged = unchanged.And(expression.Name(attrHeld).AttributeNotExists())
		}
	default:
		same = []string{attrID}
	}
	for _, a := range same {
		if v, ok := it[a]; ok {
			unchanged = unchanged.And(expression.Name(a).Equal(expression.Value(v)))
		} else {
			unchanged = unchanged.And(expression.Name(a).AttributeNotExists())
		}
	}
	return unchanged
}

// counterIdle is how long a counter holds nothing, with no limit of its
// own, before a sweep deletes it: the reaper reads every counter in Live
// each run, so Live then holds the counters of the last day or two's
// users, not of every user ever. Its next take makes it again, as a
// user's first take does (two round trips more, once a day at most).
const counterIdle = 24 * time.Hour

// idleCounter says whether it is a counter a sweep deletes: none held
// (nor a count drifted, which the reaper repairs), no limit of its own,
// unchanged for counterIdle.
func (s *Store) idleCounter(it map[string]types.AttributeValue) bool {
	if avS(it[attrType]) != typeQuota || avS(it[attrSK]) != skQuota {
		return false
	}
	active, ok, err := numberAttr(it, attrActive)
	held, _ := it[attrHeld].(*types.AttributeValueMemberM)
	if err != nil || !ok || active != 0 || held == nil || len(held.Value) != 1 || held.Value[heldSentinel] == nil {
		return false
	}
	if _, set := it[attrLimit]; set && !cleared(it) {
		return false
	}
	at, err := time.Parse(time.RFC3339Nano, avS(it[attrUpdatedAt]))
	return err == nil && s.nowUTC().Sub(at) >= counterIdle
}

// forgetCounter deletes an idle counter unless it changed since it was
// read (a take, a limit set meanwhile).
func (s *Store) forgetCounter(ctx context.Context, it map[string]types.AttributeValue) error {
	k := key(avS(it[attrPK]), avS(it[attrSK]))
	err := s.write(ctx, s.remove(k, build(expression.NewBuilder().WithCondition(unchanged(it)))))
	if conditionFailed(err, 0) {
		return nil
	}
	return mapErr(err, "delete an idle quota counter")
}

// legacySlot reads a slot item of the earlier layout.
func legacySlot(it map[string]types.AttributeValue) sandstep.Slot {
	reserved, _ := time.Parse(time.RFC3339Nano, avS(it["reservedAt"]))
	return sandstep.Slot{UserID: avS(it["userId"]), SandboxID: avS(it["sandboxId"]), ReservedAt: reserved}
}

// Counter reads the user's counter, strongly consistent: what it counts,
// the slots it holds, and the user's slots still held as items of the
// earlier layout.
func (s *Store) Counter(ctx context.Context, userID string) (int, []sandstep.Slot, []sandstep.Slot, error) {
	if err := validateID("userId", userID); err != nil {
		return 0, nil, nil, err
	}
	item, legacy, err := s.counterItems(ctx, userID)
	if err != nil {
		return 0, nil, nil, err
	}
	q, held, err := s.parseQuota(userID, item)
	if err != nil {
		return 0, nil, nil, err
	}
	return q.Active, held, legacy, nil
}

// counterItems reads, strongly consistent, the user's counter item (nil
// when there is none) and the user's slots still held as items of the
// earlier layout: one query, as they share the counter's PK. The query
// starts at the counter's sort key: the administrators' audit events of
// the user (EVT#…, never expiring) sort before it and are not read. What
// it reads is sorted here: a filter expression would cost the same reads.
func (s *Store) counterItems(ctx context.Context, userID string) (map[string]types.AttributeValue, []sandstep.Slot, error) {
	expr := build(expression.NewBuilder().
		WithKeyCondition(expression.Key(attrPK).Equal(expression.Value(userPK(userID))).
			And(expression.Key(attrSK).GreaterThanEqual(expression.Value(skQuota)))))
	in := &dynamo.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    expr.KeyCondition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ConsistentRead:            aws.Bool(true),
	}
	var counter map[string]types.AttributeValue
	var legacy []sandstep.Slot
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, nil, mapErr(err, "read quota")
		}
		for _, it := range page.Items {
			switch {
			case avS(it[attrType]) == typeSlot:
				if slices.Contains(heldStates, avS(it[attrSlotState])) {
					legacy = append(legacy, legacySlot(it))
				}
			case avS(it[attrSK]) == skQuota:
				counter = it
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return counter, legacy, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
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

// heldStates are the states of a slot item of the earlier layout
// (USER#<u>/SLOT#<sandbox>) that still holds its slot.
var heldStates = []string{slotReserved, slotCommitted}

// legacyHeld matches the slot items of the earlier layout that still hold
// their slot.
func legacyHeld() expression.ConditionBuilder {
	return inValues(attrSlotState, heldStates)
}

// FoldLegacySlots moves slots still held as items of the earlier layout
// (Sweep's Legacy) onto their owner's counter, which counts them already,
// and reports how many it moved. Each move is one transaction, so a slot
// is held in exactly one place at any time; a slot released or moved since
// the sweep read it is left alone.
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
// when the two differ, and reports both. A slot still held as an item of
// the earlier layout is held (its create counted it), as the reaper's
// stray check takes it. A reservation or release that lands between the
// read and the write changes the counter, and the conditional write then
// leaves it alone (the next run looks again). With dryRun it only reports.
func (s *Store) RepairQuota(ctx context.Context, userID string, dryRun bool) (counted, held int, err error) {
	item, legacy, err := s.counterItems(ctx, userID)
	if err != nil {
		return 0, 0, err
	}
	q, slots, err := s.parseQuota(userID, item)
	n := len(slots) + len(legacy)
	if err != nil || n == q.Active || dryRun {
		return q.Active, n, err
	}
	rev, hasRev, err := numberAttr(item, attrRev)
	if err != nil {
		return 0, 0, err
	}
	same := expression.Name(attrRev).AttributeNotExists()
	if hasRev {
		same = expression.Name(attrRev).Equal(expression.Value(rev))
	}
	// A counter made by a fold counts nothing yet (no active): one whose
	// idle predecessor a sweep deleted under a held slot of the earlier
	// layout. Its absence is its value, as rev's; but an update must not
	// make a counter there is none of (see newCounter).
	counts := expression.Name(attrPK).AttributeExists().And(expression.Name(attrActive).AttributeNotExists())
	if _, hasActive, _ := numberAttr(item, attrActive); hasActive {
		counts = expression.Name(attrActive).Equal(expression.Value(q.Active))
	}
	fix := build(expression.NewBuilder().
		WithCondition(same.And(counts)).
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
