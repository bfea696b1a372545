package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/dynamo"
	"github.com/sandstep/sandstep/internal/pause"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// One live task per GitHub issue. A repository's task for an issue is
// written together with the issue's claim (ISSUE#<repo>#<number> /
// CLAIM, naming the task), in one transaction, on condition that no live
// task holds it; the task's end (TransitionTask to a final status, which
// every ending makes: clean-up, cancel, a start that failed, the reaper)
// deletes it in the same write. So of two deliveries that start an issue's
// task at once, whatever GSI1 showed them, one writes its task and the
// other is refused.

// Every cancel (a label removed, perhaps while a start is still between
// its delivery and its task's write) first leaves the issue's cancel mark
// (ISSUE#<repo>#<number> / CANCEL, when it came): a start's write checks
// it in the same transaction, so a task asked for before the cancel is
// refused, and the cancel, having marked, reads the issue's task to cancel
// one written before the mark.

const (
	prefixIssue  = "ISSUE#"
	skClaim      = "CLAIM"
	skCancel     = "CANCEL"
	attrCancelAt = "cancelledAt"
	// cancelMarkTTL is how long a cancel mark is kept: far longer than a
	// delivery's start takes.
	cancelMarkTTL  = 24 * time.Hour
	typeClaim      = "issueClaim"
	typeCancelMark = "issueCancel"
	attrClaimTask  = "taskId"
	// maxClaimAttempts bounds a start's retries while the claim changes
	// under it (released, or taken over, between its write and its read).
	maxClaimAttempts = 4
)

// issueClaim is the key of the claim of t's issue, if t is an issue's
// task.
func issueClaim(t *sandstep.Task) (map[string]types.AttributeValue, bool) {
	repo, issue, ok := sandstep.IssueOf(t)
	if !ok || issue == "" {
		return nil, false
	}
	return claimKey(repo, issue), true
}

func claimKey(repo, issue string) map[string]types.AttributeValue {
	return key(prefixIssue+repo+"#"+issue, skClaim)
}

// cancelKey is the key of repo's issue's cancel mark, beside its claim.
func cancelKey(repo, issue string) map[string]types.AttributeValue {
	return key(prefixIssue+repo+"#"+issue, skCancel)
}

// MarkIssueCancelled records that repo's issue was cancelled at: a start
// of its task asked for before then is refused (PutTask, ErrIssueCancelled).
// A later mark is kept.
func (s *Store) MarkIssueCancelled(ctx context.Context, repo, issue string, at time.Time) error {
	ms := at.UnixMilli()
	e := build(expression.NewBuilder().
		WithCondition(expression.Or(expression.Name(attrCancelAt).AttributeNotExists(), expression.Name(attrCancelAt).LessThan(expression.Value(ms)))).
		WithUpdate(expression.Set(expression.Name(attrCancelAt), expression.Value(ms)).
			Set(expression.Name(attrType), expression.Value(typeCancelMark)).
			Set(expression.Name(TTLAttribute), expression.Value(at.Add(cancelMarkTTL).Unix()))))
	// Every start's transaction checks the mark, and DynamoDB refuses a
	// plain write of an item a transaction is at: tried again, as the
	// rate's items are.
	mark := s.update(cancelKey(repo, issue), e)
	err := s.writeRate(ctx, func() []types.TransactWriteItem { return []types.TransactWriteItem{mark} })
	if conditionFailed(err, 0) {
		return nil // a later cancel marked it
	}
	return mapErr(err, "mark an issue cancelled")
}

// IssueCancelledAt is when repo's issue was last cancelled (its cancel
// mark), read strongly consistent; the zero time when it never was, or
// its mark has expired.
func (s *Store) IssueCancelledAt(ctx context.Context, repo, issue string) (time.Time, error) {
	out, err := s.db.GetItem(ctx, &dynamo.GetItemInput{TableName: aws.String(s.table), Key: cancelKey(repo, issue), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return time.Time{}, mapErr(err, "read an issue's cancel mark")
	}
	n, ok := out.Item[attrCancelAt].(*types.AttributeValueMemberN)
	if !ok {
		return time.Time{}, nil
	}
	ms, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return time.Time{}, sandstep.Wrap(err, sandstep.EINTERNAL, "an issue's cancel mark is not a time")
	}
	return time.UnixMilli(ms), nil
}

