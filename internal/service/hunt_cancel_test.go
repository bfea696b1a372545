package service

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// cancelOnStopSessions runs cancel the first time the command is stopped,
// as a DELETE /tasks/{id} that lands while a check kills the command at
// its deadline, after the kill and before the check marks it.
type cancelOnStopSessions struct {
	*exitSessions
	once   sync.Once
	cancel func()
}

func (s *cancelOnStopSessions) StopCommand(ctx context.Context, id, session string) error {
	err := s.exitSessions.StopCommand(ctx, id, session)
	s.once.Do(s.cancel)
	return err
}

// README: a task whose command was already killed at its deadline is
// answered as it is and ends timed_out. A cancel that lands once the check
// at the deadline has killed the command must not turn it into cancelled.
func TestHuntCancelAfterTheDeadlinesKillEndsTimedOut(t *testing.T) {
	tests := []struct {
		name string
	}{
		{name: "cancel lands between the kill and its mark"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, nil)
			ctx := context.Background()
			h.print(t, "stdout", "working\n")
			past := h.clock.Now().Add(-time.Second)
			if _, err := h.store.TransitionTask(ctx, h.task.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning,
				func(r *sandstep.Task) { r.Deadline = &past }); err != nil {
				t.Fatal(err)
			}
			var cancelled *sandstep.Task
			h.svc.sessions = &cancelOnStopSessions{exitSessions: h.sessions, cancel: func() {
				var err error
				if cancelled, err = h.svc.CancelTask(ctx, alice(), h.task.ID); err != nil {
					t.Errorf("CancelTask: %v", err)
				}
			}}
			_, cerr := h.svc.CheckTask(ctx, TaskStep{TaskID: h.task.ID, UserID: h.task.Owner})
			// Whatever the check answered, the execution ends with the clean-up.
			_, _ = h.svc.CleanUpTask(ctx, h.task.ID, nil)
			got := h.record(t)
			t.Logf("check: %v; cancel answered %s; task %s (%s)", cerr, cancelled.Status, got.Status, got.Error)
			if !h.sessions.stopped {
				t.Fatal("the check did not kill the command")
			}
			if got.Status != sandstep.TaskTimedOut {
				t.Errorf("the command was killed at its deadline, then cancelled: task %s (%s), want timed_out", got.Status, got.Error)
			}
			if cancelled.Status == sandstep.TaskCancelled {
				t.Errorf("the cancel answered %s for a task whose command was killed at its deadline", cancelled.Status)
			}
		})
	}
}
