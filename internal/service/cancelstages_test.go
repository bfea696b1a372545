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
func TestCancelAfterTheDeadlinesKillEndsTimedOut(t *testing.T) {
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

// hookProvider runs onCreate once, after Daytona made the sandbox and
// before its create answers: a cancel that lands while CreateSandbox
// holds the claim on the task's sandbox.
type hookProvider struct {
	*fakeProvider
	once     sync.Once
	onCreate func()
}

func (p *hookProvider) Create(ctx context.Context, spec ProviderSpec) (*ProviderSandbox, error) {
	sb, err := p.fakeProvider.Create(ctx, spec)
	if p.onCreate != nil {
		p.once.Do(p.onCreate)
	}
	return sb, err
}

// hookSessions runs onStart once, after the command's line was sent and
// before the start marks the task running.
type hookSessions struct {
	fakeSessions
	once    sync.Once
	onStart func()
}

func (s *hookSessions) StartCommand(ctx context.Context, id, session, line string) (string, error) {
	cmd, err := s.fakeSessions.StartCommand(ctx, id, session, line)
	if s.onStart != nil {
		s.once.Do(s.onStart)
	}
	return cmd, err
}

// A DELETE /tasks/{id} at each stage of a task before its command runs:
// the task ends cancelled, no sandbox is left and no slot held, and the
// trail has one task.cancel and no task.finish.
func TestCancelAtEachStageLeavesNothing(t *testing.T) {
	tests := []struct {
		name string
		at   string
	}{
		{name: "queued, before the sandbox step", at: "queued"},
		{name: "while the sandbox step makes the sandbox", at: "create"},
		{name: "after the sandbox is recorded, before the start", at: "recorded"},
		{name: "as the command's line is sent", at: "start"},
		{name: "running, then again", at: "running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &hookProvider{fakeProvider: newFakeProvider()}
			sess := &hookSessions{}
			svc, st, _ := newStepService(t, p, sess, nil)
			ctx := context.Background()
			tk, err := svc.StartTask(ctx, alice(), TaskInput{Command: "sleep 100"})
			if err != nil {
				t.Fatal(err)
			}
			cancel := func() {
				if _, err := svc.CancelTask(ctx, alice(), tk.ID); err != nil {
					t.Errorf("CancelTask: %v", err)
				}
			}
			step0 := TaskStep{TaskID: tk.ID, UserID: tk.Owner}
			switch tt.at {
			case "queued":
				cancel()
				_, _ = svc.CreateTaskSandbox(ctx, step0)
			case "create":
				p.onCreate = cancel
				_, _ = svc.CreateTaskSandbox(ctx, step0)
			case "recorded":
				step, err := svc.CreateTaskSandbox(ctx, step0)
				if err != nil {
					t.Fatal(err)
				}
				cancel()
				_, _ = svc.StartTaskCommand(ctx, *step)
			case "start":
				sess.onStart = cancel
				step, err := svc.CreateTaskSandbox(ctx, step0)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = svc.StartTaskCommand(ctx, *step)
			case "running":
				step, err := svc.CreateTaskSandbox(ctx, step0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := svc.StartTaskCommand(ctx, *step); err != nil {
					t.Fatal(err)
				}
				cancel()
				_, _ = svc.CheckTask(ctx, *step)
			}
			// The stopped execution's task-ended event cleans up; a DELETE
			// asked again is no error.
			_, _ = svc.CleanUpTask(ctx, tk.ID, nil)
			cancel()
			got, err := st.GetTask(ctx, tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != sandstep.TaskCancelled {
				t.Errorf("task %s (%s), want cancelled", got.Status, got.Error)
			}
			if live := p.live(); len(live) != 0 {
				t.Errorf("sandboxes left at Daytona: %v", live)
			}
			if q, _ := st.GetQuota(ctx, "alice"); q.Active != 0 {
				t.Errorf("slots held: %d, want 0", q.Active)
			}
			events, _, err := st.ListAudit(ctx, "", tk.ID, 100, "")
			if err != nil {
				t.Fatal(err)
			}
			var cancels, finishes int
			for _, e := range events {
				switch e.Action {
				case ActionTaskCancel:
					cancels++
				case ActionTaskFinish:
					finishes++
				}
			}
			if cancels != 1 || finishes != 0 {
				t.Errorf("task.cancel %d times, task.finish %d times; want once, never", cancels, finishes)
			}
		})
	}
}
