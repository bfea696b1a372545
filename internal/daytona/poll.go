package daytona

import (
	"context"
	"time"
)

// Poll calls check at once and then after pauses that start at first and
// double up to limit, until check reports done (Poll returns nil) or fails
// (Poll returns its error as is). When ctx ends during a pause Poll returns
// ctx's error; check should pass ctx on to its own calls.
//
// Daytona has no push notification for a state change or a finished
// command, so everything that waits on it polls, and polls the same way.
func Poll(ctx context.Context, first, limit time.Duration, check func() (done bool, err error)) error {
	return poll(ctx, first, limit, sleepCtx, check)
}

func poll(ctx context.Context, first, limit time.Duration, sleep func(context.Context, time.Duration) error, check func() (bool, error)) error {
	pause := max(first, time.Millisecond)
	limit = max(limit, pause)
	for {
		done, err := check()
		if done || err != nil {
			return err
		}
		if err := sleep(ctx, pause); err != nil {
			return err
		}
		pause = min(pause*2, limit)
	}
}
