package service

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// refusingMachine refuses its first refusals wakes for a moment
// (ETRANSIENT, as Step Functions throttling SendTaskSuccess is answered),
// then ends the waits it is asked to; woken are the waits it ended.
type refusingMachine struct {
	fakeMachine
	mu       sync.Mutex
	refusals int
	asked    []string
	woken    []string
}

func (m *refusingMachine) Wake(_ context.Context, token string, _ []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.asked = append(m.asked, token)
	if m.refusals > 0 {
		m.refusals--
		return sandstep.Errorf(sandstep.ETRANSIENT, "Step Functions throttled SendTaskSuccess")
	}
	m.woken = append(m.woken, token)
	return nil
}

// A wake refused for a moment is answered so that it is asked again
// (wakeNow: the Wait fails Sandbox.Transient and task.asl.json's Wait
// retries it in seconds; a nudge answers 5xx and the wrapper's curl asks
// again). The ask again must end the wait: the command has ended, and
// Daytona may not show its exit yet (fakeSessions: still running), so
// nothing else ends the wait before its timeout, the backstop (10m).
func TestWakeAskedAgainEndsTheWait(t *testing.T) {
	const secret = "s3cret"
	for _, tt := range []struct {
		name string
		// run drives the steps as the state machine and the wrapper do;
		// it returns the first try's error, which must ask for another.
		run  func(ctx context.Context, svc *Service, tk *sandstep.Task, step *TaskStep) []error
		want []string // the waits ended
	}{
		{
			// The nudge came between the check and the wait: the Wait's
			// own wake is refused, the state machine retries the Wait
			// (a new invocation, a new token).
			name: "the Wait retried by the state machine",
			run: func(ctx context.Context, svc *Service, tk *sandstep.Task, step *TaskStep) []error {
				nudge := svc.NudgeTask(ctx, tk.ID, secret) // no wait yet: nothing to wake
				first := svc.WaitTask(ctx, *step, "wait-1")
				second := svc.WaitTask(ctx, *step, "wait-2")
				return []error{nudge, first, second}
			},
			want: []string{"wait-2"},
		},
		{
			// The wait keeps its token first; the nudge's wake is refused
			// (503) and the wrapper's curl asks again.
			name: "the nudge asked again by the wrapper",
			run: func(ctx context.Context, svc *Service, tk *sandstep.Task, step *TaskStep) []error {
				wait := svc.WaitTask(ctx, *step, "wait-1")
				first := svc.NudgeTask(ctx, tk.ID, secret)
				second := svc.NudgeTask(ctx, tk.ID, secret)
				return []error{wait, first, second}
			},
			want: []string{"wait-1"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &refusingMachine{refusals: 1}
			svc, st, _, tk, step := startedTask(t, m, fakeSessions{})
			ctx := context.Background()
			nudgesWith(t, st, tk.ID, secret)
			errs := tt.run(ctx, svc, tk, step)
			if errs[0] != nil {
				t.Fatalf("setup step: %v", errs[0])
			}
			if sandstep.ErrorCode(errs[1]) != sandstep.ETRANSIENT {
				t.Fatalf("the refused wake answered %v, want a transient error (asked again)", errs[1])
			}
			if errs[2] != nil {
				t.Fatalf("the ask again: %v", errs[2])
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			if !slices.Equal(m.woken, tt.want) {
				t.Errorf("waits ended %v (wakes asked %v), want %v: the ask again did not wake, the wait runs to its backstop",
					m.woken, m.asked, tt.want)
			}
		})
	}
}
