package service

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// README (Tasks): the execution fails with Task.* (or succeeds), and with
// a Sandbox.* error only when the table would not record the task's end.
// 0c7ed41 let a kept sandbox's failed session stop pass only for a task
// never marked running (t.SessionID == ""). A task whose command has
// ended (its exit code read by the check, its output and artifacts
// collected, the task succeeded) owes no stop either: there is no command
// to end. Yet a toolbox that fails at its clean-up (Daytona's proxy 502s,
// a daemon OOM: daytonaio/daytona#5140) fails the clean-up after the
// task's success is written: the state machine asks 8 times, the
// execution ends Sandbox.Transient instead of succeeding, the kept
// sandbox's time is never settled (its cost grows while it lives) and the
// notice is left to the reaper.
func TestKeptSandboxOfAnEndedTaskStopFailureEndsTheCleanUp(t *testing.T) {
	down := sandstep.Errorf(sandstep.ETRANSIENT, "daytona: 502 from the sandbox's toolbox; try again")
	tests := []struct {
		name    string
		stopErr error // the toolbox's answer to the session's stop at the clean-up
	}{
		{"the toolbox answers the stop", nil},
		{"the toolbox fails the stop of a command that has exited", down},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5, Now: clk.Now})
			p := newFakeProvider()
			// The watch's read of both streams: "hi" on stdout, nothing
			// on stderr (base64, a line each).
			p.execResult = ExecResult{Stdout: "aGk=\n\n"}
			sess := &exitSessions{}
			svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
				Tasks: st, Objects: newFakeObjects(), Machine: fakeMachine{}, Sessions: sess},
				Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			tk, step := taskWithSandbox(t, svc, TaskInput{Command: "make", KeepSandbox: true})
			if _, err := svc.StartTaskCommand(ctx, *step); err != nil {
				t.Fatal(err)
			}
			zero := 0
			sess.mu.Lock()
			sess.code = &zero // the command exited 0
			sess.mu.Unlock()
			clk.Set(clk.Now().Add(time.Minute))
			if _, err := svc.CheckTask(ctx, *step); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.CollectTask(ctx, *step); err != nil {
				t.Fatal(err)
			}
			if rec, err := st.GetTask(ctx, tk.ID); err != nil || rec.Status != sandstep.TaskSucceeded {
				t.Fatalf("task after collect = %+v, %v; want succeeded", rec, err)
			}
			sess.mu.Lock()
			sess.stopErr = tt.stopErr
			sess.mu.Unlock()
			_, err = svc.CleanUpTaskStep(ctx, tk.ID, nil)
			var oe *OutcomeError
			if err != nil {
				t.Errorf("clean-up of a succeeded task: %v (%s, outcome %v); want none: its command had exited, the stop was owed to nothing",
					err, sandstep.ErrorCode(err), errors.As(err, &oe))
			}
			rec, gerr := st.GetTask(ctx, tk.ID)
			if gerr != nil || rec.Status != sandstep.TaskSucceeded {
				t.Fatalf("task = %+v, %v; want succeeded", rec, gerr)
			}
			if u := rec.Usage; u == nil || u.SandboxFrom == nil || u.SandboxTo == nil {
				t.Errorf("usage = %+v: the kept sandbox's time is never settled", u)
			}
		})
	}
}
