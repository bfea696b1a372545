package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
)

// The start gives Daytona the task's life (KeepFor, timeout plus the
// clean-up margin) before it sends the command; the task's deadline is
// taken after the line was sent. Daytona's life therefore ends before the
// task's deadline plus the margin by as long as the send took (and the
// record's ttlMinutes, rounded down, no later than Daytona's). A sandbox
// Daytona ends at the life it was given has lived it: taskLifeLeft, going
// by the deadline read after the send, calls it "gone" (a finding
// ReaperGoneAlarm watches) when the reaper runs within those seconds.
//
// A task started by the version before 7731ef1, which a running execution
// still calls for hours after a deploy, had its sandbox kept for the
// timeout plus that version's margin, 30 minutes (not this version's 45),
// recorded as its ttlMinutes: ended there by Daytona, it lived too.
func TestTaskSandboxEndedAtItsLifeIsLivedNotGone(t *testing.T) {
	const timeout = 3 * time.Hour
	const send = 40 * time.Second // the command's line reaching the session
	for _, tc := range []struct {
		name   string
		margin time.Duration // the margin of the version that started the task
		// recorded, when set, is that version's moveLife writing the life
		// it gave as the record's ttlMinutes; else this version's start
		// recorded it.
		recorded bool
	}{
		{"this version's start", sandstep.TaskCleanupMargin, false},
		{"the previous version's start", 30 * time.Minute, true},
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
			if tc.recorded {
				if _, err := st.TransitionSandbox(ctx, step.SandboxID, []sandstep.State{sandstep.StateReady}, sandstep.StateReady, func(r *sandstep.Sandbox) {
					r.TTLMinutes = int(daytonaEnd.Sub(r.CreatedAt) / time.Minute)
				}); err != nil {
					t.Fatal(err)
				}
			} else {
				rec, err := st.GetSandbox(ctx, step.SandboxID)
				if err != nil {
					t.Fatal(err)
				}
				if end := sandboxDeadline(rec); end.After(daytonaEnd) {
					t.Fatalf("recorded life ends %v, after Daytona's %v", end, daytonaEnd)
				}
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
				t.Errorf("report lived %d, gone %d; want the sandbox lived (Daytona ended it at the life it was given), not gone", rep.Lived, rep.Gone)
			}
		})
	}
}
