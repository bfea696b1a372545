package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A delete costs two round trips around the provider's: MarkDeleting reads
// and marks the record in one conditional write, FinishDelete ends it and
// releases its slot with its audit event in one transaction. A delete that
// finds nothing to mark (another's, over already) costs the one write.

// MarkDeleting moves owner's sandbox from ready (or deleting: a delete
// taken over) to deleting and returns the record as it now is. Nothing is
// written otherwise: no such sandbox is ENOTFOUND; another owner's, or
// another state, is ECONFLICT returned with the record as it is (the
// failed write's own answer), so the caller tells which without a read.
func (s *Store) MarkDeleting(ctx context.Context, id, owner string) (*sandstep.Sandbox, error) {
	if err := validateID("id", id); err != nil {
		return nil, err
	}
	e := build(expression.NewBuilder().
		WithCondition(expression.Name(attrPK).AttributeExists().
			And(expression.Name("owner").Equal(expression.Value(owner))).
			And(expression.Name(attrState).In(expression.Value(sandstep.StateReady), expression.Value(sandstep.StateDeleting)))).
		WithUpdate(expression.Set(expression.Name(attrState), expression.Value(sandstep.StateDeleting)).
			Set(expression.Name("updatedAt"), expression.Value(s.nowUTC())).
			Add(expression.Name(attrVersion), expression.Value(1))))
	after, err := s.db.UpdateItem(ctx, s.update(key(sandboxPK(id), skMeta), e).Update, types.ReturnValueAllNew)
	if conditionFailed(err, 0) {
		image := failedImage(err, 0)
		if len(image) == 0 {
			return nil, sandstep.Errorf(sandstep.ENOTFOUND, "sandbox %q not found", id)
		}
		cur, uerr := unmarshalRecord[sandstep.Sandbox](image, "sandbox")
		if uerr != nil {
			return nil, uerr
		}
		return cur, sandstep.Wrap(err, sandstep.ECONFLICT, "sandbox %q is not %s's to delete now", id, owner)
	}
	if err != nil {
		return nil, mapErr(err, "mark sandbox deleting")
	}
	return unmarshalRecord[sandstep.Sandbox](after, "sandbox")
}

// FinishDelete ends a delete whose provider sandbox is gone: the record
// becomes deleted, the slot is released (once, whoever else tries) and the
// audit event appended, in one transaction. ECONFLICT when the record is
// no longer deleting (another delete finished it).
func (s *Store) FinishDelete(ctx context.Context, sb *sandstep.Sandbox, audit sandstep.AuditEvent) (*sandstep.Sandbox, error) {
	if err := validateID("id", sb.ID); err != nil {
		return nil, err
	}
	now := s.nowUTC()
	deletedAt, err := attributevalue.Marshal(now)
	if err != nil {
		return nil, sandstep.Wrap(err, sandstep.EINTERNAL, "store: marshal a time")
	}
	done := build(expression.NewBuilder().
		WithCondition(expression.Name(attrState).Equal(expression.Value(sandstep.StateDeleting))).
		WithUpdate(expression.Set(expression.Name(attrState), expression.Value(sandstep.StateDeleted)).
			Set(expression.Name("deletedAt"), expression.Value(deletedAt)).
			Set(expression.Name("updatedAt"), expression.Value(deletedAt)).
			Set(expression.Name("providerState"), expression.Value("destroyed")).
			Remove(expression.Name(attrLivePK)).
			Add(expression.Name(attrVersion), expression.Value(1))))
	record := s.update(key(sandboxPK(sb.ID), skMeta), done)
	if _, err := s.releaseWith(ctx, sb.Owner, sb.ID, []types.TransactWriteItem{record}, []sandstep.AuditEvent{audit}); err != nil {
		if conditionFailed(err, 0) {
			return nil, sandstep.Wrap(err, sandstep.ECONFLICT, "sandbox %q is no longer being deleted", sb.ID)
		}
		return nil, mapErr(err, "finish deleting sandbox")
	}
	deleted := *sb
	deleted.State, deleted.DeletedAt, deleted.UpdatedAt, deleted.ProviderState = sandstep.StateDeleted, &now, now, "destroyed"
	return &deleted, nil
}
