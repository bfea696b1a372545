package daytona

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	boom := errors.New("boom")
	ms := time.Millisecond
	tests := []struct {
		name       string
		first, max time.Duration
		doneAfter  int   // check reports done on this call (1-based); 0 = never
		failAt     int   // check fails on this call; 0 = never
		cancelAt   int   // the context is cancelled during this pause; 0 = never
		wantErr    error // nil, boom or context.Canceled
		wantPauses []time.Duration
	}{
		{name: "done at once", first: 10 * ms, max: 40 * ms, doneAfter: 1},
		{name: "pauses double up to the cap", first: 10 * ms, max: 40 * ms, doneAfter: 6,
			wantPauses: []time.Duration{10 * ms, 20 * ms, 40 * ms, 40 * ms, 40 * ms}},
		{name: "check error ends it", first: 10 * ms, max: 40 * ms, failAt: 3, wantErr: boom,
			wantPauses: []time.Duration{10 * ms, 20 * ms}},
		{name: "context ends during a pause", first: 10 * ms, max: 40 * ms, cancelAt: 2, wantErr: context.Canceled,
			wantPauses: []time.Duration{10 * ms, 20 * ms}},
		{name: "zero first pause is raised", max: 3 * ms, doneAfter: 4,
			wantPauses: []time.Duration{ms, 2 * ms, 3 * ms}},
		{name: "cap below the first pause", first: 10 * ms, max: ms, doneAfter: 3,
			wantPauses: []time.Duration{10 * ms, 10 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var pauses []time.Duration
			sleep := func(ctx context.Context, d time.Duration) error {
				pauses = append(pauses, d)
				if len(pauses) == tt.cancelAt {
					cancel()
				}
				return ctx.Err()
			}
			calls := 0
			err := poll(ctx, tt.first, tt.max, sleep, func() (bool, error) {
				calls++
				if calls == tt.failAt {
					return false, boom
				}
				return calls == tt.doneAfter, nil
			})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !slices.Equal(pauses, tt.wantPauses) {
				t.Errorf("pauses = %v, want %v", pauses, tt.wantPauses)
			}
		})
	}
}

func TestPollWaitsForReal(t *testing.T) {
	start := time.Now()
	calls := 0
	err := Poll(context.Background(), 5*time.Millisecond, 5*time.Millisecond, func() (bool, error) {
		calls++
		return calls == 3, nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err, calls = %v, %d", err, calls)
	}
	if took := time.Since(start); took < 10*time.Millisecond {
		t.Errorf("two pauses of 5ms took %v", took)
	}
}
