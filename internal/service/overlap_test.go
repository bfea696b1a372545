package service

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestOverlap(t *testing.T) {
	tests := []struct {
		name string
		fn   func(context.Context) (int, error)
		// stop: the caller gives up on fn instead of waiting.
		stop      bool
		want      int
		wantErr   error
		wantPanic any
	}{
		{name: "answer", fn: func(context.Context) (int, error) { return 7, nil }, want: 7},
		{name: "error", fn: func(context.Context) (int, error) { return 0, errInjected }, wantErr: errInjected},
		{name: "panic resurfaces in wait", fn: func(context.Context) (int, error) { panic("boom") }, wantPanic: "boom"},
		{name: "stop cancels and waits", stop: true, fn: func(ctx context.Context) (int, error) {
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(time.Minute):
				return 1, nil
			}
		}},
		{name: "panic resurfaces in stop", stop: true, fn: func(context.Context) (int, error) { panic("late") }, wantPanic: "late"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if got := recover(); got != tt.wantPanic {
					t.Errorf("panic %v, want %v", got, tt.wantPanic)
				}
			}()
			wait, stop := overlap(context.Background(), tt.fn)
			if tt.stop {
				stop()
				return
			}
			got, err := wait()
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("got %d, %v; want %d, %v", got, err, tt.want, tt.wantErr)
			}
			if again, _ := wait(); again != got {
				t.Errorf("a second wait answered %d", again)
			}
		})
	}
}

// Beside runs at once without a waiter, and in the background, awaited,
// with one.
func TestBeside(t *testing.T) {
	var ran atomic.Bool
	Beside(context.Background(), func() { ran.Store(true) })
	if !ran.Load() {
		t.Fatal("without a waiter the work did not run at once")
	}
	ctx, wait := withBeside(context.Background())
	release := make(chan struct{})
	var done atomic.Bool
	Beside(ctx, func() { <-release; done.Store(true) }) // would deadlock if run inline
	if done.Load() {
		t.Fatal("the work ran inline")
	}
	close(release)
	wait()
	if !done.Load() {
		t.Error("wait returned before the work ended")
	}
}
