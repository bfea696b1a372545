package store

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/dynamo"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Idempotency record statuses, as in Powertools for AWS Lambda.
const (
	IdempotencyInProgress = sandstep.IdempotencyInProgress
	IdempotencyCompleted  = sandstep.IdempotencyCompleted
)

// Idempotency defaults and limits.
const (
	// DefaultInProgressTimeout is the in-progress expiry used when neither
	// the caller nor the context says when the attempt ends: the longest a
	// Lambda function can run.
	DefaultInProgressTimeout = 15 * time.Minute
	// MaxIdempotencyResponseSize is the largest stored response, leaving room
	// in the item for everything else.
	MaxIdempotencyResponseSize = MaxItemSize - 8*1024
	// maxRequestHashLength bounds the request hash (a hex SHA-256 is 64).
	maxRequestHashLength = 256
	// MaxAttemptLength is the longest attempt token, in bytes.
	MaxAttemptLength = 64
	// maxBeginAttempts bounds the retries when the record changes between
	// the conditional write and the read that explains its failure.
	maxBeginAttempts = 5
	// DeliveryRetention is the least a repository's idempotency record
	// (a GitHub delivery's, "github-<delivery id>") is kept, whatever
	// IdempotencyTTL says: GitHub redelivers a delivery for up to 3 days
	// and GitHub Enterprise Server for up to 7, and a redelivery the
	// record has forgotten would start its task again.
	DeliveryRetention = 7 * 24 * time.Hour
)

// idempotencyTTLOf is how long userID's records are kept once their attempt
// has ended: a repository's are GitHub's deliveries (no one else acts as a
// repository), kept for DeliveryRetention at least.
func (s *Store) idempotencyTTLOf(userID string) time.Duration {
	if _, ok := sandstep.RepoOf(userID); ok {
		return max(s.idempotencyTTL, DeliveryRetention)
	}
	return s.idempotencyTTL
}

const (
	attrIdemStatus = "status"
	attrIdemHash   = "requestHash"
	attrIdemResp   = "response"
	attrIdemIPE    = "inProgressExpiry" // Unix milliseconds, as Powertools
	attrIdemTry    = "attempt"          // the token of the attempt that wrote it
)

// IdempotencyRecord is the stored state of one idempotency key: Status
// (IdempotencyInProgress or IdempotencyCompleted), the RequestHash of the
// body the key was first used with, the stored Response of a completed
// request and ExpiresAt, when the record stops counting (its TTL).
type IdempotencyRecord = sandstep.IdempotencyRecord

// InProgressExpiry returns when an attempt started now must be considered
// crashed: the context's deadline (in a Lambda function, the invocation's
// deadline, i.e. now plus the remaining time) or, without one, now plus
// DefaultInProgressTimeout.
func InProgressExpiry(ctx context.Context, now time.Time) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return now.Add(DefaultInProgressTimeout)
}

func validateIdemKey(userID, key string) error {
	if err := validateID("userId", userID); err != nil {
		return err
	}
	// The key is the last part of "IDEM#<user>#<key>" and the user id holds
	// no '#', so a '#' in the key is unambiguous.
	return validateKeyPart("idempotencyKey", key, MaxIdempotencyKeyLength, true)
}

// validateAttempt checks an attempt token: 1 to MaxAttemptLength characters
// of [A-Za-z0-9_-].
func validateAttempt(attempt string) error {
	if attempt == "" || len(attempt) > MaxAttemptLength {
		return sandstep.Invalid("attempt", "must be 1 to %d characters", MaxAttemptLength)
	}
	for i := 0; i < len(attempt); i++ {
		switch c := attempt[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return sandstep.Invalid("attempt", "may hold only letters, digits, '_' and '-'")
		}
	}
	return nil
}

