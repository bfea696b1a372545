package store

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/dynamo"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Quota items: the counter USER#<u>/QUOTA holds "active" (slots held),
// "held" (a map from each held sandbox id to when its slot was reserved,
// Unix milliseconds), "rev" (counts the changes of the held slots) and,
// optionally, "limit" (the per-user override). Reserving and releasing
// change this one item, so a create's reservation is one conditional write,
// and a reservation whose create never finished is found by its age.
// Slot items USER#<u>/SLOT#<sandbox> are an earlier layout: FoldLegacySlots
// moves the ones still held onto the counter.
const (
	attrActive    = "active"
	attrHeld      = "held"
	attrRev       = "rev"
	attrLimit     = "limit"
	attrSlotState = "state"
	attrUpdatedAt = "updatedAt"

	slotReserved  = "reserved"
	slotCommitted = "committed"
	slotReleased  = "released"

	// MaxUserLimit is the largest per-user override SetUserLimit accepts:
	// its held slots must fit in one item (400 KB; an entry takes about
	// 40 bytes).
	MaxUserLimit = 5000
)

// limitOf is userID's limit when it has no override: the one home of the
// rule that a repository's user has a quota of its own.
func (s *Store) limitOf(userID string) int {
	if _, repo := sandstep.RepoOf(userID); repo && s.repoQuota > 0 {
		return s.repoQuota
	}
	return s.defaultQuota
}

func (s *Store) quotaKey(userID string) map[string]types.AttributeValue {
	return key(userPK(userID), skQuota)
}

// heldName is the held map's entry for sandboxID (never split on dots).
func heldName(sandboxID string) expression.NameBuilder {
	return expression.Name(attrHeld).AppendName(expression.NameNoDotSplit(sandboxID))
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: pk},
		attrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// ReserveSlot takes one of the owner's quota slots for sb before the
// sandbox is created: one conditional write of the owner's counter, which
// keeps the slot with its time, for the reaper to find if the create never
// finishes. It fails with EQUOTA when the owner already holds as many
// slots as their limit (the per-user override, else Options.RepoQuota for
// a repository, else Options.DefaultQuota). Reserving a slot the owner
// already holds for sb is a successful no-op. With a create rate
// (Options.CreateRate), one create of the current window is taken beside
// it, concurrently, and given back if the slot is refused (in a window this
// Store has seen refuse a create, after the slot; see retakeCreates); a
// spent window is ETRANSIENT wrapping sandstep.ErrCreateRate, with no slot
// held but one sb held before.
//
// The record is not written here: RecordCreating does that, beside the
// provider's create.
func (s *Store) ReserveSlot(ctx context.Context, sb *sandstep.Sandbox) error {
	if sb == nil {
		return sandstep.Invalid("sandbox", "must not be nil")
	}
	if err := validateID("userId", sb.Owner); err != nil {
		return err
	}
	if err := validateID("sandboxId", sb.ID); err != nil {
		return err
	}
	if s.createRate == 0 {
		_, err := s.takeSlot(ctx, sb.Owner, sb.ID)
		return err
	}
	windows := s.createWindowsAt(s.nowUTC())
	if s.seenSpent(windows) {
		// Near the rate: the slot first, so that a reservation refused it
		// holds no create even for a moment.
		start, mark := time.Now(), s.holdMark()
		refused, err := s.reserveSlotFirst(ctx, sb, windows)
		if refused >= 0 && s.passingHold(mark) {
			return s.retakeCreates(ctx, sb, windows[refused], time.Since(start))
		}
		if refused >= 0 {
			return s.rateSpent(windows[refused])
		}
		return err
	}
	start := time.Now()
	rate := make(chan error, 1)
	s.holdsBegun.Add(1)
	s.holding.Add(1)
	go func() { rate <- s.takeCreates(ctx, windows) }()
	heldAlready, slotErr := s.takeSlot(ctx, sb.Owner, sb.ID)
	rateErr := <-rate
	refused := s.refusedWindow(rateErr, windows)
	if rateErr == nil && slotErr != nil {
		s.giveCreatesBack(ctx, windows)
	}
	s.holding.Add(-1)
	switch {
	case rateErr == nil && slotErr != nil:
		return slotErr
	case rateErr == nil:
		return nil
	case slotErr == nil:
		// A slot held before this call (a create asking again for the
		// rate) stays held: given back, another create could take it.
		if !heldAlready {
			if _, err := s.ReleaseSlot(ctx, sb.Owner, sb.ID); err != nil {
				return err
			}
		}
		if refused >= 0 {
			return s.retakeCreates(ctx, sb, windows[refused], time.Since(start))
		}
	default:
		// The slot refused, or its outcome unknown: that is the answer,
		// so that a caller gives back what may be held (a refusal for
		// the rate would say nothing is).
		return slotErr
	}
	if refused >= 0 {
		return s.rateSpent(windows[refused])
	}
	return mapErr(rateErr, "take a create of the rate")
}

