package service

import (
	"context"
	"sync"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Drain is the operator's drain switch (internal/drain). Drained answers
// from a per-instance cache and handles its own read failures (it fails
// open), so the service only asks; Renew refreshes an ageing cache beside
// the operation, so that a warm instance's Drained never waits for SSM.
type Drain interface {
	Drained(ctx context.Context) bool
	Renew(ctx context.Context)
}

// DrainedMessage is what a caller refused while the deployment is drained
// is told, and what a console start's execution fails with.
const DrainedMessage = "sandstep is drained for maintenance; retry later"

// While drained, nothing new is admitted: a create, an agent-execute, a
// task through the API and a console start are refused (EDRAINING); an
// issue's task waits in the queue (paused); what was admitted before goes
// on, and reads, commands in existing sandboxes, cancels and deletes work.

// drainCheck starts asking the switch beside whatever the caller does
// next (an idempotency record, secrets, the task's record, and after the
// answer the rest of the operation), so that the read costs no round trip
// of its own on a warm instance. admit waits for the answer (EDRAINING
// while drained) and may be called any number of times; done waits for
// everything drainCheck started, and must be called before the operation
// answers: Lambda freezes the process once it has.
func (s *Service) drainCheck(ctx context.Context) (admit func() error, done func()) {
	if s.drain == nil {
		return func() error { return nil }, func() {}
	}
	answer, finished := make(chan bool, 1), make(chan struct{})
	go func() {
		defer close(finished)
		answer <- s.drain.Drained(ctx)
		s.drain.Renew(ctx)
	}()
	admit = sync.OnceValue(func() error {
		if <-answer {
			return sandstep.Errorf(sandstep.EDRAINING, DrainedMessage)
		}
		return nil
	})
	return admit, func() { <-finished }
}
