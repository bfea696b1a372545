// Package drain is the operator's drain switch: an SSM parameter that,
// while it holds "true", stops the deployment from admitting new
// sandboxes and tasks (make drain, make resume). Each instance reads it at
// most once per MaxAge and answers from what it last read in between, so
// flipping it costs no deploy and checking it costs no round trip on a
// warm instance's hot path.
package drain

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sandstep/sandstep/internal/awsjson"
)

// MaxAge is the longest an instance answers from its last read: the one
// home of the "at most 30 s" an operator waits for a flip to take hold.
const MaxAge = 30 * time.Second

// DrainedValue is the one value of the parameter that drains; anything else,
// or no parameter at all, is not drained.
const DrainedValue = "true"

// readTimeout bounds one read: an SSM outage must not hold a create up
// for long (see Switch.Drained).
const readTimeout = 2 * time.Second

// Parameters reads SSM parameters (awsjson.SSM).
type Parameters interface {
	GetParameter(ctx context.Context, name string, decrypt bool) (string, error)
}

// Options tune a Switch; zero values take the defaults.
type Options struct {
	// MaxAge is how long a read is trusted, at most (and by default)
	// MaxAge. Negative: every call reads, for tests and the local stack's
	// tests, which flip the switch and look at once.
	MaxAge time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

// Switch answers whether the deployment is drained. Safe for concurrent
// use.
type Switch struct {
	params Parameters
	name   string
	maxAge time.Duration
	now    func() time.Time
	logger *slog.Logger

	mu       sync.Mutex
	read     bool // a read was made (or tried)
	renewing bool // a Renew's read is under way
	drained  bool
	readAt   time.Time
}

// New returns the switch kept in the parameter named name.
func New(params Parameters, name string, opts Options) *Switch {
	s := &Switch{params: params, name: name, maxAge: opts.MaxAge, now: opts.Now, logger: opts.Logger}
	if s.maxAge == 0 || s.maxAge > MaxAge {
		s.maxAge = MaxAge
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s
}

// Renew reads the parameter again if the last read is at least half of
// MaxAge old, so that an instance in steady use renews its value beside
// its operations (after Drained answered) and its next Drained does not
// wait for SSM. A caller runs it before its operation answers: Lambda
// freezes the process once it has.
func (s *Switch) Renew(ctx context.Context) {
	s.mu.Lock()
	due := s.maxAge > 0 && s.read && !s.renewing && s.now().Sub(s.readAt) >= s.maxAge/2
	s.renewing = s.renewing || due
	s.mu.Unlock()
	if due {
		s.update(ctx, s.now())
	}
}

// Drained reports whether the deployment is drained, from the last read
// while it is younger than MaxAge, else from a new one. A read that fails
// keeps what was last known (not drained before any read) and is logged:
// the switch is an operator's convenience, not a safety control, so an
// SSM outage or a missing permission must not stop the service. The
// failed read counts as a read, so an outage costs each instance one try
// per MaxAge, not one per request.
func (s *Switch) Drained(ctx context.Context) bool {
	now := s.now()
	s.mu.Lock()
	fresh := s.read && now.Sub(s.readAt) < s.maxAge
	drained := s.drained
	s.mu.Unlock()
	if fresh {
		return drained
	}
	return s.update(ctx, now)
}

// update reads the parameter as of now and keeps what it found.
func (s *Switch) update(ctx context.Context, now time.Time) bool {
	value, err := s.fetch(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil:
		s.logger.WarnContext(ctx, "the drain switch was not read; going on as last known", "parameter", s.name, "drained", s.drained, "err", err)
	case value != DrainedValue && value != "" && value != "false":
		s.logger.WarnContext(ctx, "the drain switch holds neither true nor false: not drained", "parameter", s.name, "value", value)
		s.drained = false
	default:
		s.drained = value == DrainedValue
	}
	s.read, s.readAt, s.renewing = true, now, false
	return s.drained
}

// fetch reads the parameter: "" when there is none.
func (s *Switch) fetch(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	v, err := s.params.GetParameter(ctx, s.name, false)
	var api *awsjson.APIError
	if errors.As(err, &api) && api.Code == "ParameterNotFound" {
		return "", nil
	}
	return strings.TrimSpace(v), err
}
