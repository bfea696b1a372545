package pause_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/pause"
)

func TestFor(t *testing.T) {
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want bool
	}{
		{name: "passes", ctx: context.Background(), d: time.Millisecond, want: true},
		{name: "nothing to wait", ctx: context.Background(), d: 0, want: true},
		{name: "ended before", ctx: ended, d: time.Hour, want: false},
		{name: "ended, nothing to wait", ctx: ended, d: 0, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pause.For(tt.ctx, tt.d); got != tt.want {
				t.Errorf("For(%v) = %v, want %v", tt.d, got, tt.want)
			}
		})
	}
}

// A context ending during the wait ends it.
func TestForEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if pause.For(ctx, time.Hour) {
		t.Fatal("an hour passed")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("ended after %v, not with its context", took)
	}
}

func ExampleFor() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fmt.Println(pause.For(ctx, time.Second)) // the caller has gone: no wait
	// Output: false
}
