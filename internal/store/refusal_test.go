package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Every refusal for the create rate has the one form clients rely on: a
// transient ErrCreateRate naming the marker and a wait of a second at
// least, which it carries; a cause stays reachable.
func TestRefuseForRate(t *testing.T) {
	cause := errors.New("TransactionConflict")
	for _, tt := range []struct {
		name  string
		cause error
		wait  time.Duration
		want  time.Duration
	}{
		{"a wait", nil, 12500 * time.Millisecond, 12500 * time.Millisecond},
		{"a wait already over", nil, -time.Second, minRateRetry},
		{"a wait under a second", nil, 200 * time.Millisecond, minRateRetry},
		{"with a cause", cause, time.Second, time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := refuseForRate(tt.cause, tt.wait, "why")
			if sandstep.ErrorCode(err) != sandstep.ETRANSIENT || !errors.Is(err, sandstep.ErrCreateRate) || sandstep.ErrorRetryAfter(err) != tt.want {
				t.Errorf("refusal %v: code %s, retry after %s; want transient ErrCreateRate after %s", err, sandstep.ErrorCode(err), sandstep.ErrorRetryAfter(err), tt.want)
			}
			if msg := sandstep.ErrorMessage(err); !strings.HasPrefix(msg, "why "+RateRefusalMarker+"; try again in ") {
				t.Errorf("message %q does not name the marker and the wait", msg)
			}
			if tt.cause != nil && !errors.Is(err, tt.cause) {
				t.Errorf("the cause is lost: %v", err)
			}
		})
	}
}
