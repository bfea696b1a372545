package daytonalocal

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytona"
)

func TestCreateRateLimit(t *testing.T) {
	// One create: advance the clock first, then expect status and the
	// sandbox-create headers ("" means the header must be absent).
	type step struct {
		advance          time.Duration
		status           int
		remaining, reset string
	}
	const hdr = "-sandbox-create"
	tests := []struct {
		name    string
		rate    RateLimit
		start   time.Time
		steps   []step
		refused int
	}{
		{
			// 03:04:05 is 5s into its minute: the window is the epoch's,
			// not one starting at the first request.
			name:  "within the limit remaining counts down",
			rate:  RateLimit{Limit: 3, Window: time.Minute},
			start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			steps: []step{
				{0, 200, "2", "55"},
				{10 * time.Second, 200, "1", "45"},
				{0, 200, "0", "45"},
			},
		},
		{
			name:  "beyond the limit is refused and creates nothing",
			rate:  RateLimit{Limit: 2, Window: time.Minute},
			start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			steps: []step{
				{0, 200, "1", "55"},
				{0, 200, "0", "55"},
				{0, 429, "0", "55"},
				{54 * time.Second, 429, "0", "1"},
			},
			refused: 2,
		},
		{
			name:  "the next window serves again",
			rate:  RateLimit{Limit: 1, Window: time.Minute},
			start: time.Date(2026, 1, 2, 3, 4, 59, 0, time.UTC),
			steps: []step{
				{0, 200, "0", "1"},
				{0, 429, "0", "1"},
				{time.Second, 200, "0", "60"},
				{59 * time.Second, 429, "0", "1"},
				{time.Second, 200, "0", "60"},
			},
			refused: 2,
		},
		{
			// Unix 1000.5 is 6.5s into [994, 1001): half a second left is
			// reported as 1, never 0.
			name:  "a window that does not divide a minute rounds up",
			rate:  RateLimit{Limit: 1, Window: 7 * time.Second},
			start: time.Unix(1000, 5e8),
			steps: []step{
				{0, 200, "0", "1"},
				{0, 429, "0", "1"},
				{time.Second, 200, "0", "7"},
			},
			refused: 1,
		},
		{
			name:  "zero limit adds no headers",
			rate:  RateLimit{},
			start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			steps: []step{{0, 200, "", ""}, {0, 200, "", ""}, {0, 200, "", ""}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{now: tt.start}
			h := newHarness(t, Options{Clock: clock.Now, CreateRate: tt.rate})
			created := 0
			for i, st := range tt.steps {
				clock.Advance(st.advance)
				r := h.api("POST", "/sandbox", map[string]any{})
				if r.status != st.status {
					t.Fatalf("create %d: status %d, want %d (body %s)", i, r.status, st.status, r.body)
				}
				want := map[string]string{
					"X-RateLimit-Limit" + hdr:     "",
					"X-RateLimit-Remaining" + hdr: st.remaining,
					"X-RateLimit-Reset" + hdr:     st.reset,
					"Retry-After":                 "",
					"Retry-After" + hdr:           "",
				}
				if st.remaining != "" {
					want["X-RateLimit-Limit"+hdr] = strconv.Itoa(tt.rate.Limit)
				}
				if st.status == http.StatusOK {
					created++
				} else {
					checkAPIError(t, r, http.StatusTooManyRequests, "Too Many Requests")
					want["Retry-After"], want["Retry-After"+hdr] = st.reset, st.reset
				}
				for k, v := range want {
					if got := r.header.Get(k); got != v {
						t.Errorf("create %d: %s = %q, want %q", i, k, got, v)
					}
				}
			}
			if got := len(h.listStates()); got != created {
				t.Errorf("sandboxes = %d, want %d", got, created)
			}
			if got := h.srv.RateLimited(); got != tt.refused {
				t.Errorf("RateLimited = %d, want %d", got, tt.refused)
			}
			if got := h.srv.CreateRequests(); got != len(tt.steps) {
				t.Errorf("CreateRequests = %d, want %d", got, len(tt.steps))
			}
		})
	}
}

