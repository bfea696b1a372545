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

// README (Tasks): whatever happens, the execution fails with Task.Failed
// and the task's error, or with a Sandbox.* error only when the table
// would not record the task's end. A keepSandbox task whose start failed
// because its sandbox's toolbox does not answer (the nudge file's upload
// refused through every retry) never reached its session; its clean-up,
// which stops the session by name all the same, ends it Task.Failed with
// the kept sandbox's time settled even when that stop, through the same
// toolbox, fails too. Otherwise the clean-up would fail after the task's
// end is written, be asked again 8 times and end the execution
// Sandbox.Transient, the failed task's cost growing for as long as the
// sandbox lives (README: counted until the clean-up) and its notice
// waiting for the reaper (15 minutes).
func TestKeptSandboxOfAStartThatNeverReachedTheToolboxEndsFailed(t *testing.T) {
	down := sandstep.Errorf(sandstep.ETRANSIENT, "daytona: 502 from the sandbox's toolbox; try again")
	tests := []struct {
		name    string
		stopErr error // the toolbox's answer to the session's stop
	}{
		{"the toolbox answers the stop (no session: 404)", nil},
		{"the toolbox that refused the start refuses the stop", down},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5, Now: clk.Now})
			p := newFakeProvider()
			sess := &exitSessions{stopErr: tt.stopErr}
			svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
				Tasks: st, Objects: newFakeObjects(), Machine: fakeMachine{}, Sessions: sess},
				Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			tk, step := taskWithSandbox(t, svc, TaskInput{Command: "make", KeepSandbox: true})
			p.mu.Lock()
			p.fail["upload-secrets"] = down // the toolbox does not answer
			p.mu.Unlock()
			// As task.asl.json's StartCommand: Sandbox.Transient asked
			// again 6 times, then caught.
			var serr error
			for range 7 {
				if _, serr = svc.StartTaskCommand(ctx, *step); serr == nil {
					t.Fatal("the start answered; want the toolbox's error")
				}
			}
			_, err = svc.CleanUpTaskStep(ctx, tk.ID, &TaskFailure{Error: "Sandbox.Transient", Cause: serr.Error()})
			var oe *OutcomeError
			if !errors.As(err, &oe) || oe.Name() != "Task.Failed" {
				t.Errorf("clean-up: %v (%s); want the execution's Task.Failed (the task's end is recorded)", err, sandstep.ErrorCode(err))
			}
			rec, gerr := st.GetTask(ctx, tk.ID)
			if gerr != nil || rec.Status != sandstep.TaskFailed {
				t.Fatalf("task = %+v, %v; want failed", rec, gerr)
			}
			if u := rec.Usage; u == nil || u.SandboxFrom == nil || u.SandboxTo == nil {
				t.Errorf("usage = %+v: the kept sandbox's time is never settled, its cost grows while the task shows failed", u)
			}
		})
	}
}
