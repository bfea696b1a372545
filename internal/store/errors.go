package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/awsjson"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// Cancellation reason codes of TransactionCanceledException.
const (
	reasonNone              = "None"
	reasonConditionalFailed = "ConditionalCheckFailed"
	reasonConflict          = "TransactionConflict"
)

// transientCodes are DynamoDB error codes (API errors and transaction
// cancellation reasons) after which the same request may succeed later.
var transientCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"ProvisionedThroughputExceeded":          true,
	"RequestLimitExceeded":                   true,
	"ThrottlingException":                    true,
	"ThrottlingError":                        true,
	"TransactionConflictException":           true,
	"TransactionConflict":                    true,
	"TransactionInProgressException":         true,
	"ReplicatedWriteConflictException":       true,
	"InternalServerError":                    true,
	"ServiceUnavailable":                     true,
}

// txReasons returns the cancellation reason codes of a cancelled write,
// one per item in order, and whether err is one. A single-item write (see
// write) that failed its condition has the one reason ConditionalCheckFailed.
func txReasons(err error) ([]string, bool) {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return []string{reasonConditionalFailed}, true
	}
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil, false
	}
	codes := make([]string, len(tce.CancellationReasons))
	for i, r := range tce.CancellationReasons {
		codes[i] = aws.ToString(r.Code)
		if codes[i] == "" {
			codes[i] = reasonNone
		}
	}
	return codes, true
}

// failedImage returns item i's image as it was when its condition failed,
// when the write asked for it (ReturnValuesOnConditionCheckFailure): the
// failed write's own answer, sparing a read. nil when there is none.
func failedImage(err error, i int) map[string]types.AttributeValue {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ccf.Item
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) && i < len(tce.CancellationReasons) {
		return tce.CancellationReasons[i].Item
	}
	return nil
}

// txTransient reports whether any reason of a cancelled transaction is
// transient: retrying may then succeed, whatever the other reasons say.
func txTransient(reasons []string) bool {
	for _, r := range reasons {
		if transientCodes[r] {
			return true
		}
	}
	return false
}

// txConditionFailed reports whether item i of a cancelled transaction failed
// its condition, and no item was cancelled for a transient reason.
func txConditionFailed(reasons []string, i int) bool {
	return !txTransient(reasons) && i < len(reasons) && reasons[i] == reasonConditionalFailed
}

// conditionFailed reports whether item i of a failed write failed its
// condition, and nothing failed for a transient reason.
func conditionFailed(err error, i int) bool {
	reasons, ok := txReasons(err)
	return ok && txConditionFailed(reasons, i)
}

// isValidation says whether err is DynamoDB's ValidationException: for a
// held slot's path, the map it names does not exist.
func isValidation(err error) bool {
	var ae *awsjson.APIError
	return errors.As(err, &ae) && ae.Code == "ValidationException"
}

// refusedForGood says whether DynamoDB answered err, refusing the request
// for what it is (a 4xx other than a throttle): sending it again would be
// refused again. A network error, a timeout or a busy database is not.
func refusedForGood(err error) bool {
	var ae *awsjson.APIError
	return errors.As(err, &ae) && ae.StatusCode >= 400 && ae.StatusCode < 500 && !transientCodes[ae.Code]
}

// mapErr turns an error of a DynamoDB call into a domain error; op says what
// the store was doing. Errors that already carry a code, and context errors
// (which sandstep.ErrorCode classifies), keep their classification. Nothing is
// swallowed: the DynamoDB error stays in the chain as the cause.
func mapErr(err error, op string) error {
	if err == nil {
		return nil
	}
	var se *sandstep.Error
	if errors.As(err, &se) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	if reasons, ok := txReasons(err); ok {
		switch {
		case txTransient(reasons):
			return sandstep.Wrap(err, sandstep.ETRANSIENT, "store: %s: the database is busy (%s); try again", op, strings.Join(reasons, ", "))
		case slices.Contains(reasons, reasonConditionalFailed):
			return sandstep.Wrap(err, sandstep.ECONFLICT, "store: %s: the stored record changed or is in another state", op)
		case slices.Contains(reasons, "ItemCollectionSizeLimitExceeded"):
			return sandstep.Wrap(err, sandstep.ETOOLARGE, "store: %s: item collection size limit exceeded", op)
		}
		return sandstep.Wrap(err, sandstep.EINTERNAL, "store: %s: transaction cancelled (%s)", op, strings.Join(reasons, ", "))
	}
	var ae *awsjson.APIError
	if errors.As(err, &ae) {
		switch {
		case transientCodes[ae.Code]:
			return sandstep.Wrap(err, sandstep.ETRANSIENT, "store: %s: the database is busy; try again", op)
		case ae.Code == "ValidationException" && strings.Contains(strings.ToLower(ae.Message), "size"):
			return sandstep.Wrap(err, sandstep.ETOOLARGE, "store: %s: item too large", op)
		case ae.StatusCode >= 500:
			return sandstep.Wrap(err, sandstep.ETRANSIENT, "store: %s: the database is unavailable; try again", op)
		}
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return sandstep.Wrap(err, sandstep.ETRANSIENT, "store: %s: the database is unreachable; try again", op)
	}
	return sandstep.Wrap(err, sandstep.EINTERNAL, "store: %s failed", op)
}
