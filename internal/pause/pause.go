// Package pause waits a while unless a context ends first: the one home
// of the timer and select behind every retry's pause, poll and injected
// latency.
package pause

import (
	"context"
	"time"
)

// For waits d, or until ctx ends; it reports whether d passed. A d of
// zero or less passes at once, unless ctx has ended.
func For(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
