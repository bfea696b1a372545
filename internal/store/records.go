package store

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/dynamo"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// maxTransitionAttempts bounds the optimistic-concurrency retries of a
// transition that keeps losing to concurrent writers.
const maxTransitionAttempts = 5

var validStates = []sandstep.State{
	sandstep.StateCreating, sandstep.StateReady, sandstep.StateDeleting,
	sandstep.StateDeleted, sandstep.StateFailed, sandstep.StateGone,
}

var validTaskStatuses = []sandstep.TaskStatus{
	sandstep.TaskQueued, sandstep.TaskRunning, sandstep.TaskSucceeded, sandstep.TaskFailed,
	sandstep.TaskTimedOut, sandstep.TaskCancelled,
}

// ---- sandboxes ----

// normalizeSandbox validates sb and fills its timestamps: CreatedAt defaults
// to now, UpdatedAt to CreatedAt; both are stored in UTC.
func (s *Store) normalizeSandbox(sb *sandstep.Sandbox) error {
	if sb == nil {
		return sandstep.Invalid("sandbox", "must not be nil")
	}
	if err := validateID("id", sb.ID); err != nil {
		return err
	}
	if err := validateID("owner", sb.Owner); err != nil {
		return err
	}
	if !slices.Contains(validStates, sb.State) {
		return sandstep.Invalid("state", "unknown sandbox state %q", sb.State)
	}
	if sb.CreatedAt.IsZero() {
		sb.CreatedAt = s.nowUTC()
	}
	sb.CreatedAt = sb.CreatedAt.UTC()
	if sb.UpdatedAt.IsZero() {
		sb.UpdatedAt = sb.CreatedAt
	}
	sb.UpdatedAt = sb.UpdatedAt.UTC()
	if sb.DeletedAt != nil {
		t := sb.DeletedAt.UTC()
		sb.DeletedAt = &t
	}
	return nil
}

// marshalRecord marshals a domain value to an item, leaving out empty maps
// (an empty Metadata): minidyn returns an empty map as a string, which then
// fails to unmarshal, and an absent attribute unmarshals to the same zero
// value.
func marshalRecord(v any, what string) (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMap(v)
	if err != nil {
		return nil, sandstep.Wrap(err, sandstep.EINTERNAL, "store: marshal %s", what)
	}
	for k, av := range item {
		if m, ok := av.(*types.AttributeValueMemberM); ok && len(m.Value) == 0 {
			delete(item, k)
		}
	}
	return item, nil
}

func sandboxItem(sb *sandstep.Sandbox, version int64) (map[string]types.AttributeValue, error) {
	item, err := marshalRecord(sb, "sandbox")
	if err != nil {
		return nil, err
	}
	item[attrPK] = str(sandboxPK(sb.ID))
	item[attrSK] = str(skMeta)
	item[attrGSI1PK] = str(ownerGSI1PK(sb.Owner, gsiKindSandbox))
	item[attrGSI1SK] = str(createdGSI1SK(sb.CreatedAt, sb.ID))
	item[attrType] = str(typeSandbox)
	item[attrVersion] = num(version)
	if !sb.State.Terminal() {
		markLive(item)
	}
	if err := checkItemSize(item); err != nil {
		return nil, err
	}
	return item, nil
}

// RecordCreating writes sb's record in state creating, with audit in the
// same write; the service writes it beside the provider's create, after
// ReserveSlot. ECONFLICT if a record with sb's id exists.
func (s *Store) RecordCreating(ctx context.Context, sb *sandstep.Sandbox, audit ...sandstep.AuditEvent) error {
	if sb == nil {
		return sandstep.Invalid("sandbox", "must not be nil")
	}
	if sb.State != sandstep.StateCreating {
		return sandstep.Invalid("state", "a new record is %s, got %q", sandstep.StateCreating, sb.State)
	}
	if err := s.normalizeSandbox(sb); err != nil {
		return err
	}
	item, err := sandboxItem(sb, 1)
	if err != nil {
		return err
	}
	err = s.writeWithAudit(ctx, []types.TransactWriteItem{s.put(item, absent)}, audit)
	if conditionFailed(err, 0) {
		return sandstep.Wrap(err, sandstep.ECONFLICT, "sandbox %q already exists", sb.ID)
	}
	return mapErr(err, "record sandbox")
}

