package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// The tasks' line counts the tasks started, not those asked for: a run
// cut before its tasks started none.
func TestTasksLineCountsTheStarted(t *testing.T) {
	cfg := smallConfig(t)
	cfg.tasks = 5
	ctx, cancel := context.WithCancelCause(context.Background())
	out := &stopAt{prefix: "bare store:", stop: func() { cancel(errors.New("interrupt signal received")) }}
	runLoad(ctx, cfg, out, io.Discard)
	seen := false
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "tasks: ") {
			seen = true
			if !strings.HasPrefix(line, "tasks: 0 started, 0 succeeded") {
				t.Errorf("tasks line %q, want \"tasks: 0 started, 0 succeeded, …\"", line)
			}
		}
	}
	if !seen {
		t.Errorf("no tasks line:\n%s", out.String())
	}
}
