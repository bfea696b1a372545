package testutil

import (
	"context"
	"testing"
	"time"
)

func TestHold(t *testing.T) {
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want bool
	}{
		{"nothing to wait", context.Background(), 0, true},
		{"shorter than the exact stretch", context.Background(), time.Millisecond, true},
		{"a timer, then the exact stretch", context.Background(), 5 * time.Millisecond, true},
		{"ended before", ended, 5 * time.Millisecond, false},
		{"ended before, a short wait", ended, time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			if got := hold(tt.ctx, tt.d); got != tt.want {
				t.Errorf("hold(%v) = %v, want %v", tt.d, got, tt.want)
			}
			// Never shorter than asked: a latency cut short would flatter
			// whatever the wire stands in front of.
			if took := time.Since(start); tt.want && took < tt.d {
				t.Errorf("hold(%v) returned after %v", tt.d, took)
			}
		})
	}
}
