package testutil

import (
	"context"
	"time"

	"github.com/sandstep/sandstep/internal/pause"
)

// hold waits d, or until ctx ends (then false; an end within the last
// holdStretch is seen only after it), as exactly as the system allows: an
// injected latency late by a varying amount would blur the
// benchmark's ratios. Go's timers wake through the netpoller with
// millisecond timeouts; measured here, a 20 ms timer woke 0.19 ms late
// alone and 0.5 ms late when another timer had fired meanwhile, which
// charged a handler's overlapping calls more than a bare client's
// sequential ones. So the wait is a timer until the last stretch, then a
// sleep with the finest slack the system offers (sleepExactly).
func hold(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	if !pause.For(ctx, d-holdStretch) {
		return false
	}
	if rest := time.Until(deadline); rest > 0 {
		sleepExactly(rest)
	}
	return ctx.Err() == nil
}

// holdStretch is the end of a hold that sleepExactly waits: more than a
// timer's lateness.
const holdStretch = 2 * time.Millisecond