func TestCreateRateLimitedIsARateLimitErrorToTheClient(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 50, 0, time.UTC)}
	h := newHarness(t, Options{Clock: clock.Now, CreateRate: RateLimit{Limit: 1, Window: time.Minute}})
	c, err := daytona.New(daytona.Config{APIKey: testToken, APIURL: h.ts.URL + "/api",
		Retry: daytona.RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 30*time.Second)
	if _, err := c.CreateSandbox(ctx, daytona.CreateSandboxParams{Name: "first"}); err != nil {
		t.Fatalf("first create: %v", err)
	}
	_, err = c.CreateSandbox(ctx, daytona.CreateSandboxParams{Name: "second"})
	var rl *daytona.RateLimitError
	if !errors.As(err, &rl) {
		t.Fatalf("second create: %v (%T), want a *daytona.RateLimitError", err, err)
	}
	if rl.StatusCode != http.StatusTooManyRequests || rl.RetryAfter != 10*time.Second {
		t.Errorf("RateLimitError status %d, RetryAfter %v; want 429, 10s", rl.StatusCode, rl.RetryAfter)
	}
	if got := h.srv.RateLimited(); got != 1 {
		t.Errorf("RateLimited = %d, want 1", got)
	}
}

func TestCreateRateValidated(t *testing.T) {
	tests := []struct {
		name string
		rate RateLimit
	}{
		{"negative limit", RateLimit{Limit: -1, Window: time.Minute}},
		{"limit without a window", RateLimit{Limit: 5}},
		{"negative window", RateLimit{Limit: 5, Window: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if srv, err := New(Options{Root: t.TempDir(), CreateRate: tt.rate}); err == nil {
				srv.Close()
				t.Fatalf("New accepted CreateRate %+v", tt.rate)
			}
		})
	}
}

// A request's time is read before it takes the limiter's lock, so one
// read just before a boundary may be counted after a request past it: it
// counts in the newer window, which never moves back.
func TestWindowLimiterNeverMovesBack(t *testing.T) {
	boundary := time.Unix(0, 0).Add(100 * time.Minute)
	tests := []struct {
		name      string
		at        []time.Duration // each request's time, from the boundary
		admitted  int
		lastReset int // the last request's reset, whole seconds
	}{
		{
			name:     "in order: two windows of two",
			at:       []time.Duration{-time.Second, -time.Second, 0, time.Millisecond, 2 * time.Millisecond},
			admitted: 4, lastReset: 60,
		},
		{
			name: "a straggler of the full older window counts in the newer, also full",
			at: []time.Duration{-time.Second, -time.Second, 0, time.Millisecond,
				-time.Microsecond, 2 * time.Millisecond, 3 * time.Millisecond},
			admitted: 4, lastReset: 60,
		},
		{
			name:     "a straggler takes the newer window's room",
			at:       []time.Duration{-time.Second, 0, -time.Microsecond, time.Millisecond},
			admitted: 3, lastReset: 60,
		},
		{
			name:     "a straggler's reset is the newer window's, from its start",
			at:       []time.Duration{0, -30 * time.Second},
			admitted: 2, lastReset: 60,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := windowLimiter{rate: RateLimit{Limit: 2, Window: time.Minute}}
			admitted, reset := 0, 0
			for _, d := range tt.at {
				var ok bool
				ok, _, reset = l.admit(boundary.Add(d))
				if ok {
					admitted++
				}
			}
			if admitted != tt.admitted || reset != tt.lastReset {
				t.Errorf("admitted %d, last reset %d; want %d and %d", admitted, reset, tt.admitted, tt.lastReset)
			}
			if got := l.refusedCount(); got != len(tt.at)-tt.admitted {
				t.Errorf("refused %d, want %d", got, len(tt.at)-tt.admitted)
			}
		})
	}
}
