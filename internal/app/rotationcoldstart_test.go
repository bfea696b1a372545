package app

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// An instance that started shortly before the operator rotates a secret
// has read it once, at its first use, and never been refused. README and
// the runbook promise that it reads the parameter again at the first
// refusal (the minute bounds how often a refused instance reads, so
// forged deliveries cost little): its cold-start read must not hold that
// first reread back. Otherwise, for the rest of its first minute, GitHub's
// deliveries signed with the rotated secret are answered 401 and lost
// (GitHub sends none again), and every Daytona call or App token fails
// (500s, a running task's step failed, a clone or push lost) once the old
// key is revoked, as the runbook says to do right after writing the new
// one.
func TestRotationSoonAfterColdStart(t *testing.T) {
	const (
		firstUse = 0
		rotated  = 20 * time.Second // both steps, the old one revoked
		usedNew  = 30 * time.Second // still within the first minute
	)
	for _, tc := range rotations {
		t.Run(tc.name, func(t *testing.T) {
			var clock atomic.Int64
			clock.Store(int64(firstUse))
			k := tc.setup(t, fakeSSM(t, map[string]string{}), &clock)
			if err := k.use(context.Background()); err != nil {
				t.Fatalf("refused before the rotation: %v", err)
			}
			clock.Store(int64(rotated))
			k.rotate()
			clock.Store(int64(usedNew))
			n := k.ssm.reads.Load()
			if err := k.use(context.Background()); err != nil {
				t.Errorf("refused %s after the rotation, %s after the instance's first use: the parameter was not read again (%v)", usedNew-rotated, usedNew-firstUse, err)
			}
			if got := k.ssm.reads.Load() - n; got > 1 {
				t.Errorf("%d reads of SSM, want at most 1", got)
			}
		})
	}
}
