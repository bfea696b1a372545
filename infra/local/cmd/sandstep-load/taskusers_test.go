package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// A run cut before its tasks started asks at its end only about users it
// named: a task never started must not leave a user without a name for
// the checks to ask the table and the API about. Cut just before the
// tasks, the feed stops at its first look at the cut, so with 20 tasks
// all but a few are never started.
func TestUnstartedTasksLeaveNoNamelessUser(t *testing.T) {
	cfg := smallConfig(t)
	cfg.tasks = 20
	ctx, cancel := context.WithCancelCause(context.Background())
	out := &stopAt{prefix: "bare store:", stop: func() { cancel(errors.New("interrupt signal received")) }}
	for _, p := range runLoad(ctx, cfg, out, io.Discard) {
		if strings.Contains(p, " of : ") || strings.Contains(p, "must not be empty") {
			t.Errorf("problem about a user without a name: %q", p)
		}
	}
}
