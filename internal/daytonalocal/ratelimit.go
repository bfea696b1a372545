package daytonalocal

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// RateLimit is a fixed-window limit on one kind of request, counted as
// Daytona counts its throttlers: every request the throttler lets through
// counts, whatever its handler answers; a refused one does not.
//
// Windows are fixed and aligned to multiples of Window since the Unix epoch
// (by Options.Clock), so a client that counts its requests in the same
// windows agrees with the server exactly. Daytona's own throttler differs
// here: its window starts at the first request after the last one ended.
type RateLimit struct {
	// Limit is how many requests one window admits; 0: no limit (and no
	// X-RateLimit-* headers).
	Limit int
	// Window is the length of a window; required with a Limit.
	Window time.Duration
}

func (l RateLimit) validate(field string) error {
	if l.Limit < 0 {
		return errors.New("daytonalocal: Options." + field + ".Limit must not be negative")
	}
	if l.Limit > 0 && l.Window <= 0 {
		return errors.New("daytonalocal: Options." + field + ".Window must be positive with a Limit")
	}
	return nil
}

// RateLimited reports how many createSandbox requests Options.CreateRate
// has refused.
func (s *Server) RateLimited() int { return s.createRate.refusedCount() }

// CreateRequests reports how many createSandbox requests have arrived
// while the server was open, whatever their answer (refused, faulted,
// failed or served).
func (s *Server) CreateRequests() int { return int(s.createsSeen.Load()) }

// windowLimiter enforces a RateLimit.
type windowLimiter struct {
	rate RateLimit

	mu      sync.Mutex
	start   int64 // the counted window's start, in ns since the epoch
	begun   bool  // start is set
	used    int   // admitted in that window
	refused int   // refused in all windows
}

// admit counts a request at now. It reports whether the request is
// admitted, how many more the window admits after it and the whole
// seconds (at least 1) until the window ends.
//
// The counted window only moves forward: a request whose time was read
// before a boundary but that takes the lock after one past it counts in
// the newer window, as it reaches the server now; moving back would start
// the older window's count afresh and, once a later request moved it
// forward again, the newer window's too, admitting more than the limit.
func (l *windowLimiter) admit(now time.Time) (ok bool, remaining, reset int) {
	n, w := now.UnixNano(), int64(l.rate.Window)
	start := n - n%w
	if n%w < 0 {
		start -= w
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.begun || start > l.start {
		l.start, l.used, l.begun = start, 0, true
	}
	n = max(n, l.start)
	reset = int((l.start + w - n + int64(time.Second) - 1) / int64(time.Second))
	reset = max(reset, 1)
	if l.used >= l.rate.Limit {
		l.refused++
		return false, 0, reset
	}
	l.used++
	return true, l.rate.Limit - l.used, reset
}

func (l *windowLimiter) refusedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refused
}

// limitCreate applies Options.CreateRate to a createSandbox request: an
// admitted one gets the X-RateLimit-*-sandbox-create headers and goes on,
// one beyond the limit is answered 429 here.
func (s *Server) limitCreate(w http.ResponseWriter, r *http.Request) bool {
	rate := s.createRate.rate
	if rate.Limit == 0 {
		return true
	}
	const name = "sandbox-create"
	ok, remaining, reset := s.createRate.admit(s.now())
	if !ok {
		s.log.Info("daytonalocal rate limited", "throttler", name, "limit", rate.Limit, "window", rate.Window)
		s.writeRateLimited(w, r, name, rate.Limit, reset)
		return false
	}
	setRateHeaders(w.Header(), name, rate.Limit, remaining, reset)
	return true
}

// writeRateLimited answers 429 as Daytona's throttler name does: its error
// body, Retry-After and Retry-After-<name> of secs, and the
// X-RateLimit-*-<name> headers with nothing remaining.
func (s *Server) writeRateLimited(w http.ResponseWriter, r *http.Request, name string, limit, secs int) {
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(secs))
	h.Set("Retry-After-"+name, strconv.Itoa(secs))
	setRateHeaders(h, name, limit, 0, secs)
	s.errorFor(w, r, http.StatusTooManyRequests, "", "ThrottlerException: Too Many Requests")
}

func setRateHeaders(h http.Header, name string, limit, remaining, reset int) {
	h.Set("X-RateLimit-Limit-"+name, strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining-"+name, strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset-"+name, strconv.Itoa(reset))
}
