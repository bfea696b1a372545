package awsjson

import (
	"testing"
	"time"
)

func TestJitteredBackoff(t *testing.T) {
	cases := []struct {
		name    string
		retry   int
		ceiling time.Duration
	}{
		{"first retry", 1, 100 * time.Millisecond},
		{"second retry", 2, 200 * time.Millisecond},
		{"sixth retry", 6, 3200 * time.Millisecond},
		{"capped", 7, 5 * time.Second},
		{"far out, no overflow", 100, 5 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for range 200 {
				if d := Backoff(tc.retry); d < 0 || d >= tc.ceiling {
					t.Fatalf("%v, want in [0, %v)", d, tc.ceiling)
				}
			}
		})
	}
}