// notCancelledSince is the check, in a start's write, that repo's issue
// was not cancelled since asked (its task's CreatedAt).
func (s *Store) notCancelledSince(repo, issue string, asked time.Time) types.TransactWriteItem {
	cancelAt := expression.Name(attrCancelAt)
	e := build(expression.NewBuilder().WithCondition(expression.Or(cancelAt.AttributeNotExists(), cancelAt.LessThan(expression.Value(asked.UnixMilli())))))
	return s.check(cancelKey(repo, issue), e)
}

// putIssueTask writes item, the record of t, a new task of an issue, with
// the issue's claim: ECONFLICT (field sandstep.IssueClaimField) when a
// live task holds it. A claim whose task has ended without letting it go
// (a version of the functions before claims ended it, or its record is
// gone) is taken over, on condition that it still names that task.
func (s *Store) putIssueTask(ctx context.Context, t *sandstep.Task, item, claim map[string]types.AttributeValue) error {
	repo, issue, _ := sandstep.IssueOf(t)
	holder := "" // the ended task the claim names, when last read; "": none
	var lastErr error
	for range maxClaimAttempts {
		cond := expression.AttributeNotExists(expression.Name(attrPK))
		if holder != "" {
			cond = expression.Name(attrClaimTask).Equal(expression.Value(holder))
		}
		take := expression.Set(expression.Name(attrClaimTask), expression.Value(t.ID)).
			Set(expression.Name(attrType), expression.Value(typeClaim))
		err := s.write(ctx, s.put(item, absent), s.update(claim, build(expression.NewBuilder().WithCondition(cond).WithUpdate(take))),
			s.notCancelledSince(repo, issue, t.CreatedAt))
		if err == nil {
			return nil
		}
		if conditionFailed(err, 0) {
			return sandstep.Wrap(err, sandstep.ECONFLICT, "task %q already exists", t.ID)
		}
		if conditionFailed(err, 2) {
			return sandstep.Wrap(fmt.Errorf("%w: %w", sandstep.ErrIssueCancelled, err), sandstep.ECONFLICT,
				"issue %s#%s was cancelled after this task was asked for", repo, issue)
		}
		lastErr = err
		if conflicted(err) {
			// Another start of the issue is writing the claim: a moment,
			// then its answer (usually: busy).
			if !pause.For(ctx, rand.N(rateConflictPause)) {
				break
			}
			holder = ""
			continue
		}
		if !conditionFailed(err, 1) {
			return mapErr(err, "put task")
		}
		named, live, err := s.claimHolder(ctx, claim, failedImage(err, 1))
		if err != nil {
			return err
		}
		if live != nil {
			return &sandstep.Error{Code: sandstep.ECONFLICT, Field: sandstep.IssueClaimField,
				Message: "issue " + t.Metadata.Repo + "#" + t.Metadata.IssueID + " has a live task, " + live.ID}
		}
		holder = named
	}
	return sandstep.Wrap(lastErr, sandstep.ETRANSIENT, "the claim of issue %s#%s keeps changing; try again", t.Metadata.Repo, t.Metadata.IssueID)
}

// claimHolder is the task the claim names ("": none) and, when that task
// is live, its record: from image (the claim as a refused write found it)
// or else read, strongly consistent.
func (s *Store) claimHolder(ctx context.Context, claim, image map[string]types.AttributeValue) (string, *sandstep.Task, error) {
	id := avS(image[attrClaimTask])
	if id == "" {
		out, err := s.db.GetItem(ctx, &dynamo.GetItemInput{TableName: aws.String(s.table), Key: claim, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return "", nil, mapErr(err, "read an issue's claim")
		}
		id = avS(out.Item[attrClaimTask])
	}
	if id == "" {
		return "", nil, nil
	}
	t, err := s.GetTask(ctx, id)
	if sandstep.ErrorCode(err) == sandstep.ENOTFOUND {
		return id, nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	if t.Status.Terminal() {
		return id, nil, nil
	}
	return id, t, nil
}

// IssueTask is the live task that holds the claim of repo's issue (its
// number), read strongly consistent; nil when none does.
func (s *Store) IssueTask(ctx context.Context, repo, issue string) (*sandstep.Task, error) {
	_, t, err := s.claimHolder(ctx, claimKey(repo, issue), nil)
	return t, err
}

// releaseClaim is the write that lets the claim of an issue go as its task
// id ends: unless another task holds it (see TransitionTask).
func (s *Store) releaseClaim(claim map[string]types.AttributeValue, id string) types.TransactWriteItem {
	return s.remove(claim, build(expression.NewBuilder().WithCondition(expression.Or(
		expression.AttributeNotExists(expression.Name(attrPK)),
		expression.Name(attrClaimTask).Equal(expression.Value(id))))))
}
