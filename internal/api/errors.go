package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// classification is how the edge answers one error code: the HTTP status
// for API Gateway callers and the error name a state machine's Retry and
// Catch match on.
type classification struct {
	status int
	sfn    string
	// fault: the answer is ours to fix, not the caller's (the Faults
	// metric, whose rate pages someone); faultOf may exempt an error.
	fault bool
}

// codes is the one table of error codes at the edge. A code it does not
// know is answered as internal.
var codes = map[sandstep.Code]classification{
	sandstep.EINVALID:         {http.StatusBadRequest, "Sandbox.InvalidInput", false},
	sandstep.EUNAUTHENTICATED: {http.StatusUnauthorized, "Sandbox.NotFound", false},
	sandstep.ENOTFOUND:        {http.StatusNotFound, "Sandbox.NotFound", false},
	sandstep.ECONFLICT:        {http.StatusConflict, "Sandbox.Conflict", false},
	sandstep.ETOOLARGE:        {http.StatusRequestEntityTooLarge, "Sandbox.InvalidInput", false},
	sandstep.EQUOTA:           {http.StatusTooManyRequests, "Sandbox.QuotaExceeded", false},
	sandstep.ECAPACITY:        {http.StatusServiceUnavailable, "Sandbox.Capacity", false},
	sandstep.EQUEUED:          {http.StatusTooManyRequests, "Sandbox.Queued", false},
	sandstep.EDRAINING:        {http.StatusServiceUnavailable, "Sandbox.Draining", false},
	sandstep.ETRANSIENT:       {http.StatusServiceUnavailable, "Sandbox.Transient", true},
	sandstep.ETIMEOUT:         {http.StatusGatewayTimeout, "Sandbox.Timeout", false},
	sandstep.EINTERNAL:        {http.StatusInternalServerError, "Sandbox.Internal", true},
}

// DefaultCapacityRetryAfter is the Retry-After of a capacity error that
// names no wait of its own: capacity comes back as other sandboxes end.
const DefaultCapacityRetryAfter = time.Minute

// DrainRetryAfter is the Retry-After of a drained deployment's refusal: a
// resume is seen by every instance within the switch's 30 s cache, and a
// maintenance lasts minutes.
const DrainRetryAfter = time.Minute

// retryAfter is the Retry-After header of err, in whole seconds, or "".
func retryAfter(err error) string {
	d := sandstep.ErrorRetryAfter(err)
	if d == 0 {
		switch sandstep.ErrorCode(err) {
		case sandstep.ECAPACITY:
			d = DefaultCapacityRetryAfter
		case sandstep.EDRAINING:
			d = DrainRetryAfter
		}
	}
	if d <= 0 {
		return ""
	}
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}

// classify returns how to answer code.
func classify(code sandstep.Code) classification {
	if c, ok := codes[code]; ok {
		return c
	}
	return codes[sandstep.EINTERNAL]
}

// faultOf reports whether answering err is a fault: its code's, except a
// refusal for the deployment's create rate (DAYTONA_CREATE_RATE), which is
// that limit serving a burst at the rate, as designed. Daytona's own 429,
// met despite the shared budget, is no such refusal and stays a fault.
// Nor is a task's CreateSandbox attempt refused by another attempt's claim
// (the state machine asks again while the first invocation runs).
func faultOf(err error) bool {
	return classify(sandstep.ErrorCode(err)).fault && !expectedRefusal(err)
}

// expectedRefusal reports whether err is a transient refusal that is a
// limit or a claim at work, not a failure: no fault, logged as a warning.
func expectedRefusal(err error) bool {
	return errors.Is(err, sandstep.ErrCreateRate) || errors.Is(err, sandstep.ErrCreateClaimed)
}

// HTTPStatus maps a code to its HTTP status.
func HTTPStatus(code sandstep.Code) int { return classify(code).status }

// StepFunctionsName maps a code to the error name a state machine's Retry
// and Catch match on.
func StepFunctionsName(code sandstep.Code) string { return classify(code).sfn }
