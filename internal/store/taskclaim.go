package store

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/sandstep/sandstep/internal/dynamo"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// attrCreateClaim is sandstep.Task.CreateClaim's attribute.
const attrCreateClaim = "createClaim"

// ClaimTaskCreate claims the making of task id's sandbox for one attempt
// of its CreateSandbox step, which ends by until: on condition that the
// task is queued, names the sandbox seen ("" for none) and holds no
// other attempt's claim that has not run out. ETRANSIENT when another
// attempt's claim holds, or the task's sandbox changed since seen (the
// step asked again then finds it); ECONFLICT once the task is not
// queued. The write moves the record's version on, so a transition read
// before it writes again over it.
func (s *Store) ClaimTaskCreate(ctx context.Context, id, seen string, until time.Time) error {
	if err := validateID("id", id); err != nil {
		return err
	}
	claim, sandbox := expression.Name(attrCreateClaim), expression.Name("sandboxId")
	same := sandbox.AttributeNotExists()
	if seen != "" {
		same = sandbox.Equal(expression.Value(seen))
	}
	cond := expression.Name("status").Equal(expression.Value(sandstep.TaskQueued)).And(same,
		expression.Or(claim.AttributeNotExists(), claim.LessThanEqual(expression.Value(s.nowUTC().UnixMilli()))))
	upd := expression.Set(claim, expression.Value(until.UnixMilli())).
		Add(expression.Name(attrVersion), expression.Value(1))
	err := s.write(ctx, s.update(key(taskPK(id), skMeta), build(expression.NewBuilder().WithCondition(cond).WithUpdate(upd))))
	if !conditionFailed(err, 0) {
		return mapErr(err, "claim the task's create")
	}
	t, gerr := s.claimedTask(ctx, id, err)
	switch {
	case gerr != nil:
		return gerr
	case t.Status != sandstep.TaskQueued:
		return sandstep.Errorf(sandstep.ECONFLICT, "task %q is %s; its sandbox is made while it is queued", id, t.Status)
	case t.SandboxID != seen:
		return sandstep.Wrap(sandstep.ErrCreateClaimed, sandstep.ETRANSIENT, "task %q's sandbox was recorded meanwhile; ask again", id)
	case t.CreateClaim == until.UnixMilli() && dynamo.EarlierTryMayHaveApplied(err):
		// A try whose answer was lost took the claim; the repeat was
		// refused by it. It is this attempt's: refused, no one would let
		// it go before until, and every attempt till then would be too.
		return nil
	}
	return sandstep.Wrap(sandstep.ErrCreateClaimed, sandstep.ETRANSIENT, "another attempt is making task %q's sandbox, until %s at the latest; ask again",
		id, time.UnixMilli(t.CreateClaim).UTC().Format(time.RFC3339))
}

// claimedTask is the task a refused claim found: the refusal's image,
// or the record read again.
func (s *Store) claimedTask(ctx context.Context, id string, refused error) (*sandstep.Task, error) {
	if img := failedImage(refused, 0); img != nil {
		return unmarshalRecord[sandstep.Task](img, "task")
	}
	return s.GetTask(ctx, id)
}