// takeSlot adds sandboxID to the user's held slots on condition that they
// hold fewer than their limit; heldAlready: the slot was sandboxID's before.
func (s *Store) takeSlot(ctx context.Context, userID, sandboxID string) (heldAlready bool, err error) {
	now := s.nowUTC()
	active, limit := expression.Name(attrActive), expression.Name(attrLimit)
	underLimit := expression.Or(
		// A new counter (or one created by SetUserLimit): nothing held yet.
		expression.And(active.AttributeNotExists(),
			expression.Or(noOverride(), limit.GreaterThan(expression.Value(0)))),
		expression.And(noOverride(), active.AttributeExists(),
			active.LessThan(expression.Value(s.limitOf(userID)))),
		expression.And(overrideSet(), active.AttributeExists(), active.LessThan(limit)),
	)
	take := s.update(s.quotaKey(userID), build(expression.NewBuilder().
		WithCondition(heldName(sandboxID).AttributeNotExists().And(underLimit)).
		WithUpdate(expression.Add(active, expression.Value(1)).
			Add(expression.Name(attrRev), expression.Value(1)).
			Set(heldName(sandboxID), expression.Value(now.UnixMilli())).
			Set(expression.Name(attrType), expression.Value(typeQuota)).
			Set(expression.Name(attrUpdatedAt), expression.Value(now.Format(time.RFC3339Nano))))))
	err = s.write(ctx, take)
	if isValidation(err) {
		// A counter without the map yet (a user's first reservation, or a
		// counter of the earlier layout): make it, then take the slot.
		if err = s.makeHeldMap(ctx, userID); err == nil {
			err = s.write(ctx, take)
		}
	}
	switch {
	case err == nil:
		return false, nil
	case conditionFailed(err, 0):
		q, held, qerr := s.quotaIn(ctx, userID, failedImage(err, 0))
		if qerr != nil {
			return false, sandstep.Wrap(err, sandstep.EQUOTA, "sandbox limit reached")
		}
		if at, ok := held[sandboxID]; ok {
			// A repeated reservation; or this one, its answer lost and
			// the write tried again: then the slot bears this take's time.
			return at.UnixMilli() != now.UnixMilli(), nil
		}
		return false, sandstep.Wrap(err, sandstep.EQUOTA, "sandbox limit reached: %d of %d in use", q.Active, q.Limit)
	}
	return false, mapErr(err, "reserve quota slot")
}

// heldSentinel is an entry the held map always has (no sandbox id has a
// '#'): the embedded DynamoDB of tests and the local stack cannot read an
// item with an empty map.
const heldSentinel = "#"

// makeHeldMap gives the user's counter a held map if it has none, making
// the counter if there is none.
func (s *Store) makeHeldMap(ctx context.Context, userID string) error {
	if made, err := s.newCounter(ctx, userID); made || err != nil {
		return err
	}
	e := build(expression.NewBuilder().WithUpdate(
		expression.Set(expression.Name(attrHeld), expression.IfNotExists(expression.Name(attrHeld), expression.Value(map[string]int{heldSentinel: 0}))).
			Set(expression.Name(attrType), expression.Value(typeQuota))))
	return mapErr(s.write(ctx, s.update(s.quotaKey(userID), e)), "make the held slots' map")
}

// newCounter writes the user's counter, holding nothing, if there is none,
// and reports whether it did. A counter gets its LiveIndex key here, by a
// put: no update gives an item its first index key, which the local
// DynamoDB (minidyn) mishandles, dropping another item from the index.
func (s *Store) newCounter(ctx context.Context, userID string) (bool, error) {
	item := s.quotaKey(userID)
	item[attrType] = str(typeQuota)
	markLive(item)
	item[attrHeld] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{heldSentinel: num(0)}}
	err := s.write(ctx, s.put(item, absent))
	if conditionFailed(err, 0) {
		return false, nil
	}
	return err == nil, mapErr(err, "make the quota counter")
}