// CommitSandbox records that the sandbox RecordCreating wrote in state
// creating now exists: it writes sb in state ready (DaytonaID,
// ProviderState and the rest as the caller set them) and appends audit,
// in one write. It fails with ECONFLICT if the record is no longer the one
// RecordCreating wrote (committed already, or moved on by a cleanup).
func (s *Store) CommitSandbox(ctx context.Context, sb *sandstep.Sandbox, audit ...sandstep.AuditEvent) error {
	if sb != nil {
		sb.State = sandstep.StateReady
		sb.UpdatedAt = s.nowUTC()
	}
	if err := s.normalizeSandbox(sb); err != nil {
		return err
	}
	item, err := sandboxItem(sb, 2)
	if err != nil {
		return err
	}
	// Only RecordCreating writes a creating record, at version 1: this
	// put replaces only the same call's write, so it keeps nothing
	// (transition keeps what another version wrote).
	stillCreating := build(expression.NewBuilder().WithCondition(expression.And(
		expression.Name(attrState).Equal(expression.Value(sandstep.StateCreating)),
		expression.Name(attrVersion).Equal(expression.Value(1)),
		expression.Name("owner").Equal(expression.Value(sb.Owner)))))
	err = s.writeWithAudit(ctx, []types.TransactWriteItem{s.put(item, stillCreating)}, audit)
	if conditionFailed(err, 0) {
		return sandstep.Wrap(err, sandstep.ECONFLICT, "sandbox %q is not being created", sb.ID)
	}
	return mapErr(err, "commit sandbox")
}

// putNew writes a record that must not exist yet.
func (s *Store) putNew(ctx context.Context, item map[string]types.AttributeValue, what, id string) error {
	err := s.write(ctx, s.put(item, absent))
	if conditionFailed(err, 0) {
		return sandstep.Wrap(err, sandstep.ECONFLICT, "%s %q already exists", what, id)
	}
	return mapErr(err, "put "+what)
}

// GetSandbox returns the sandbox record with id (strongly consistent), or
// ENOTFOUND. It does not check ownership: callers compare Owner.
func (s *Store) GetSandbox(ctx context.Context, id string) (*sandstep.Sandbox, error) {
	sb, _, err := getRecord[sandstep.Sandbox](ctx, s, "id", id, sandboxPK, "sandbox")
	return sb, err
}

// TransitionSandbox moves the sandbox from one of the states in from to the
// state to, after letting update change other fields (Error, ProviderState,
// DaytonaID, DeletedAt...). It sets UpdatedAt. ID, Owner and CreatedAt cannot
// be changed, and State is always to. It fails with ENOTFOUND if there is no
// such sandbox and ECONFLICT if its state is not in from. The write is
// conditioned on the record being unchanged since it was read; update may be
// called more than once if concurrent writers interfere, so it must only set
// fields.
func (s *Store) TransitionSandbox(ctx context.Context, id string, from []sandstep.State, to sandstep.State, update func(*sandstep.Sandbox)) (*sandstep.Sandbox, error) {
	if !slices.Contains(validStates, to) {
		return nil, sandstep.Invalid("state", "unknown sandbox state %q", to)
	}
	if len(from) == 0 {
		return nil, sandstep.Invalid("from", "must name at least one state")
	}
	return transition(ctx, s, "id", id, sandboxPK, "sandbox",
		func(cur *sandstep.Sandbox) (map[string]types.AttributeValue, *sandstep.Sandbox, []types.TransactWriteItem, error) {
			if !slices.Contains(from, cur.State) {
				return nil, nil, nil, sandstep.Errorf(sandstep.ECONFLICT, "sandbox %q is %s, not %s", id, cur.State, joinStates(from))
			}
			next := *cur
			if update != nil {
				update(&next)
			}
			next.ID, next.Owner, next.CreatedAt = cur.ID, cur.Owner, cur.CreatedAt
			next.State = to
			next.UpdatedAt = s.nowUTC()
			if next.DeletedAt != nil {
				t := next.DeletedAt.UTC()
				next.DeletedAt = &t
			}
			item, err := sandboxItem(&next, 0)
			return item, &next, nil, err
		})
}

