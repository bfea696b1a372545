package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

// The run's last line is its verdict (README, "make load"), whatever its
// problems say: a problem of several lines (the stack's configuration
// error, an answer's body) must not push the verdict off the last line.
func TestVerdictIsTheLastLine(t *testing.T) {
	tests := []struct {
		name     string
		problems func(t *testing.T) []string
		want     string // in the last line
	}{
		{"the stack's configuration error", func(*testing.T) []string {
			return []string{"start the local stack: start the functions: configuration:\nDEFAULT_USER_QUOTA: must be an integer between 1 and 1000, got \"2000\""}
		}, "DEFAULT_USER_QUOTA: must be an integer"},
		{"a body of several lines among others", func(*testing.T) []string {
			return []string{"a", "create for load-u0001: 502 Bad Gateway\r\nupstream closed", "c", "d", "e", "f"}
		}, "upstream closed; c; d; e; and 1 more"},
		{"the run with LOAD_QUOTA beyond the stack's bound", func(t *testing.T) []string {
			cfg := smallConfig(t)
			cfg.quota, cfg.tasks = 2000, 0
			return runLoad(context.Background(), cfg, io.Discard, io.Discard)
		}, "DEFAULT_USER_QUOTA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			code := verdict(&out, tt.problems(t))
			last := lastLine(out.String())
			if code != 1 || !strings.HasPrefix(last, "load: NOT exact: ") || !strings.Contains(last, tt.want) {
				t.Errorf("exit %d, last line %q; want 1 and a line \"load: NOT exact: …\" saying %q\noutput:\n%s", code, last, tt.want, out.String())
			}
		})
	}
}