// BeginIdempotent starts a request under an idempotency key, with the
// semantics of Powertools for AWS Lambda. attempt is a token the caller
// chooses for this attempt (1 to MaxAttemptLength characters of
// [A-Za-z0-9_-], unique per attempt, e.g. the Lambda request id); the
// in-progress record remembers it, and only the same attempt may later
// complete or abort the record:
//
//   - no record, or an expired one: the record is now in progress under
//     attempt until inProgressExpiry and BeginIdempotent returns nil, nil:
//     proceed, then call CompleteIdempotent or AbortIdempotent with the same
//     attempt;
//   - a completed record for the same request hash: it is returned and the
//     caller replays its Response;
//   - the key was used with another request hash: ECONFLICT;
//   - in progress and not past its in-progress expiry: ECONFLICT ("a request
//     with this idempotency key is in progress");
//   - in progress past its expiry (the attempt crashed or hangs): taken over
//     by attempt, nil, nil; the old attempt can then neither complete nor
//     abort it.
//
// A zero inProgressExpiry means InProgressExpiry(ctx, now). Of many
// concurrent first calls with one key, exactly one proceeds.
func (s *Store) BeginIdempotent(ctx context.Context, userID, key, requestHash, attempt string, inProgressExpiry time.Time) (*IdempotencyRecord, error) {
	if err := validateIdemKey(userID, key); err != nil {
		return nil, err
	}
	if requestHash == "" || len(requestHash) > maxRequestHashLength {
		return nil, sandstep.Invalid("requestHash", "must be 1 to %d bytes", maxRequestHashLength)
	}
	if err := validateAttempt(attempt); err != nil {
		return nil, err
	}
	now := s.now()
	if inProgressExpiry.IsZero() {
		inProgressExpiry = InProgressExpiry(ctx, now)
	}
	if !inProgressExpiry.After(now) {
		return nil, sandstep.Invalid("inProgressExpiry", "must be in the future")
	}
	item := map[string]types.AttributeValue{
		attrPK:         str(idemPK(userID, key)),
		attrSK:         str(skIdem),
		attrType:       str(typeIdem),
		attrIdemStatus: str(IdempotencyInProgress),
		attrIdemHash:   str(requestHash),
		attrIdemIPE:    num(inProgressExpiry.UnixMilli()),
		attrIdemTry:    str(attempt),
		// Remembered as long as a completed one, so a crashed attempt's key
		// still refuses another request.
		TTLAttribute: num(inProgressExpiry.Add(s.idempotencyTTLOf(userID)).Unix()),
	}
	status, hash, ipe, exp := expression.Name(attrIdemStatus), expression.Name(attrIdemHash),
		expression.Name(attrIdemIPE), expression.Name(TTLAttribute)
	cond := expression.Or(
		expression.AttributeNotExists(expression.Name(attrPK)),
		// Expired, though TTL has not deleted it yet: as good as absent.
		exp.LessThan(expression.Value(now.Unix())),
		// The same request's attempt crashed: take it over.
		expression.And(status.Equal(expression.Value(IdempotencyInProgress)),
			ipe.LessThan(expression.Value(now.UnixMilli())),
			hash.Equal(expression.Value(requestHash))),
	)
	begin := s.put(item, build(expression.NewBuilder().WithCondition(cond)))
	var lastErr error
	for range maxBeginAttempts {
		err := s.write(ctx, begin)
		if err == nil {
			return nil, nil
		}
		if !conditionFailed(err, 0) {
			return nil, mapErr(err, "begin idempotent request")
		}
		lastErr = err
		rec, err := s.getIdempotent(ctx, userID, key)
		if err != nil {
			return nil, err
		}
		if out, free, err := rec.honoured(requestHash, now); !free {
			return out, err
		}
		// Gone, expired or past its in-progress expiry since: try again.
	}
	return nil, sandstep.Wrap(lastErr, sandstep.ETRANSIENT, "the idempotency record keeps changing; try again")
}

// LookupIdempotent answers as BeginIdempotent would for requestHash,
// writing nothing: nil, nil where it would begin the request, the
// completed record of the same request, or ECONFLICT. For a request that
// is not to run (its checks refused it), which must neither hold the key
// nor race an attempt that may.
func (s *Store) LookupIdempotent(ctx context.Context, userID, key, requestHash string) (*IdempotencyRecord, error) {
	if err := validateIdemKey(userID, key); err != nil {
		return nil, err
	}
	rec, err := s.getIdempotent(ctx, userID, key)
	if err != nil {
		return nil, err
	}
	out, _, err := rec.honoured(requestHash, s.now())
	return out, err
}

// honoured is what rec, the key's record (nil: none), means to a request
// of requestHash at now: free to begin, the completed record to replay, or
// ECONFLICT.
func (rec *idemRecord) honoured(requestHash string, now time.Time) (out *IdempotencyRecord, free bool, err error) {
	switch {
	case rec == nil || rec.ExpiresAt.Unix() < now.Unix():
		return nil, true, nil
	case rec.RequestHash != requestHash:
		return nil, false, sandstep.Errorf(sandstep.ECONFLICT, "this idempotency key was already used with a different request")
	case rec.Status == IdempotencyCompleted:
		return &rec.IdempotencyRecord, false, nil
	case rec.inProgressExpiry.UnixMilli() >= now.UnixMilli():
		return nil, false, sandstep.Errorf(sandstep.ECONFLICT, "a request with this idempotency key is in progress")
	}
	// In progress past its expiry: the attempt crashed or hangs.
	return nil, true, nil
}

func idemKey(userID, idemKey string) map[string]types.AttributeValue {
	return key(idemPK(userID, idemKey), skIdem)
}

type idemRecord struct {
	IdempotencyRecord
	inProgressExpiry time.Time
	attempt          string
}

