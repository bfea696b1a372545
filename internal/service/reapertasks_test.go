package service

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// A task killed at its deadline is timed out by the check (a terminal
// status) before Collect reads the rest of its output and its artifacts
// from the sandbox. A reaper run in between must leave that sandbox alone:
// README says a task's sandbox is deleted 15 minutes after the task stopped
// holding it, and the state machine's Collect still reads it.
func TestATimedOutTasksSandboxOutlivesItsCollect(t *testing.T) {
	tests := []struct {
		name    string
		timeout int           // the task's, in seconds
		reapAt  time.Duration // after the check that timed it out
	}{
		{name: "a reaper run right after the check", timeout: 3600, reapAt: 0},
		{name: "a reaper run a minute after the check", timeout: 3600, reapAt: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5, Now: clk.Now})
			p := &liveShellProvider{shellProvider{fakeProvider: newFakeProvider(), dir: t.TempDir()}}
			for _, f := range []string{taskDir + "/stdout", taskDir + "/stderr", "out/report.md"} {
				if err := os.MkdirAll(filepath.Dir(filepath.Join(p.dir, f)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(p.dir, f), []byte("x\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			objs := newFakeObjects()
			svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st, Inventory: st, Catalog: p,
				Tasks: st, Objects: objs, Machine: fakeMachine{}, Sessions: fakeSessions{}, Files: liveFiles{p}},
				Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			tk, step := runningTaskIn(t, svc, TaskInput{Command: "make", TimeoutSeconds: intp(tt.timeout), Artifacts: []string{"out/report.md"}})
			// The deadline passes: the check kills the command and times the
			// task out.
			clk.Set(clk.Now().Add(time.Duration(tt.timeout)*time.Second + time.Second))
			ended, err := svc.CheckTask(ctx, *step)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := st.GetTask(ctx, tk.ID); got.Status != sandstep.TaskTimedOut {
				t.Fatalf("after the check, task is %s; want timedOut (the case's premise)", got.Status)
			}
			clk.Set(clk.Now().Add(tt.reapAt))
			rep, err := svc.Reap(ctx, ReapOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.live()) == 0 {
				t.Errorf("a reaper run %v after the task timed out deleted its sandbox (report %+v), before its Collect", tt.reapAt, *rep)
			}
			// The state machine's next step.
			if _, err := svc.CollectTask(ctx, *ended); err != nil {
				t.Fatalf("collect: %v", err)
			}
			raw, err := objs.Get(ctx, artifactsKey(tk.ID))
			if err != nil {
				t.Fatal(err)
			}
			var kept []keptArtifact
			if err := json.Unmarshal(raw, &kept); err != nil {
				t.Fatal(err)
			}
			for _, a := range kept {
				if a.Error != "" {
					t.Errorf("artifact %s not collected: %s", a.Path, a.Error)
				}
			}
		})
	}
}

// liveShellProvider is shellProvider whose commands reach only a sandbox
// Daytona still has, as its toolbox does: a deleted one is not found.
type liveShellProvider struct{ shellProvider }

func (p *liveShellProvider) Exec(ctx context.Context, id string, cmd Command) (*ExecResult, error) {
	p.fakeProvider.mu.Lock()
	_, err := p.fakeProvider.byID(id)
	p.fakeProvider.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return p.shellProvider.Exec(ctx, id, cmd)
}

// liveFiles reads the files of a liveShellProvider's sandbox, while
// Daytona has it.
type liveFiles struct{ p *liveShellProvider }

func (f liveFiles) Download(_ context.Context, id, path string, _ int64) ([]byte, error) {
	f.p.fakeProvider.mu.Lock()
	_, err := f.p.fakeProvider.byID(id)
	f.p.fakeProvider.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(f.p.dir, path))
}

// A dry run counts what a run would do: one sandbox whose task no longer
// holds it is one finding, as the run that deletes it reports it, not one
// by the task pass and another by the record pass.
func TestADryRunCountsATaskSandboxOnce(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration
		// lost drops the sandbox at Daytona (deleted outside sandstep).
		lost bool
		// maxActions bounds the run that is not dry (0: the default).
		maxActions int
	}{
		{name: "an ended task's sandbox, past its deadline", after: 3 * time.Hour},
		{name: "an ended task's sandbox, lost at Daytona", after: 20 * time.Minute, lost: true},
		{name: "an ended task's sandbox, past its deadline, a run of one action", after: 3 * time.Hour, maxActions: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			p := newFakeProvider()
			svc, st, clk := newTaskService(t, p, nil)
			tk, _ := runningTaskIn(t, svc, TaskInput{Command: "make", TimeoutSeconds: intp(3600)})
			endAs(sandstep.TaskFailed)(t, st, tk, clk.Now())
			if tt.lost {
				for _, name := range p.live() {
					if err := p.Delete(ctx, name); err != nil {
						t.Fatal(err)
					}
				}
			}
			clk.Set(clk.Now().Add(tt.after))
			dry, err := svc.Reap(ctx, ReapOptions{DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			run, err := svc.Reap(ctx, ReapOptions{MaxActions: tt.maxActions})
			if err != nil {
				t.Fatal(err)
			}
			if dry.Findings() != run.Findings() || dry.Findings() != 1 {
				t.Errorf("one sandbox: the dry run found %d (%+v), the run %d (%+v); want 1 each", dry.Findings(), *dry, run.Findings(), *run)
			}
		})
	}
}
