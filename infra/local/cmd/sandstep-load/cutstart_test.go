package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// A run cut short before its stack has started says why, first, too:
// otherwise its verdict is only what the cut broke (the stand-ins'
// start, or an SSM read of the stack's start: "GITHUB_APP_KEY_REF is
// temporarily unavailable").
func TestCutWhileStartingSaysWhyFirst(t *testing.T) {
	tests := []struct {
		name      string
		ctx       func() (context.Context, func())
		wantFirst string
	}{
		{"interrupted", func() (context.Context, func()) {
			ctx, cancel := context.WithCancelCause(context.Background())
			return ctx, func() { cancel(errors.New("interrupt signal received")) }
		}, "the run was stopped before it finished: interrupt signal received"},
		{"the deadline passed", func() (context.Context, func()) {
			ctx := newExpiring()
			return ctx, ctx.expire
		}, "the run did not finish within LOAD_TIMEOUT=3m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := smallConfig(t)
			ctx, stop := tt.ctx()
			// The first line is printed before the stand-ins start.
			out := &stopAt{prefix: "sandstep load:", stop: stop}
			code := verdict(out, runLoad(ctx, cfg, out, io.Discard))
			last := lastLine(out.String())
			if code != 1 || !strings.HasPrefix(last, "load: NOT exact: "+tt.wantFirst) {
				t.Fatalf("exit %d, last line %q; want 1 and a line starting \"load: NOT exact: %s\"\nstdout:\n%s", code, last, tt.wantFirst, out.String())
			}
		})
	}
}
