package app

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// After a rotation, the first call refused with the old key may be one
// whose own context ends while it reads the parameter again: a step's
// short budget, a request whose caller went away, a Daytona read the
// service stops because it no longer needs it (overlap's stop). That read
// says nothing about SSM, and the rotated key is still unread; it must
// not count as the minute's reread. Otherwise every call of the instance
// is refused for the next minute (Daytona calls fail 500 and task steps
// fail, App tokens are refused, deliveries answered 401 and lost), though
// the parameter holds the key that would be accepted.
func TestRereadCancelledByItsCallerIsNotTheMinutesRead(t *testing.T) {
	const (
		rotated   = 20 * time.Second
		cancelled = 21 * time.Second // the refused call whose context ends during the read
		next      = 25 * time.Second // the next call, within the minute
	)
	for _, tc := range rotations {
		t.Run(tc.name, func(t *testing.T) {
			var clock atomic.Int64
			ssm := fakeSSM(t, map[string]string{})
			k := tc.setup(t, ssm, &clock)
			if err := k.use(context.Background()); err != nil {
				t.Fatalf("refused before the rotation: %v", err)
			}
			clock.Store(int64(rotated))
			k.rotate()

			// The first refused call's context ends while SSM is slow.
			clock.Store(int64(cancelled))
			ssm.stalled.Store(true)
			// (The webhook keeps a second of it for its answer.)
			ctx, cancel := context.WithTimeout(context.Background(), 1300*time.Millisecond)
			if k.use(ctx) == nil {
				t.Fatal("accepted with the old key and the parameter unread")
			}
			cancel()

			// SSM answers again; the next call has all the time it needs.
			ssm.stalled.Store(false)
			close(ssm.release)
			clock.Store(int64(next))
			if err := k.use(context.Background()); err != nil {
				t.Errorf("refused %s after the rotation, with the rotated value in the parameter: the read its caller cut short %s earlier counted as the minute's reread (%v)",
					next-rotated, next-cancelled, err)
			}
		})
	}
}