func joinStates[T ~string](states []T) string {
	if len(states) == 1 {
		return string(states[0])
	}
	return "one of " + strings.Join(stringsOf(states), ", ")
}

// ListSandboxes returns the owner's sandboxes in one of states (every
// state when none is given), newest first, limit at a time (at least 1;
// the service bounds it), and the cursor of the next page ("" at the end).
// A cursor that this store did not return for the same owner's list is
// EINVALID with field "cursor". The list is read from GSI1 and is
// eventually consistent.
func (s *Store) ListSandboxes(ctx context.Context, owner string, limit int, cursor string, states ...sandstep.State) ([]*sandstep.Sandbox, string, error) {
	return listOwned[sandstep.Sandbox](ctx, s, ownedList{owner: owner, cursor: cursor, limit: limit,
		gsiKind: gsiKindSandbox, cursorKind: cursorSandboxes, pk: sandboxPK, attr: attrState, values: stringsOf(states)}, nil)
}

func stringsOf[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// ---- tasks ----

func (s *Store) normalizeTask(t *sandstep.Task) error {
	if t == nil {
		return sandstep.Invalid("task", "must not be nil")
	}
	if err := validateID("id", t.ID); err != nil {
		return err
	}
	if err := validateID("owner", t.Owner); err != nil {
		return err
	}
	if t.SandboxID != "" {
		if err := validateID("sandboxId", t.SandboxID); err != nil {
			return err
		}
	}
	if !slices.Contains(validTaskStatuses, t.Status) {
		return sandstep.Invalid("status", "unknown task status %q", t.Status)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.nowUTC()
	}
	t.CreatedAt = t.CreatedAt.UTC()
	normalizeTaskTimes(t)
	return nil
}

func normalizeTaskTimes(t *sandstep.Task) {
	for _, p := range []**time.Time{&t.StartedAt, &t.FinishedAt, &t.Deadline, &t.NudgedAt, &t.KilledAt} {
		if *p != nil {
			u := (*p).UTC()
			*p = &u
		}
	}
}

// taskItem is t's item. An ended task's expires TaskRetention after it
// ended, with its objects (the bucket's lifecycle rule).
func (s *Store) taskItem(t *sandstep.Task, version int64, now time.Time) (map[string]types.AttributeValue, error) {
	item, err := marshalRecord(t, "task")
	if err != nil {
		return nil, err
	}
	item[attrPK] = str(taskPK(t.ID))
	item[attrSK] = str(skMeta)
	item[attrGSI1PK] = str(ownerGSI1PK(t.Owner, gsiKindTask))
	item[attrGSI1SK] = str(createdGSI1SK(t.CreatedAt, t.ID))
	item[attrType] = str(typeTask)
	item[attrVersion] = num(version)
	item[attrUpdatedAt] = str(now.Format(time.RFC3339Nano))
	if s.taskRetention > 0 && t.Status.Terminal() {
		ended := now
		if t.FinishedAt != nil {
			ended = *t.FinishedAt
		}
		item[TTLAttribute] = num(ended.Add(s.taskRetention).Unix())
	}
	if taskLive(t) {
		markLive(item)
	}
	if err := checkItemSize(item); err != nil {
		return nil, err
	}
	return item, nil
}

// taskLive says whether the reaper reads t: it has not ended, or its
// completion notice is still pending.
func taskLive(t *sandstep.Task) bool {
	return !t.Status.Terminal() || t.Notify != nil && t.Notify.Status == sandstep.NoticePending
}

// PutTask writes the record of a new task; ECONFLICT if it exists.
// CreatedAt is filled in if zero. An issue's task takes the issue's claim
// in the same write: ECONFLICT, field sandstep.IssueClaimField, while another
// task of the issue is live (see issueclaim.go).
func (s *Store) PutTask(ctx context.Context, t *sandstep.Task) error {
	if err := s.normalizeTask(t); err != nil {
		return err
	}
	item, err := s.taskItem(t, 1, s.nowUTC())
	if err != nil {
		return err
	}
	if claim, ok := issueClaim(t); ok && !t.Status.Terminal() {
		return s.putIssueTask(ctx, t, item, claim)
	}
	return s.putNew(ctx, item, "task", t.ID)
}

// GetTask returns the task record with id (strongly consistent), or
// ENOTFOUND, also once it has expired (DynamoDB deletes it days later).
// It does not check ownership: callers compare Owner.
func (s *Store) GetTask(ctx context.Context, id string) (*sandstep.Task, error) {
	t, _, err := getRecord[sandstep.Task](ctx, s, "id", id, taskPK, "task")
	if err == nil && s.taskExpired(t) {
		return nil, sandstep.Errorf(sandstep.ENOTFOUND, "task %q not found", id)
	}
	return t, err
}

// taskExpired says whether t's record has expired: TaskRetention after it
// ended (taskItem's TTL).
func (s *Store) taskExpired(t *sandstep.Task) bool {
	return s.taskRetention > 0 && t.Status.Terminal() && t.FinishedAt != nil && !s.nowUTC().Before(t.FinishedAt.Add(s.taskRetention))
}

// TransitionTask moves the task from one of the statuses in from to the
// status to, after letting update change other fields (ExitCode, Error,
// StartedAt, FinishedAt, ExecutionARN, SandboxID...). ID, Owner and CreatedAt
// cannot be changed. ENOTFOUND if absent, ECONFLICT if its status is not in
// from, or if it would move to cancelled after a check killed the command
// at its deadline (KilledAt: the task ends timed out, whatever comes
// between);
// update may be called more than once (see TransitionSandbox).
func (s *Store) TransitionTask(ctx context.Context, id string, from []sandstep.TaskStatus, to sandstep.TaskStatus, update func(*sandstep.Task)) (*sandstep.Task, error) {
	if !slices.Contains(validTaskStatuses, to) {
		return nil, sandstep.Invalid("status", "unknown task status %q", to)
	}
	if len(from) == 0 {
		return nil, sandstep.Invalid("from", "must name at least one status")
	}
	return transition(ctx, s, "id", id, taskPK, "task",
		func(cur *sandstep.Task) (map[string]types.AttributeValue, *sandstep.Task, []types.TransactWriteItem, error) {
			if !slices.Contains(from, cur.Status) {
				return nil, nil, nil, sandstep.Errorf(sandstep.ECONFLICT, "task %q is %s, not %s", id, cur.Status, joinStates(from))
			}
			if to == sandstep.TaskCancelled && cur.Status != sandstep.TaskCancelled && cur.KilledAt != nil {
				return nil, nil, nil, sandstep.Errorf(sandstep.ECONFLICT, "task %q was killed at its deadline; it ends timed out", id)
			}
			next := *cur
			if update != nil {
				update(&next)
			}
			next.ID, next.Owner, next.CreatedAt = cur.ID, cur.Owner, cur.CreatedAt
			next.Status = to
			if next.SandboxID != "" {
				if err := validateID("sandboxId", next.SandboxID); err != nil {
					return nil, nil, nil, err
				}
			}
			normalizeTaskTimes(&next)
			item, err := s.taskItem(&next, 0, s.nowUTC())
			// The task's end lets its issue's claim go, in the same write.
			var also []types.TransactWriteItem
			if claim, ok := issueClaim(&next); ok && !cur.Status.Terminal() && to.Terminal() {
				also = append(also, s.releaseClaim(claim, id))
			}
			return item, &next, also, err
		})
}

// ListTasks returns the owner's tasks, newest first; see ListSandboxes.
// A task whose record has expired is left out, as GetTask leaves it: by
// the same rule (taskExpired), not the item's expiresAt, which keeps the
// retention it was written with when TASK_RETENTION_DAYS changes.
func (s *Store) ListTasks(ctx context.Context, owner string, limit int, cursor string, statuses ...sandstep.TaskStatus) ([]*sandstep.Task, string, error) {
	return listOwned[sandstep.Task](ctx, s, ownedList{owner: owner, cursor: cursor, limit: limit,
		gsiKind: gsiKindTask, cursorKind: cursorTasks, pk: taskPK, attr: "status", values: stringsOf(statuses)}, s.taskExpired)
}

// ---- shared record machinery ----

// getRecord reads the META item of pk(id): the record and the item.
func getRecord[T any](ctx context.Context, s *Store, field, id string, pk func(string) string, what string) (*T, dynamo.Item, error) {
	if err := validateID(field, id); err != nil {
		return nil, nil, err
	}
	out, err := s.db.GetItem(ctx, &dynamo.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            key(pk(id), skMeta),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, nil, mapErr(err, "get "+what)
	}
	if out.Item == nil {
		return nil, nil, sandstep.Errorf(sandstep.ENOTFOUND, "%s %q not found", what, id)
	}
	rec, err := unmarshalRecord[T](out.Item, what)
	if err != nil {
		return nil, nil, err
	}
	return rec, out.Item, nil
}

// unmarshalRecord reads a record's domain value from its item.
func unmarshalRecord[T any](item map[string]types.AttributeValue, what string) (*T, error) {
	var rec T
	if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
		return nil, sandstep.Wrap(err, sandstep.EINTERNAL, "store: unmarshal %s", what)
	}
	return &rec, nil
}

