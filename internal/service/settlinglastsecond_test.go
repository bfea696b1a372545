package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// A push refused while its token has not settled (RepoToken.Settled) is
// refused for the lag, wherever in the lag it came: a refusal 4.5 s after
// the minting goes again after 1 s, when the token has settled, rather
// than failing the task for good with the agent's commits lost. A
// refusal after the token settled is GitHub's word.
func TestPushRefusedJustBeforeItsTokenSettles(t *testing.T) {
	const forbidden = "remote: Permission to octo/hello.git denied to sandstep[bot].\n" +
		"fatal: unable to access 'https://github.com/octo/hello.git/': The requested URL returned error: 403"
	tests := []struct {
		name      string
		age       time.Duration // the token's age when the push is refused
		wantPulls int
	}{
		{"refused before the token settled, asked again after", 4500 * time.Millisecond, 1},
		{"refused after the token settled", 5500 * time.Millisecond, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
			refused := 0
			h.provider.after = func(_ int, res *ExecResult) error {
				h.provider.shellProvider.mu.Lock()
				line := h.provider.lines[len(h.provider.lines)-1]
				h.provider.shellProvider.mu.Unlock()
				if !strings.Contains(line, " push -q --no-verify ") || refused > 0 {
					return nil
				}
				refused++
				h.clock.Set(h.clock.Now().Add(tt.age))
				res.ExitCode, res.Stdout, res.Stderr = 128, "", forbidden
				return nil
			}
			ctx := context.Background()
			if err := h.svc.recordExit(ctx, h.task, 0); err != nil {
				t.Fatal(err)
			}
			step := TaskStep{TaskID: h.task.ID, UserID: h.task.Owner, SandboxID: h.task.SandboxID}
			if _, err := h.svc.CollectTask(ctx, step); err != nil {
				t.Fatalf("CollectTask: %v", err)
			}
			got := h.record(t)
			if n := len(h.access.pulls); n != tt.wantPulls {
				t.Errorf("task %s (%q): %d pull requests, want %d", got.Status, got.Error, n, tt.wantPulls)
			}
		})
	}
}

// An issue's clone refused while its read token has not settled goes
// again, wherever in the lag the refusal came: Daytona's create and the
// uploads may take 4 s of the 5 between the minting and the clone.
func TestIssueCloneRefusedJustBeforeItsTokenSettles(t *testing.T) {
	tests := []struct {
		name       string
		age        time.Duration // the token's age when the clone is refused
		wantClones int
	}{
		{"refused before the token settled, asked again after", 4500 * time.Millisecond, 2},
		{"refused after the token settled", 5500 * time.Millisecond, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5, Now: clk.Now})
			p := &lagClone{fakeProvider: newFakeProvider(), clk: clk, age: tt.age}
			access := &fakeRepoAccess{life: time.Hour, now: clk.Now}
			svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
				Tasks: st, Objects: newFakeObjects(), Machine: fakeMachine{}, Sessions: fakeSessions{}, RepoAccess: access},
				Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			spec := TaskInput{Command: "true", TimeoutSeconds: intp(3600)}
			ev := IssueEvent{Repo: "octo/hello", InstallationID: 7, Issue: 3, Title: "Fix it", CloneURL: "https://github.com/octo/hello.git", DefaultBranch: "main"}
			if err := issueSpec(&spec, ev); err != nil {
				t.Fatal(err)
			}
			tk, err := svc.StartTask(ctx, Call{UserID: sandstep.RepoUser(ev.Repo), RequestID: "delivery-1"}, spec)
			if err != nil {
				t.Fatalf("StartTask: %v", err)
			}
			_, err = svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: tk.Owner})
			p.mu.Lock()
			clones := len(p.clones)
			p.mu.Unlock()
			if clones != tt.wantClones {
				t.Errorf("%d clones (CreateTaskSandbox: %v), want %d", clones, err, tt.wantClones)
			}
		})
	}
}
