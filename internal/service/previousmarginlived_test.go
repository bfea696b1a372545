package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
)

// A task started by the version before 7731ef1, which a running execution
// still calls for hours after a deploy, had Daytona keep its sandbox for
// the command's timeout plus the margin of that version, 30 minutes (not
// this version's 45), and recorded that life as the sandbox's ttlMinutes.
// Daytona ends the sandbox there, a send's time before the deadline plus
// 30 minutes. The reaper that runs a moment later must count it lived,
// not gone (a finding ReaperGoneAlarm pages on): the sandbox lived all the
// life it was given.
func TestTaskSandboxOfAnEarlierMarginEndedAtItsLifeIsLived(t *testing.T) {
	const timeout = 3 * time.Hour
	const send = 40 * time.Second // the command's line reaching the session
	for _, tc := range []struct {
		name   string
		margin time.Duration // the margin of the version that started the task
	}{
		{"this version's start", sandstep.TaskCleanupMargin},
		{"the previous version's start", 30 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			p := newFakeProvider()
			var clk *settableClock
			sess := &hookSessions{}
			svc, st, c := newTaskService(t, p, func(_ *store.Store, d *Deps) { d.Sessions = sess })
			clk = c
			sess.onStart = func() { clk.Set(clk.Now().Add(send)) }
			_, step := taskWithSandbox(t, svc, TaskInput{Command: "make", TimeoutSeconds: intp(int(timeout / time.Second))})
			kept := clk.Now() // the start's KeepFor, before the send
			if _, err := svc.StartTaskCommand(ctx, *step); err != nil {
				t.Fatal(err)
			}
			daytonaEnd := kept.Add(timeout + tc.margin)
			// The ttlMinutes that version's moveLife recorded.
			if _, err := st.TransitionSandbox(ctx, step.SandboxID, []sandstep.State{sandstep.StateReady}, sandstep.StateReady, func(r *sandstep.Sandbox) {
				r.TTLMinutes = int(daytonaEnd.Sub(r.CreatedAt) / time.Minute)
			}); err != nil {
				t.Fatal(err)
			}
			// Daytona ends the sandbox at its life; the reaper runs 10 s later.
			clk.Set(daytonaEnd.Add(10 * time.Second))
			p.mu.Lock()
			clear(p.sandboxes)
			p.mu.Unlock()
			rep, err := svc.Reap(ctx, ReapOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Lived != 1 || rep.Gone != 0 {
				t.Errorf("report lived %d, gone %d; want the sandbox lived (Daytona ended it at the life its start gave it), not gone", rep.Lived, rep.Gone)
			}
		})
	}
}