// transition reads a record, lets next compute the new item from it (and
// the writes that go with it), and writes that item, with the attributes
// read that this version does not know (keepUnknown), on condition that the
// version is still the one read, retrying a bounded number of times when a
// concurrent writer wins. A write that goes with it and is refused (an
// issue's claim another task holds) is not the record's to make: the
// record is written alone.
func transition[T any](ctx context.Context, s *Store, field, id string, pk func(string) string, what string,
	next func(cur *T) (map[string]types.AttributeValue, *T, []types.TransactWriteItem, error)) (*T, error) {
	var lastErr error
	for range maxTransitionAttempts {
		cur, read, err := getRecord[T](ctx, s, field, id, pk, what)
		if err != nil {
			return nil, err
		}
		ver, _, err := numberAttr(read, attrVersion)
		if err != nil {
			return nil, err
		}
		item, rec, also, err := next(cur)
		if err != nil {
			return nil, err
		}
		item[attrVersion] = num(ver + 1)
		keepUnknown(item, read, knownAttrs[T]())
		cond := expression.Name(attrPK).AttributeExists()
		if ver == 0 {
			cond = cond.And(expression.Name(attrVersion).AttributeNotExists())
		} else {
			cond = cond.And(expression.Name(attrVersion).Equal(expression.Value(ver)))
		}
		record := s.put(item, build(expression.NewBuilder().WithCondition(cond)))
		err = s.write(ctx, append([]types.TransactWriteItem{record}, also...)...)
		if err != nil && len(also) > 0 && refusedAlso(err, len(also)) {
			err = s.write(ctx, record)
		}
		if err == nil {
			return rec, nil
		}
		if !conditionFailed(err, 0) {
			return nil, mapErr(err, "update "+what)
		}
		lastErr = err
		// Changed (or deleted) since read: read again and re-check from.
	}
	return nil, sandstep.Wrap(lastErr, sandstep.ETRANSIENT, "%s %q is being changed concurrently; try again", what, id)
}

