package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/dynamo"

	"github.com/sandstep/sandstep/internal/lazyre"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// Audit limits.
const (
	// MaxAuditDetailEntries is the most Detail entries an event may carry.
	MaxAuditDetailEntries = 32
	// MaxAuditDetailKeyLength bounds an entry's key
	// (sandstep.MaxAuditDetailValueLength its value).
	MaxAuditDetailKeyLength = 64
	// maxAuditWordLength bounds Action and Outcome.
	maxAuditWordLength = 64
	// maxAppendAttempts bounds retries after a sort-key collision.
	maxAppendAttempts = 3
)

// auditRecord is an AuditEvent as stored.
type auditRecord struct {
	Time      time.Time `dynamodbav:"time"`
	Action    string    `dynamodbav:"action"`
	UserID    string    `dynamodbav:"userId"`
	SandboxID string    `dynamodbav:"sandboxId,omitempty"`
	TaskID    string    `dynamodbav:"taskId,omitempty"`
	// TargetUserID: an administrator's action on a user.
	TargetUserID string            `dynamodbav:"targetUserId,omitempty"`
	RequestID    string            `dynamodbav:"requestId,omitempty"`
	Metadata     sandstep.Metadata `dynamodbav:"metadata"`
	Outcome      string            `dynamodbav:"outcome,omitempty"`
	Detail       map[string]string `dynamodbav:"detail,omitempty"`
}

