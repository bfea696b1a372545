package store

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Quota items: the counter USER#<u>/QUOTA holds "active" (slots held) and,
// optionally, "limit" (the per-user override); a slot USER#<u>/SLOT#<sandbox>
// holds "state": reserved, then committed, then released. A released slot is
// kept as a tombstone for ReleasedSlotRetention so that a late retry cannot
// reserve the same sandbox id again after its slot was freed (which would
// leak a slot nobody releases).
const (
	attrActive      = "active"
	attrLimit       = "limit"
	attrSlotState   = "state"
	attrUpdatedAt   = "updatedAt"
	attrReservedAt  = "reservedAt"
	attrCommittedAt = "committedAt"
	attrReleasedAt  = "releasedAt"

	slotReserved  = "reserved"
	slotCommitted = "committed"
	slotReleased  = "released"

	// ReleasedSlotRetention is how long a released slot's tombstone stays
	// (then DynamoDB's TTL deletes it).
	ReleasedSlotRetention = 7 * 24 * time.Hour

	// MaxUserLimit is the largest per-user override SetUserLimit accepts.
	MaxUserLimit = 10000
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

func (s *Store) slotKey(userID, sandboxID string) map[string]types.AttributeValue {
	return key(userPK(userID), slotSK(sandboxID))
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
// sandbox is created, and writes sb's record in state creating in the same
// transaction: a process that dies before CommitSandbox leaves a record that
// names the slot, for the reaper to find. It fails with EQUOTA when the owner
// already holds as many slots as their limit (the per-user override, else
// Options.RepoQuota for a repository, else Options.DefaultQuota). Reserving a slot the owner already holds for sb is a
// successful no-op; reserving one that was already released is ECONFLICT, and
// so is a record that exists without the slot.
//
// The slot, the counter and the record change in one transaction
// conditioned on the counter being below the limit, so concurrent
// reservations never exceed it.
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
	if sb.State != sandstep.StateCreating {
		return sandstep.Invalid("state", "a reserved sandbox is %s, got %q", sandstep.StateCreating, sb.State)
	}
	if err := s.normalizeSandbox(sb); err != nil {
		return err
	}
	record, err := sandboxItem(sb, 1)
	if err != nil {
		return err
	}
	now := s.nowUTC().Format(time.RFC3339Nano)
	slot := s.slotKey(sb.Owner, sb.ID)
	slot[attrType] = str(typeSlot)
	slot["userId"] = str(sb.Owner)
	slot["sandboxId"] = str(sb.ID)
	slot[attrSlotState] = str(slotReserved)
	slot[attrReservedAt] = str(now)

	active, limit := expression.Name(attrActive), expression.Name(attrLimit)
	underLimit := expression.Or(
		// A new counter (or one created by SetUserLimit): nothing held yet.
		expression.And(active.AttributeNotExists(),
			expression.Or(limit.AttributeNotExists(), limit.GreaterThan(expression.Value(0)))),
		expression.And(limit.AttributeNotExists(), active.AttributeExists(),
			active.LessThan(expression.Value(s.limitOf(sb.Owner)))),
		expression.And(limit.AttributeExists(), active.AttributeExists(), active.LessThan(limit)),
	)
	take := build(expression.NewBuilder().WithCondition(underLimit).
		WithUpdate(expression.Add(active, expression.Value(1)).
			Set(expression.Name(attrType), expression.Value(typeQuota)).
			Set(expression.Name(attrUpdatedAt), expression.Value(now))))

	items := []types.TransactWriteItem{s.put(slot, absent), s.update(s.quotaKey(sb.Owner), take), s.put(record, absent)}
	if s.createRate > 0 {
		items = append(items, s.takeCreate())
	}
	err = s.write(ctx, items...)
	switch {
	case err == nil:
		return nil
	case conditionFailed(err, 0):
		return s.heldAlready(ctx, err, sb.Owner, sb.ID)
	case conditionFailed(err, 1):
		q, qerr := s.GetQuota(ctx, sb.Owner)
		if qerr != nil {
			return sandstep.Wrap(err, sandstep.EQUOTA, "sandbox limit reached")
		}
		return sandstep.Wrap(err, sandstep.EQUOTA, "sandbox limit reached: %d of %d in use", q.Active, q.Limit)
	case conditionFailed(err, 2):
		return sandstep.Wrap(err, sandstep.ECONFLICT, "sandbox %q already exists", sb.ID)
	case conditionFailed(err, 3):
		return s.rateSpent()
	}
	return mapErr(err, "reserve quota slot")
}

// heldAlready explains a reservation whose slot exists: held (a repeated
// reservation, no error) or released.
func (s *Store) heldAlready(ctx context.Context, condErr error, userID, sandboxID string) error {
	state, found, err := s.slotState(ctx, userID, sandboxID)
	switch {
	case err != nil:
		return err
	case found && (state == slotReserved || state == slotCommitted):
		return nil
	case found && state == slotReleased:
		return sandstep.Errorf(sandstep.ECONFLICT, "the quota slot for sandbox %q was already released", sandboxID)
	}
	return sandstep.Wrap(condErr, sandstep.ETRANSIENT, "the quota slot for sandbox %q changed during the reservation; try again", sandboxID)
}

// slotState reads a slot with a strongly consistent read.
func (s *Store) slotState(ctx context.Context, userID, sandboxID string) (state string, found bool, err error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            s.slotKey(userID, sandboxID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return "", false, mapErr(err, "read quota slot")
	}
	if out.Item == nil {
		return "", false, nil
	}
	v, _ := out.Item[attrSlotState].(*types.AttributeValueMemberS)
	if v == nil {
		return "", true, nil
	}
	return v.Value, true, nil
}

// ReleaseSlot frees the user's slot for sandboxID, exactly once: it reports
// released == true to the one call that freed it and false (with a nil
// error) to every other call, including calls for a slot never reserved. The
// counter never goes below zero: if it is already zero or missing (drift that
// the reaper repairs), the slot is still marked released and the counter is
// left alone.
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
	now := s.nowUTC()
	free := build(expression.NewBuilder().
		WithCondition(expression.Name(attrSlotState).In(expression.Value(slotReserved), expression.Value(slotCommitted))).
		WithUpdate(expression.Set(expression.Name(attrSlotState), expression.Value(slotReleased)).
			Set(expression.Name(attrReleasedAt), expression.Value(now.Format(time.RFC3339Nano))).
			Set(expression.Name(TTLAttribute), expression.Value(now.Add(ReleasedSlotRetention).Unix()))))
	give := build(expression.NewBuilder().
		WithCondition(expression.Name(attrActive).GreaterThan(expression.Value(0))).
		WithUpdate(expression.Add(expression.Name(attrActive), expression.Value(-1)).
			Set(expression.Name(attrUpdatedAt), expression.Value(now.Format(time.RFC3339Nano)))))
	items = slices.Clip(items)
	freeSlot, n := s.update(s.slotKey(userID, sandboxID), free), len(items)
	err = s.writeWithAudit(ctx, append(items, freeSlot, s.update(s.quotaKey(userID), give)), audit)
	switch {
	case conditionFailed(err, n): // not held
		return false, s.writeRest(ctx, items, audit)
	case conditionFailed(err, n+1):
		err = s.writeWithAudit(ctx, append(items, freeSlot), audit)
		if conditionFailed(err, n) {
			return false, s.writeRest(ctx, items, audit)
		}
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

// GetQuota returns the user's effective limit and the number of slots held.
func (s *Store) GetQuota(ctx context.Context, userID string) (sandstep.Quota, error) {
	if err := validateID("userId", userID); err != nil {
		return sandstep.Quota{}, err
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            s.quotaKey(userID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return sandstep.Quota{}, mapErr(err, "read quota")
	}
	q := sandstep.Quota{UserID: userID, Limit: s.limitOf(userID)}
	if n, ok, err := numberAttr(out.Item, attrActive); err != nil {
		return sandstep.Quota{}, err
	} else if ok {
		q.Active = int(n)
	}
	if n, ok, err := numberAttr(out.Item, attrLimit); err != nil {
		return sandstep.Quota{}, err
	} else if ok {
		q.Limit, q.LimitSet = int(n), true
	}
	return q, nil
}

// SetUserLimit sets the user's own limit, overriding Options.DefaultQuota. A
// limit of 0 lets the user hold no sandbox. Lowering a limit below the slots
// held frees none: new reservations fail until enough are released. The
// audit events (an administrator's record of the change) are appended in
// the same write.
func (s *Store) SetUserLimit(ctx context.Context, userID string, limit int, audit ...sandstep.AuditEvent) error {
	if err := validateID("userId", userID); err != nil {
		return err
	}
	if limit < 0 || limit > MaxUserLimit {
		return sandstep.Invalid("limit", "must be between 0 and %d, got %d", MaxUserLimit, limit)
	}
	setLimit := build(expression.NewBuilder().WithUpdate(
		expression.Set(expression.Name(attrLimit), expression.Value(limit)).
			Set(expression.Name(attrType), expression.Value(typeQuota)).
			Set(expression.Name(attrUpdatedAt), expression.Value(s.nowUTC().Format(time.RFC3339Nano)))))
	return mapErr(s.writeWithAudit(ctx, []types.TransactWriteItem{s.update(s.quotaKey(userID), setLimit)}, audit), "set user limit")
}

// ClearUserLimit removes the user's override; Options.DefaultQuota applies
// again. Clearing a limit that is not set changes nothing but still
// appends audit; when the limit is cleared, audit is in the same write.
//
// It rewrites the counter item without the override, on condition that the
// counter and limit are still the ones read (an UpdateItem REMOVE would do,
// but minidyn ignores REMOVE, and the local stack runs on minidyn).
func (s *Store) ClearUserLimit(ctx context.Context, userID string, audit ...sandstep.AuditEvent) error {
	if err := validateID("userId", userID); err != nil {
		return err
	}
	var lastErr error
	for range maxTransitionAttempts {
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(s.table),
			Key:            s.quotaKey(userID),
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return mapErr(err, "read quota")
		}
		lim, hasLimit, err := numberAttr(out.Item, attrLimit)
		if err != nil {
			return err
		}
		if !hasLimit {
			return mapErr(s.writeRest(ctx, nil, audit), "clear user limit")
		}
		active, hasActive, err := numberAttr(out.Item, attrActive)
		if err != nil {
			return err
		}
		cond := expression.Name(attrLimit).Equal(expression.Value(lim))
		if hasActive {
			cond = cond.And(expression.Name(attrActive).Equal(expression.Value(active)))
		} else {
			cond = cond.And(expression.Name(attrActive).AttributeNotExists())
		}
		item := out.Item
		delete(item, attrLimit)
		item[attrUpdatedAt] = str(s.nowUTC().Format(time.RFC3339Nano))
		err = s.writeWithAudit(ctx, []types.TransactWriteItem{s.put(item, build(expression.NewBuilder().WithCondition(cond)))}, audit)
		if err == nil {
			return nil
		}
		if !conditionFailed(err, 0) {
			return mapErr(err, "clear user limit")
		}
		lastErr = err
	}
	return sandstep.Wrap(lastErr, sandstep.ETRANSIENT, "the quota of user %q is being changed concurrently; try again", userID)
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