// ReleaseSlot frees the user's slot for sandboxID, exactly once: it reports
// released == true to the one call that freed it and false (with a nil
// error) to every other call, including calls for a slot never reserved. The
// counter never goes below zero: if it is already zero or missing (drift that
// the reaper repairs), the slot is still freed and the counter is left
// alone.
func (s *Store) ReleaseSlot(ctx context.Context, userID, sandboxID string) (released bool, err error) {
	if err := validateID("userId", userID); err != nil {
		return false, err
	}
	if err := validateID("sandboxId", sandboxID); err != nil {
		return false, err
	}
	released, err = s.releaseWith(ctx, userID, sandboxID, nil, nil)
	return released, mapErr(err, "release quota slot")
}

// releaseWith frees the slot and gives it back to the counter together
// with items and audit, in one write; items come first, so their
// conditions are explained by their index. A slot not held (never
// reserved, released already) is no error: items are written without it
// and released is false. A counter that is zero or missing while the slot
// is held frees the slot alone, still conditionally, so only one caller
// frees it.
func (s *Store) releaseWith(ctx context.Context, userID, sandboxID string, items []types.TransactWriteItem, audit []sandstep.AuditEvent) (released bool, err error) {
	now := s.nowUTC().Format(time.RFC3339Nano)
	held := heldName(sandboxID).AttributeExists()
	// A fresh builder each time: an UpdateBuilder's methods change it.
	free := func() expression.UpdateBuilder {
		return expression.Remove(heldName(sandboxID)).
			Add(expression.Name(attrRev), expression.Value(1)).
			Set(expression.Name(attrUpdatedAt), expression.Value(now))
	}
	give := build(expression.NewBuilder().
		WithCondition(held.And(expression.Name(attrActive).GreaterThan(expression.Value(0)))).
		WithUpdate(free().Add(expression.Name(attrActive), expression.Value(-1))))
	items = slices.Clip(items)
	n := len(items)
	err = s.writeWithAudit(ctx, append(items, s.update(s.quotaKey(userID), give)), audit)
	if !conditionFailed(err, n) {
		return err == nil, err
	}
	_, heldNow, rerr := s.quotaIn(ctx, userID, failedImage(err, n))
	if rerr != nil {
		return false, rerr
	}
	if _, ok := heldNow[sandboxID]; !ok {
		return false, s.writeRest(ctx, items, audit)
	}
	// Held with the counter at zero: free the slot alone.
	err = s.writeWithAudit(ctx, append(items, s.update(s.quotaKey(userID),
		build(expression.NewBuilder().WithCondition(held).WithUpdate(free())))), audit)
	if conditionFailed(err, n) {
		return false, s.writeRest(ctx, items, audit)
	}
	return err == nil, err
}

// writeRest writes what is left of a release once the slot is out of it.
func (s *Store) writeRest(ctx context.Context, items []types.TransactWriteItem, audit []sandstep.AuditEvent) error {
	if len(items) == 0 && len(audit) == 0 {
		return nil
	}
	return s.writeWithAudit(ctx, items, audit)
}

// readQuota reads the user's counter (strongly consistent): the quota and
// the sandbox ids whose slots are held, with when each was reserved.
func (s *Store) readQuota(ctx context.Context, userID string) (sandstep.Quota, map[string]time.Time, error) {
	q, slots, err := s.quotaItem(ctx, userID)
	return q, heldSet(slots), err
}

// quotaIn is readQuota from image, the counter a refused write answered
// with; without one (no counter, or a write that asked for none) it reads.
func (s *Store) quotaIn(ctx context.Context, userID string, image map[string]types.AttributeValue) (sandstep.Quota, map[string]time.Time, error) {
	if image == nil {
		return s.readQuota(ctx, userID)
	}
	q, slots, err := s.parseQuota(userID, image)
	return q, heldSet(slots), err
}

// heldSet is when each held slot was reserved, by sandbox id.
func heldSet(slots []sandstep.Slot) map[string]time.Time {
	held := make(map[string]time.Time, len(slots))
	for _, sl := range slots {
		held[sl.SandboxID] = sl.ReservedAt
	}
	return held
}

// GetQuota returns the user's effective limit and the number of slots held.
func (s *Store) GetQuota(ctx context.Context, userID string) (sandstep.Quota, error) {
	if err := validateID("userId", userID); err != nil {
		return sandstep.Quota{}, err
	}
	q, _, err := s.quotaItem(ctx, userID)
	return q, err
}