// refusedAlso says whether a write of a record (item 0) and n more was
// refused for one of the n alone: its condition, or another transaction
// writing it (an issue's claim, which a second delivery's start touches);
// the record is then written alone.
func refusedAlso(err error, n int) bool {
	reasons, ok := txReasons(err)
	if !ok || len(reasons) != n+1 || reasons[0] != reasonNone {
		return false
	}
	for _, r := range reasons[1:] {
		if r == reasonConditionalFailed || r == reasonConflict {
			return true
		}
	}
	return false
}

// ownedList is a page request over the owner's items of one kind.
type ownedList struct {
	owner, cursor string
	limit         int
	gsiKind       string // gsiKindSandbox or gsiKindTask
	cursorKind    string
	pk            func(string) string
	// Only items whose attribute attr is one of values, when values is set.
	attr   string
	values []string
}

// maxListQueries bounds the queries of one page of a filtered list, each
// asking for twice the items of the one before: the index holds every
// record the user ever had (sandboxes never expire), so reading on until
// the page is full would cost a page the whole history.
const maxListQueries = 6

// listOwned pages through the owner's items of one kind on GSI1, newest
// first. It reads one item more than the page to know whether another
// page exists, so the last page never comes with a cursor to an empty one;
// with a filter it reads on until the page is full, the list ends or it
// has made maxListQueries queries, when the page (short, even empty) goes
// on from the last item read. An item gone says is left out as the
// filter's are (a record its reads answer not found).
func listOwned[T any](ctx context.Context, s *Store, l ownedList, gone func(*T) bool) ([]*T, string, error) {
	if err := validateID("owner", l.owner); err != nil {
		return nil, "", err
	}
	c, err := s.decodeCursor(l.cursor, l.cursorKind, l.owner)
	if err != nil {
		return nil, "", err
	}
	gsiPK := ownerGSI1PK(l.owner, l.gsiKind)
	b := expression.NewBuilder().WithKeyCondition(expression.Key(attrGSI1PK).Equal(expression.Value(gsiPK)))
	if len(l.values) > 0 {
		b = b.WithFilter(inValues(l.attr, l.values))
	}
	expr := build(b)
	in := &dynamo.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(GSI1),
		KeyConditionExpression:    expr.KeyCondition(),
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(l.limit + 1)),
	}
	if c != nil {
		id, err := gsiCursorID(c.Pos)
		if err != nil {
			return nil, "", err
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			attrPK:     str(l.pk(id)),
			attrSK:     str(skMeta),
			attrGSI1PK: str(gsiPK),
			attrGSI1SK: str(c.Pos),
		}
	}
	var items []dynamo.Item
	var recs []*T
	var last dynamo.Item // the last item read, kept or not
	more := false
	for round := 1; ; round++ {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", mapErr(err, "list")
		}
		for _, it := range out.Items {
			rec, err := unmarshalRecord[T](it, "listed item")
			if err != nil {
				return nil, "", err
			}
			if gone != nil && gone(rec) {
				continue
			}
			items, recs = append(items, it), append(recs, rec)
		}
		more = len(out.LastEvaluatedKey) > 0
		last = out.LastEvaluatedKey
		if len(items) > l.limit || !more || round == maxListQueries {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		in.Limit = aws.Int32(2 * *in.Limit)
	}
	if len(items) > l.limit {
		items, recs, more = items[:l.limit], recs[:l.limit], true
		last = items[l.limit-1]
	}
	if recs == nil {
		recs = []*T{}
	}
	next := ""
	if more {
		pos, _ := last[attrGSI1SK].(*types.AttributeValueMemberS)
		if pos == nil {
			return nil, "", sandstep.Errorf(sandstep.EINTERNAL, "store: listed item without %s", attrGSI1SK)
		}
		next = s.encodeCursor(cursor{Kind: l.cursorKind, Scope: l.owner, Pos: pos.Value})
	}
	return recs, next, nil
}

// inValues is the condition that attr is one of values.
func inValues(attr string, values []string) expression.ConditionBuilder {
	name := expression.Name(attr)
	if len(values) == 1 {
		return name.Equal(expression.Value(values[0]))
	}
	rest := make([]expression.OperandBuilder, 0, len(values)-1)
	for _, v := range values[1:] {
		rest = append(rest, expression.Value(v))
	}
	return name.In(expression.Value(values[0]), rest...)
}

// gsiCursorID checks a GSI1SK position ("<time>#<id>") and returns the id.
func gsiCursorID(pos string) (string, error) {
	ts, id, ok := strings.Cut(pos, "#")
	if !ok {
		return "", sandstep.Invalid("cursor", "is not a valid cursor for this list")
	}
	if _, err := time.Parse(sortTimeLayout, ts); err != nil {
		return "", sandstep.Invalid("cursor", "is not a valid cursor for this list")
	}
	if err := validateID("cursor", id); err != nil {
		return "", sandstep.Invalid("cursor", "is not a valid cursor for this list")
	}
	return id, nil
}
