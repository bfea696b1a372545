package service

import (
	"context"
	"sync"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Drain is the operator's drain switch (internal/drain). Drained answers
// from a per-instance cache and handles its own read failures (it fails
// open), so the service only asks.
type Drain interface {
	Drained(ctx context.Context) bool
}

// DrainedMessage is what a caller refused while the deployment is drained
// is told, and what a console start's execution fails with.
const DrainedMessage = "sandstep is drained for maintenance; retry later"

// While drained, nothing new is admitted: a create, an agent-execute, a
// task through the API and a console start are refused (EDRAINING); an
// issue's task waits in the queue (paused); what was admitted before goes
// on, and reads, commands in existing sandboxes, cancels and deletes work.

// drainCheck starts asking the switch beside whatever the caller does
// next (an idempotency record, secrets, the task's record), so that an
// instance whose cache has expired spends no round trip of its own on it.
// The returned function waits for the answer (EDRAINING while drained);
// it may be called any number of times, and must be called before the
// operation answers: Lambda freezes the process once it has.
func (s *Service) drainCheck(ctx context.Context) func() error {
	if s.drain == nil {
		return func() error { return nil }
	}
	answer := make(chan bool, 1)
	go func() { answer <- s.drain.Drained(ctx) }()
	return sync.OnceValue(func() error {
		if <-answer {
			return sandstep.Errorf(sandstep.EDRAINING, DrainedMessage)
		}
		return nil
	})
}
