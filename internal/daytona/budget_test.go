package daytona

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// budgetHeader is the X-RateLimit-*-<limiter> headers.
func budgetHeader(limiter, limit, remaining, reset string) map[string]string {
	return map[string]string{"X-RateLimit-Limit-" + limiter: limit, "X-RateLimit-Remaining-" + limiter: remaining, "X-RateLimit-Reset-" + limiter: reset}
}

// Each answer to a create tells what is left of Daytona's create limit as
// it arrives, before the sandbox has started and also when it fails to;
// a 429 does not (its error carries the wait).
func TestCreateTellsTheCreateBudget(t *testing.T) {
	spent := budgetHeader(CreateLimiter, "300", "0", "12")
	tests := []struct {
		name   string
		header map[string]string
		status int
		body   map[string]any
		want   *RateBudget // but ResetAt
		reset  time.Duration
	}{
		{name: "spent", header: spent, status: 200, body: sandboxJSON("id-1", "ss-1", StateStarted, ""),
			want: &RateBudget{Limit: 300, Remaining: 0}, reset: 12 * time.Second},
		{name: "some left", header: budgetHeader(CreateLimiter, "300", "7", "40"), status: 200, body: sandboxJSON("id-1", "ss-1", StateStarted, ""),
			want: &RateBudget{Limit: 300, Remaining: 7}, reset: 40 * time.Second},
		{name: "spent by a create that failed", header: spent, status: 400, body: map[string]any{"statusCode": 400, "message": "Sandbox failed to start: boom"},
			want: &RateBudget{Limit: 300, Remaining: 0}, reset: 12 * time.Second},
		{name: "refused for the rate", header: spent, status: 429, body: map[string]any{"statusCode": 429, "message": "ThrottlerException: Too Many Requests"}},
		{name: "no headers", status: 200, body: sandboxJSON("id-1", "ss-1", StateStarted, "")},
		{name: "another limiter's headers", header: budgetHeader("authenticated", "10000", "0", "3"), status: 200, body: sandboxJSON("id-1", "ss-1", StateStarted, "")},
		{name: "a reset that is not a count", header: budgetHeader(CreateLimiter, "300", "0", "soon"), status: 200, body: sandboxJSON("id-1", "ss-1", StateStarted, "")},
		{name: "a remaining below zero", header: budgetHeader(CreateLimiter, "300", "-1", "3"), status: 200, body: sandboxJSON("id-1", "ss-1", StateStarted, "")},
		{name: "more remaining than the limit", header: budgetHeader(CreateLimiter, "300", "301", "3"), status: 200, body: sandboxJSON("id-1", "ss-1", StateStarted, "")},
		{name: "a reset that is a time, not a wait", header: budgetHeader(CreateLimiter, "300", "0", "1765000000"), status: 200, body: sandboxJSON("id-1", "ss-1", StateStarted, "")},
		{name: "a reset beyond time.Duration", header: budgetHeader(CreateLimiter, "300", "0", "9300000000"), status: 200, body: sandboxJSON("id-1", "ss-1", StateStarted, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				writeJSON(w, tt.status, tt.body)
			})
			c := newClient(t, f.URL, func(c *Config) { c.Retry.MaxAttempts = 1 })
			var told []RateBudget
			before := time.Now()
			_, _ = c.CreateSandbox(context.Background(), CreateSandboxParams{Budget: func(b RateBudget) { told = append(told, b) }})
			after := time.Now()
			switch {
			case tt.want == nil && len(told) != 0:
				t.Errorf("told %+v, want nothing", told)
			case tt.want == nil:
			case len(told) != 1 || told[0].Limit != tt.want.Limit || told[0].Remaining != tt.want.Remaining:
				t.Errorf("told %+v, want once %+v", told, *tt.want)
			case told[0].ResetAt.Before(before.Add(tt.reset)) || told[0].ResetAt.After(after.Add(tt.reset)):
				t.Errorf("window ends at %v, want %v after the answer (between %v and %v)", told[0].ResetAt, tt.reset, before, after)
			case told[0].Spent() != (tt.want.Remaining == 0):
				t.Errorf("Spent() = %v with %d remaining", told[0].Spent(), tt.want.Remaining)
			}
		})
	}
}

// The budget is told when the create answers, not once the sandbox has
// started: the other creates must be held back while it starts.
func TestCreateAndWaitTellsTheBudgetBeforeTheStart(t *testing.T) {
	var mu sync.Mutex
	var told bool
	var gets, getsBeforeTold int
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.Method == http.MethodPost {
			for k, v := range budgetHeader(CreateLimiter, "300", "0", "12") {
				w.Header().Set(k, v)
			}
			writeJSON(w, 200, sandboxJSON("id-1", "ss-1", StateCreating, ""))
			return
		}
		mu.Lock()
		gets++
		if !told {
			getsBeforeTold++
		}
		state := StateStarting
		if gets >= 3 {
			state = StateStarted
		}
		mu.Unlock()
		writeJSON(w, 200, sandboxJSON("id-1", "ss-1", state, ""))
	})
	c := newClient(t, f.URL)
	_, err := c.CreateSandboxAndWait(context.Background(), CreateSandboxParams{Name: "ss-1", Budget: func(RateBudget) {
		mu.Lock()
		defer mu.Unlock()
		told = true
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !told || getsBeforeTold != 0 || gets < 3 {
		t.Errorf("told %v after %d of %d looks at the starting sandbox, want told before the first", told, getsBeforeTold, gets)
	}
}