func (s *Store) getIdempotent(ctx context.Context, userID, key string) (*idemRecord, error) {
	out, err := s.db.GetItem(ctx, &dynamo.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            idemKey(userID, key),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, mapErr(err, "read idempotency record")
	}
	if out.Item == nil {
		return nil, nil
	}
	rec := &idemRecord{}
	if v, ok := out.Item[attrIdemStatus].(*types.AttributeValueMemberS); ok {
		rec.Status = v.Value
	}
	if v, ok := out.Item[attrIdemHash].(*types.AttributeValueMemberS); ok {
		rec.RequestHash = v.Value
	}
	if v, ok := out.Item[attrIdemResp].(*types.AttributeValueMemberB); ok {
		rec.Response = v.Value
	}
	if v, ok := out.Item[attrIdemTry].(*types.AttributeValueMemberS); ok {
		rec.attempt = v.Value
	}
	if n, ok, err := numberAttr(out.Item, TTLAttribute); err != nil {
		return nil, err
	} else if ok {
		rec.ExpiresAt = time.Unix(n, 0).UTC()
	}
	if n, ok, err := numberAttr(out.Item, attrIdemIPE); err != nil {
		return nil, err
	} else if ok {
		rec.inProgressExpiry = time.UnixMilli(n).UTC()
	}
	return rec, nil
}

// CompleteIdempotent stores the response of the request in progress under
// the key and keeps it for Options.IdempotencyTTL (a repository's, for
// DeliveryRetention at least); retries then
// get it from BeginIdempotent. Only the attempt that began the record may
// complete it: ECONFLICT if no request with this key is in progress or
// another attempt has taken the record over (the record is then left as it
// is); ETOOLARGE (field "response") over MaxIdempotencyResponseSize.
func (s *Store) CompleteIdempotent(ctx context.Context, userID, key, attempt string, response []byte) error {
	if err := validateIdemKey(userID, key); err != nil {
		return err
	}
	if err := validateAttempt(attempt); err != nil {
		return err
	}
	if len(response) > MaxIdempotencyResponseSize {
		return &sandstep.Error{Code: sandstep.ETOOLARGE, Field: "response",
			Message: "a stored response may be at most " + strconv.Itoa(MaxIdempotencyResponseSize) + " bytes"}
	}
	update := expression.Set(expression.Name(attrIdemStatus), expression.Value(IdempotencyCompleted)).
		Set(expression.Name(TTLAttribute), expression.Value(s.now().Add(s.idempotencyTTLOf(userID)).Unix()))
	// An in-progress record has no response (BeginIdempotent writes the
	// whole item), so an empty response needs no REMOVE; the in-progress
	// expiry stays, unused once completed.
	if len(response) > 0 {
		update = update.Set(expression.Name(attrIdemResp), expression.Value(response))
	}
	err := s.write(ctx, s.update(idemKey(userID, key), build(expression.NewBuilder().WithCondition(ownedBy(attempt)).WithUpdate(update))))
	if conditionFailed(err, 0) && dynamo.EarlierTryMayHaveApplied(err) {
		// A try whose answer was lost may have completed it: the attempt
		// is unique, so a record it completed is this call's.
		if rec, rerr := s.getIdempotent(ctx, userID, key); rerr == nil && rec != nil && rec.Status == IdempotencyCompleted && rec.attempt == attempt {
			return nil
		}
	}
	if conditionFailed(err, 0) {
		return s.notOwned(ctx, err, userID, key)
	}
	return mapErr(err, "complete idempotent request")
}

// AbortIdempotent deletes the record the attempt began under the key so that
// a retry can proceed at once (use it when the request failed). Aborting a key
// with no record is a no-op; if the record has completed or another attempt
// has taken it over, AbortIdempotent deletes nothing and returns ECONFLICT.
func (s *Store) AbortIdempotent(ctx context.Context, userID, key, attempt string) error {
	if err := validateIdemKey(userID, key); err != nil {
		return err
	}
	if err := validateAttempt(attempt); err != nil {
		return err
	}
	err := s.write(ctx, s.remove(idemKey(userID, key), build(expression.NewBuilder().WithCondition(expression.Or(
		expression.AttributeNotExists(expression.Name(attrPK)),
		ownedBy(attempt),
	)))))
	if conditionFailed(err, 0) {
		return s.notOwned(ctx, err, userID, key)
	}
	return mapErr(err, "abort idempotent request")
}

// ownedBy is the condition that the record is in progress under attempt.
func ownedBy(attempt string) expression.ConditionBuilder {
	return expression.And(
		expression.Name(attrIdemStatus).Equal(expression.Value(IdempotencyInProgress)),
		expression.Name(attrIdemTry).Equal(expression.Value(attempt)),
	)
}

// notOwned explains the failed condition of ownedBy as an ECONFLICT. The
// record is read again only to choose the message; the write has already
// been refused, whatever the read finds.
func (s *Store) notOwned(ctx context.Context, condErr error, userID, key string) error {
	msg := "no request with this idempotency key is in progress"
	if rec, err := s.getIdempotent(ctx, userID, key); err == nil && rec != nil {
		switch rec.Status {
		case IdempotencyCompleted:
			msg = "the request with this idempotency key has completed"
		case IdempotencyInProgress:
			msg = "the request with this idempotency key was taken over by another attempt"
		}
	}
	return sandstep.Wrap(condErr, sandstep.ECONFLICT, "%s", msg)
}
