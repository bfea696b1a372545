package daytona

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CreateLimiter is the name of Daytona's limit on sandbox creates, as its
// X-RateLimit-*-<name> and Retry-After-<name> headers spell it.
const CreateLimiter = "sandbox-create"

// RateBudget is what an answer's X-RateLimit-*-<name> headers said of one
// of Daytona's limits.
type RateBudget struct {
	Limit, Remaining int
	// ResetAt is when the limit's window ends, by this machine's clock
	// (the answer says how many seconds from its arrival).
	ResetAt time.Time
}

// Spent says the window has nothing left: a request before ResetAt is
// refused.
func (b RateBudget) Spent() bool { return b.Remaining == 0 }

// tellBudget tells p.Budget what the create's answer said of the create
// limit, if the answer came and said it.
func (p CreateSandboxParams) tellBudget(cl *call) {
	if p.Budget == nil || cl.answer == nil {
		return
	}
	if b, ok := budgetOf(cl.answer, CreateLimiter, time.Now()); ok {
		p.Budget(b)
	}
}

// maxReset bounds a window's reset: Daytona's are a minute long, and a
// larger count is no wait of this limit's (an epoch time, a garbled value).
const maxReset = time.Hour

// budgetOf reads limiter name's headers from h, an answer that arrived at
// now. False when h lacks any of them or one is not a count, or they do
// not agree (more remaining than the limit, a reset beyond maxReset): a
// partial or implausible budget would be a guess.
func budgetOf(h http.Header, name string, now time.Time) (RateBudget, bool) {
	var n [3]int
	for i, field := range [...]string{"Limit", "Remaining", "Reset"} {
		v, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-" + field + "-" + name)))
		if err != nil || v < 0 {
			return RateBudget{}, false
		}
		n[i] = v
	}
	if n[1] > n[0] || n[2] > int(maxReset/time.Second) {
		return RateBudget{}, false
	}
	return RateBudget{Limit: n[0], Remaining: n[1], ResetAt: now.Add(time.Duration(n[2]) * time.Second)}, true
}