// quotaItem reads the user's counter (strongly consistent) into the quota
// and the slots held.
func (s *Store) quotaItem(ctx context.Context, userID string) (sandstep.Quota, []sandstep.Slot, error) {
	out, err := s.db.GetItem(ctx, &dynamo.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            s.quotaKey(userID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return sandstep.Quota{}, nil, mapErr(err, "read quota")
	}
	return s.parseQuota(userID, out.Item)
}

// parseQuota reads a counter item.
func (s *Store) parseQuota(userID string, item map[string]types.AttributeValue) (sandstep.Quota, []sandstep.Slot, error) {
	q := sandstep.Quota{UserID: userID, Limit: s.limitOf(userID)}
	if n, ok, err := numberAttr(item, attrActive); err != nil {
		return sandstep.Quota{}, nil, err
	} else if ok {
		q.Active = int(n)
	}
	if n, ok, err := numberAttr(item, attrLimit); err != nil {
		return sandstep.Quota{}, nil, err
	} else if ok && !cleared(item) {
		q.Limit, q.LimitSet = int(n), true
	}
	m, _ := item[attrHeld].(*types.AttributeValueMemberM)
	if m == nil {
		return q, nil, nil
	}
	slots := make([]sandstep.Slot, 0, len(m.Value))
	for _, id := range slices.Sorted(maps.Keys(m.Value)) {
		if id == heldSentinel {
			continue
		}
		ms, _, err := numberAttr(m.Value, id)
		if err != nil {
			return sandstep.Quota{}, nil, err
		}
		slots = append(slots, sandstep.Slot{UserID: userID, SandboxID: id, ReservedAt: time.UnixMilli(ms).UTC()})
	}
	return q, slots, nil
}

// SetUserLimit sets the user's own limit, overriding Options.DefaultQuota. A
// limit of 0 lets the user hold no sandbox. Lowering a limit below the slots
// held frees none: new reservations fail until enough are released. The
// audit events (an administrator's record of the change) are appended in
// the same write, on condition that the override is still was's (the quota
// the caller read, which the events describe): else nothing is written and
// the error is ECONFLICT wrapping sandstep.ErrLimitChanged.
func (s *Store) SetUserLimit(ctx context.Context, userID string, was sandstep.Quota, limit int, audit ...sandstep.AuditEvent) error {
	if err := validateID("userId", userID); err != nil {
		return err
	}
	if limit < 0 || limit > MaxUserLimit {
		return sandstep.Invalid("limit", "must be between 0 and %d, got %d", MaxUserLimit, limit)
	}
	// On the counter if there is one; else one is made first (newCounter:
	// an update must not make it, see there).
	setLimit := s.update(s.quotaKey(userID), build(expression.NewBuilder().
		WithCondition(expression.Name(attrPK).AttributeExists().And(limitIs(was))).
		WithUpdate(expression.Set(expression.Name(attrLimit), expression.Value(limit)).
			Set(expression.Name(attrLimitDefault), expression.Value(notCleared)).
			Set(expression.Name(attrType), expression.Value(typeQuota)).
			Set(expression.Name(attrUpdatedAt), expression.Value(s.nowUTC().Format(time.RFC3339Nano))))))
	err := s.writeWithAudit(ctx, []types.TransactWriteItem{setLimit}, audit)
	if conditionFailed(err, 0) && !was.LimitSet {
		// No counter yet, perhaps: one is made, then the limit set on it.
		made, merr := s.newCounter(ctx, userID)
		if merr != nil {
			return merr
		}
		if made {
			err = s.writeWithAudit(ctx, []types.TransactWriteItem{setLimit}, audit)
		}
	}
	if conditionFailed(err, 0) {
		return limitChanged(userID)
	}
	return mapErr(err, "set user limit")
}

// ClearUserLimit removes the user's override; Options.DefaultQuota applies
// again. Clearing a limit that is not set changes nothing but still
// appends audit; when the limit is cleared, audit is in the same write.
// Either way the write is on condition that the override is still was's,
// as SetUserLimit's, and on nothing else: the user's own creates and
// deletes never refuse it. The limit is set to the default's value and
// marked so (attrLimitDefault), not removed: minidyn, the local stack's
// DynamoDB, ignores a top-level REMOVE.
func (s *Store) ClearUserLimit(ctx context.Context, userID string, was sandstep.Quota, audit ...sandstep.AuditEvent) error {
	if err := validateID("userId", userID); err != nil {
		return err
	}
	if !was.LimitSet {
		return s.auditNoLimit(ctx, userID, was, audit)
	}
	def := s.limitOf(userID)
	clear := s.update(s.quotaKey(userID), build(expression.NewBuilder().
		WithCondition(limitIs(was)).
		WithUpdate(expression.Set(expression.Name(attrLimit), expression.Value(def)).
			Set(expression.Name(attrLimitDefault), expression.Value(def)).
			// No LiveIndex key here: an update must not give an item its
			// first one (see newCounter); a counter a version before the
			// index wrote gets it from the sweep, as after any other write.
			Set(expression.Name(attrUpdatedAt), expression.Value(s.nowUTC().Format(time.RFC3339Nano))))))
	err := s.writeWithAudit(ctx, []types.TransactWriteItem{clear}, audit)
	if conditionFailed(err, 0) {
		return limitChanged(userID)
	}
	return mapErr(err, "clear user limit")
}

// auditNoLimit appends audit, the record of clearing a limit not set, on
// condition that the override is still was's: none.
func (s *Store) auditNoLimit(ctx context.Context, userID string, was sandstep.Quota, audit []sandstep.AuditEvent) error {
	if len(audit) == 0 {
		return nil
	}
	noLimit := s.check(s.quotaKey(userID), build(expression.NewBuilder().WithCondition(limitIs(was))))
	err := s.writeWithAudit(ctx, []types.TransactWriteItem{noLimit}, audit)
	if conditionFailed(err, 0) {
		return limitChanged(userID)
	}
	return mapErr(err, "clear user limit")
}

// limitIs is the condition that a counter's override is still was's: the
// same limit, or none when was has none (a counter not there has none).
func limitIs(was sandstep.Quota) expression.ConditionBuilder {
	if was.LimitSet {
		return expression.Name(attrLimit).Equal(expression.Value(was.Limit)).And(overrideSet())
	}
	return noOverride()
}

// attrLimitDefault marks a counter's limit as the default's, written by a
// clear: the override is gone, and the value is what a reader of a version
// before the mark (a task's step runs the version its execution started
// under, for hours) takes for the limit, the default of the clear's time.
// The mark is that value, and holds only while the limit is still it: a
// version before the mark that sets a limit (after a rollback, or while
// the alias moves) writes the limit alone, and its limit is then in force
// (a limit it sets to the very value cleared is read as the default, which
// it was). A set of this version writes notCleared, which no limit is.
const attrLimitDefault = "limitDefault"

// notCleared is the mark of a limit set, below every limit (0 and up).
const notCleared = -1

// cleared says whether a counter's limit is the default's (a clear's).
func cleared(item map[string]types.AttributeValue) bool {
	mark, okMark, err1 := numberAttr(item, attrLimitDefault)
	lim, okLimit, err2 := numberAttr(item, attrLimit)
	return err1 == nil && err2 == nil && okMark && okLimit && mark == lim
}

// noOverride is the condition that a counter has no override in force,
// and overrideSet that it has.
func noOverride() expression.ConditionBuilder {
	return expression.Or(expression.Name(attrLimit).AttributeNotExists(), expression.Name(attrLimitDefault).Equal(expression.Name(attrLimit)))
}

func overrideSet() expression.ConditionBuilder {
	mark := expression.Name(attrLimitDefault)
	return expression.And(expression.Name(attrLimit).AttributeExists(),
		expression.Or(mark.AttributeNotExists(), mark.NotEqual(expression.Name(attrLimit))))
}

// limitChanged refuses a change of userID's limit whose caller read an
// override that is no longer the one in force.
func limitChanged(userID string) error {
	return sandstep.Wrap(sandstep.ErrLimitChanged, sandstep.ECONFLICT, "the limit of user %q changed since it was read", userID)
}

// numberAttr reads a Number attribute; ok is false if it is absent.
func numberAttr(item map[string]types.AttributeValue, name string) (n int64, ok bool, err error) {
	av, present := item[name]
	if !present {
		return 0, false, nil
	}
	v, isNum := av.(*types.AttributeValueMemberN)
	if !isNum {
		return 0, false, sandstep.Errorf(sandstep.EINTERNAL, "store: attribute %q is not a number", name)
	}
	n, err = strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return 0, false, sandstep.Wrap(err, sandstep.EINTERNAL, "store: attribute %q is not an integer", name)
	}
	return n, true, nil
}
