package service

import (
	"testing"
	"time"
)

func TestBackstop(t *testing.T) {
	tests := []struct {
		name       string
		ran, nudge time.Duration
		want       time.Duration
	}{
		{"nudge possible, just started", 0, 10 * time.Minute, 10 * time.Minute},
		{"nudge possible, long task", 5 * time.Hour, 10 * time.Minute, 30 * time.Minute},
		{"no nudge, just started", 0, 0, 15 * time.Second},
		{"no nudge, 100s in", 100 * time.Second, 0, 15 * time.Second},
		{"no nudge, an hour in", time.Hour, 0, 6 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Backstop(tt.ran, tt.nudge); got != tt.want {
				t.Errorf("Backstop(%s, %s) = %s, want %s", tt.ran, tt.nudge, got, tt.want)
			}
		})
	}
}