var (
	auditWord      = lazyre.New(`^[A-Za-z0-9][A-Za-z0-9._:/-]*$`)
	auditDetailKey = lazyre.New(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

	// secretKeyWords: a Detail key containing one of these (case-insensitive,
	// ignoring '_', '-' and '.') is refused.
	secretKeyWords = []string{
		"token", "secret", "password", "passwd", "passphrase", "pwd", "key",
		"credential", "auth", "cookie", "signature", "private", "bearer", "jwt",
	}
	// secretValues match values shaped like credentials: HTTP auth schemes,
	// PEM blocks, JWTs, GitHub tokens, AWS access key ids, Slack tokens.
	secretValues = []*lazyre.Regexp{
		lazyre.New(`(?i)^\s*(bearer|basic|token)\s+\S`),
		lazyre.New(`-----BEGIN [A-Z ]*-----`),
		lazyre.New(`\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.`),
		lazyre.New(`\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}`),
		lazyre.New(`\bgithub_pat_[A-Za-z0-9_]{20,}`),
		lazyre.New(`\b(AKIA|ASIA)[A-Z0-9]{16}\b`),
		lazyre.New(`\bxox[abposr]-[A-Za-z0-9-]{10,}`),
	}
)

// validateAudit checks an event before it is stored. The rule that keeps
// secrets out of the audit trail: Action and Outcome are plain words; Detail
// (free-form) is limited to MaxAuditDetailEntries short entries whose keys
// are plain words and never name a secret (no key containing token, secret,
// password, passwd, passphrase, pwd, key, credential, auth, cookie,
// signature, private, bearer or jwt, in any case or spelling with '_', '-'
// or '.') and whose values do not look like a credential (an HTTP
// Authorization value, a PEM block, a JWT, a GitHub, AWS or Slack token).
// The check is deliberately over-eager: rename a harmless key that trips it.
func validateAudit(ev *sandstep.AuditEvent) error {
	if ev.Action == "" || len(ev.Action) > maxAuditWordLength || !auditWord.MatchString(ev.Action) {
		return sandstep.Invalid("action", "must be a word of letters, digits and ._:/- (at most %d bytes)", maxAuditWordLength)
	}
	if err := validateID("userId", ev.UserID); err != nil {
		return err
	}
	if ev.SandboxID == "" && ev.TaskID == "" && ev.TargetUserID == "" {
		return sandstep.Invalid("sandboxId", "an audit event needs a sandboxId, a taskId or a targetUserId")
	}
	if ev.TargetUserID != "" {
		if err := validateID("targetUserId", ev.TargetUserID); err != nil {
			return err
		}
	}
	if ev.SandboxID != "" {
		if err := validateID("sandboxId", ev.SandboxID); err != nil {
			return err
		}
	}
	if ev.TaskID != "" {
		if err := validateID("taskId", ev.TaskID); err != nil {
			return err
		}
	}
	if ev.RequestID != "" {
		if err := sandstep.ValidateRequestID("requestId", ev.RequestID); err != nil {
			return err
		}
	}
	if ev.Outcome != "" && (len(ev.Outcome) > maxAuditWordLength || !auditWord.MatchString(ev.Outcome)) {
		return sandstep.Invalid("outcome", "must be a word of letters, digits and ._:/- (at most %d bytes)", maxAuditWordLength)
	}
	if len(ev.Detail) > MaxAuditDetailEntries {
		return sandstep.Invalid("detail", "at most %d entries, got %d", MaxAuditDetailEntries, len(ev.Detail))
	}
	for _, k := range slices.Sorted(maps.Keys(ev.Detail)) {
		v := ev.Detail[k]
		if len(k) > MaxAuditDetailKeyLength || !auditDetailKey.MatchString(k) {
			return sandstep.Invalid("detail", "keys must be words of letters, digits and ._- (at most %d bytes)", MaxAuditDetailKeyLength)
		}
		field := "detail." + k
		if secretKeyName(k) {
			return sandstep.Invalid(field, "names a secret; audit events never hold secrets")
		}
		if len(v) > sandstep.MaxAuditDetailValueLength {
			return sandstep.Invalid(field, "must be at most %d bytes", sandstep.MaxAuditDetailValueLength)
		}
		for _, re := range secretValues {
			if re.MatchString(v) {
				return sandstep.Invalid(field, "looks like a credential; audit events never hold secrets")
			}
		}
	}
	return nil
}

func secretKeyName(k string) bool {
	norm := strings.ToLower(strings.NewReplacer("_", "", "-", "", ".", "").Replace(k))
	for _, w := range secretKeyWords {
		if strings.Contains(norm, w) {
			return true
		}
	}
	return false
}

// auditPartitions returns the partitions an event is written to: its
// sandbox's, its task's and its target user's, so it lists under each. A
// user's events share the user's partition with the quota items, under
// their own sort-key prefix.
func auditPartitions(ev *sandstep.AuditEvent) []string {
	var pks []string
	if ev.SandboxID != "" {
		pks = append(pks, sandboxPK(ev.SandboxID))
	}
	if ev.TaskID != "" {
		pks = append(pks, taskPK(ev.TaskID))
	}
	if ev.TargetUserID != "" {
		pks = append(pks, userPK(ev.TargetUserID))
	}
	return pks
}

// AppendAudit appends an event to the audit trail of its sandbox and of its
// task (an event naming both is written to both, in one transaction). Time
// defaults to now. Events are never changed or deleted; the sort key
// EVT#<time>#<n> is unique even for events of the same instant. Events that
// could hold a secret are refused with EINVALID (see the rule above).
func (s *Store) AppendAudit(ctx context.Context, ev sandstep.AuditEvent) error {
	return mapErr(s.writeWithAudit(ctx, nil, []sandstep.AuditEvent{ev}), "append audit event")
}

// auditPuts are the puts that append events, each under a fresh sort key.
func (s *Store) auditPuts(events []sandstep.AuditEvent) ([]types.TransactWriteItem, error) {
	var puts []types.TransactWriteItem
	for _, ev := range events {
		if err := validateAudit(&ev); err != nil {
			return nil, err
		}
		if ev.Time.IsZero() {
			ev.Time = s.nowUTC()
		}
		ev.Time = ev.Time.UTC()
		base, err := marshalRecord(auditRecord(ev), "audit event")
		if err != nil {
			return nil, err
		}
		base[attrType] = str(typeEvent)
		sk := fmt.Sprintf("%s%s#%016x%s", prefixEvent, sortTime(ev.Time), s.counter.Add(1), s.instance)
		for _, pk := range auditPartitions(&ev) {
			item := maps.Clone(base)
			item[attrPK], item[attrSK] = str(pk), str(sk)
			if err := checkItemSize(item); err != nil {
				return nil, err
			}
			puts = append(puts, s.put(item, absent))
		}
	}
	return puts, nil
}

// writeWithAudit writes items and appends events in one write, so an
// action and its audit event cost one round trip. A sort key taken
// already (another instance's event of the same instant) is taken again.
// The error is write's: callers explain items' conditions by their index.
func (s *Store) writeWithAudit(ctx context.Context, items []types.TransactWriteItem, events []sandstep.AuditEvent) error {
	var err error
	for range maxAppendAttempts {
		puts, perr := s.auditPuts(events)
		if perr != nil {
			return perr
		}
		err = s.write(ctx, append(slices.Clip(items), puts...)...)
		taken := false
		for i := range puts {
			taken = taken || conditionFailed(err, len(items)+i)
		}
		if !taken {
			return err
		}
	}
	return sandstep.Wrap(err, sandstep.ETRANSIENT, "could not allocate a unique audit event key; try again")
}

// ListAudit returns the audit events of one sandbox or one task (exactly one
// of sandboxID and taskID), oldest first, limit at a time (at least 1; the
// service bounds it), with the cursor of the next page ("" at the end).
func (s *Store) ListAudit(ctx context.Context, sandboxID, taskID string, limit int, cursorText string) ([]sandstep.AuditEvent, string, error) {
	var pk string
	switch {
	case (sandboxID == "") == (taskID == ""):
		return nil, "", sandstep.Invalid("sandboxId", "exactly one of sandboxId and taskId is required")
	case sandboxID != "":
		if err := validateID("sandboxId", sandboxID); err != nil {
			return nil, "", err
		}
		pk = sandboxPK(sandboxID)
	default:
		if err := validateID("taskId", taskID); err != nil {
			return nil, "", err
		}
		pk = taskPK(taskID)
	}
	return s.listAudit(ctx, pk, limit, cursorText)
}

// ListUserAudit returns the events of administrators' actions on userID
// (AuditEvent.TargetUserID), paged as ListAudit.
func (s *Store) ListUserAudit(ctx context.Context, userID string, limit int, cursorText string) ([]sandstep.AuditEvent, string, error) {
	if err := validateID("userId", userID); err != nil {
		return nil, "", err
	}
	return s.listAudit(ctx, userPK(userID), limit, cursorText)
}

// listAudit pages through the events of partition pk.
func (s *Store) listAudit(ctx context.Context, pk string, limit int, cursorText string) ([]sandstep.AuditEvent, string, error) {
	c, err := s.decodeCursor(cursorText, cursorAudit, pk)
	if err != nil {
		return nil, "", err
	}
	expr := build(expression.NewBuilder().WithKeyCondition(
		expression.Key(attrPK).Equal(expression.Value(pk)).
			And(expression.Key(attrSK).BeginsWith(prefixEvent))))
	in := &dynamo.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    expr.KeyCondition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(int32(limit + 1)),
	}
	if c != nil {
		if !strings.HasPrefix(c.Pos, prefixEvent) || len(c.Pos) > 200 {
			return nil, "", sandstep.Invalid("cursor", "is not a valid cursor for this list")
		}
		in.ExclusiveStartKey = key(pk, c.Pos)
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", mapErr(err, "list audit events")
	}
	items := out.Items
	more := len(out.LastEvaluatedKey) > 0
	if len(items) > limit {
		items, more = items[:limit], true
	}
	events := make([]sandstep.AuditEvent, 0, len(items))
	for _, it := range items {
		var rec auditRecord
		if err := attributevalue.UnmarshalMap(it, &rec); err != nil {
			return nil, "", sandstep.Wrap(err, sandstep.EINTERNAL, "store: unmarshal audit event")
		}
		events = append(events, sandstep.AuditEvent(rec))
	}
	next := ""
	if more && len(items) > 0 {
		sk, _ := items[len(items)-1][attrSK].(*types.AttributeValueMemberS)
		if sk == nil {
			return nil, "", sandstep.Errorf(sandstep.EINTERNAL, "store: audit event without %s", attrSK)
		}
		next = s.encodeCursor(cursor{Kind: cursorAudit, Scope: pk, Pos: sk.Value})
	}
	return events, next, nil
}
