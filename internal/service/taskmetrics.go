package service

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/sandstep/sandstep/internal/metrics"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// endingTasks is Tasks that counts each task's end (TasksEnded by status,
// and its TaskDuration) where it happens, and hands it to ended: every
// path to a final status is a transition into it from a live one,
// whichever step or reaper makes it, and only one such write succeeds.
type endingTasks struct {
	Tasks
	ended func(context.Context, *sandstep.Task)
	// readBack bounds the read of an end answered late (WriteTimeout).
	readBack time.Duration
}

func (e endingTasks) TransitionTask(ctx context.Context, id string, from []sandstep.TaskStatus, to sandstep.TaskStatus, update func(*sandstep.Task)) (*sandstep.Task, error) {
	if !to.Terminal() || slices.Contains(from, to) {
		return e.Tasks.TransitionTask(ctx, id, from, to, update)
	}
	var finished *time.Time // as the last attempt wrote it
	t, err := e.Tasks.TransitionTask(ctx, id, from, to, func(r *sandstep.Task) {
		if update != nil {
			update(r)
		}
		finished = r.FinishedAt
	})
	if errors.Is(err, context.DeadlineExceeded) && finished != nil {
		// The write's answer did not come in its time: it landed if the
		// record ended as it ends it (its end's instant is its own).
		// Answered as written, its end is counted and audited here; asked
		// again, a step would find it ended and end nothing. ctx is often
		// the writer's own write time (writeContext), spent by now: the
		// read and the audit have their own.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.readBack)
		defer cancel()
		if cur, gerr := e.Tasks.GetTask(rctx, id); gerr == nil && cur.Status == to && cur.FinishedAt != nil && cur.FinishedAt.Equal(*finished) {
			t, err, ctx = cur, nil, rctx
		}
	}
	if err != nil {
		return t, err
	}
	metrics.Add(ctx, metrics.TasksEnded, metrics.Count, 1, metrics.Dim("Status", string(to)))
	if t.FinishedAt != nil {
		// From the command's start; a task that never started, from its
		// creation (its wait for capacity or its turn).
		start := t.CreatedAt
		if t.StartedAt != nil {
			start = *t.StartedAt
		}
		metrics.Add(ctx, metrics.TaskDuration, metrics.Seconds, t.FinishedAt.Sub(start).Seconds())
	}
	if e.ended != nil {
		e.ended(ctx, t)
	}
	return t, nil
}
