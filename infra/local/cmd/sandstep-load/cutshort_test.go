package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// stopAt is the run's output; the first line starting with prefix ends ctx.
type stopAt struct {
	strings.Builder
	prefix string
	stop   func()
	once   sync.Once
}

func (w *stopAt) Write(p []byte) (int, error) {
	if strings.HasPrefix(string(p), w.prefix) {
		w.once.Do(w.stop)
	}
	return w.Builder.Write(p)
}

// expiring is a context whose deadline passes when expire is called, as
// LOAD_TIMEOUT's does, without waiting for a clock.
type expiring struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func newExpiring() *expiring {
	return &expiring{Context: context.Background(), done: make(chan struct{})}
}

func (c *expiring) expire()               { c.once.Do(func() { close(c.done) }) }
func (c *expiring) Done() <-chan struct{} { return c.done }
func (c *expiring) Deadline() (time.Time, bool) {
	return time.Time{}, false
}

func (c *expiring) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// A run cut short (its deadline passed, or an interrupt) says why, and
// says it first: the verdict shows five problems, and every other one
// (creates, tasks, slots held) follows from the cut.
func TestCutShortSaysWhyFirst(t *testing.T) {
	tests := []struct {
		name      string
		ctx       func() (context.Context, func())
		wantFirst string
		notHas    string
	}{
		{"interrupted before the tasks", func() (context.Context, func()) {
			ctx, cancel := context.WithCancelCause(context.Background())
			return ctx, func() { cancel(errors.New("interrupt signal received")) }
		}, "the run was stopped before it finished: interrupt signal received", "LOAD_TIMEOUT"},
		{"the deadline passed before the tasks", func() (context.Context, func()) {
			ctx := newExpiring()
			return ctx, ctx.expire
		}, "the run did not finish within LOAD_TIMEOUT=3m0s", "stopped before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := smallConfig(t)
			ctx, stop := tt.ctx()
			out := &stopAt{prefix: "bare store:", stop: stop}
			code := verdict(out, runLoad(ctx, cfg, out, io.Discard))
			last := lastLine(out.String())
			if code != 1 || !strings.HasPrefix(last, "load: NOT exact: "+tt.wantFirst) || strings.Contains(last, tt.notHas) {
				t.Fatalf("exit %d, last line %q; want 1 and a line starting \"load: NOT exact: %s\", without %q\nstdout:\n%s", code, last, tt.wantFirst, tt.notHas, out.String())
			}
		})
	}
}
