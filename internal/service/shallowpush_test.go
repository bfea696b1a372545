package service

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// An agent that fetches a moved main shallowly (git fetch --depth=1) and
// puts its commits on it has a HEAD whose history ends at a shallow root.
// The stage's fetch into a bare repository that is not shallow refuses
// that ref with only a warning ("shallow roots are not allowed to be
// updated") and exits 0, so the stage reports the commits copied, the
// push finds no refs/heads/push, and the failure is taken for GitHub
// unreachable: the Collect is asked again, fails the same way, and the
// agent's commits are lost with the sandbox.
func TestShallowHistoryIsPushed(t *testing.T) {
	tests := []struct {
		name  string
		agent func(t *testing.T, h *repoHarness)
	}{
		{
			name: "the agent fetches a moved main shallowly and commits on it",
			agent: func(t *testing.T, h *repoHarness) {
				mergedMeanwhile(t, h)
				git(t, h.clone, "fetch", "-q", "--depth=1", "file://"+h.origin, "+main:refs/remotes/origin/main")
				git(t, h.clone, "reset", "-q", "--hard", "origin/main")
				git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
			},
		},
		{
			name: "the agent commits and rebases onto a moved main fetched shallowly",
			agent: func(t *testing.T, h *repoHarness) {
				git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
				mergedMeanwhile(t, h)
				git(t, h.clone, "fetch", "-q", "--depth=1", "file://"+h.origin, "+main:refs/remotes/origin/main")
				git(t, h.clone, "rebase", "-q", "--keep-empty", "origin/main")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			tt.agent(t, h)
			head := git(t, h.clone, "rev-parse", "HEAD")
			ctx := context.Background()
			if err := h.svc.recordExit(ctx, h.task, 0); err != nil {
				t.Fatal(err)
			}
			_, err := h.svc.CollectTask(ctx, TaskStep{TaskID: h.task.ID, UserID: h.task.Owner, SandboxID: h.task.SandboxID})
			if err != nil {
				t.Fatalf("Collect failed (%s): %v; want the agent's commits pushed", sandstep.ErrorCode(err), err)
			}
			c := exec.Command("git", "rev-parse", "--verify", "-q", "refs/heads/"+PushBranch(h.task.ID))
			c.Dir = h.origin
			out, _ := c.Output()
			if got := strings.TrimSpace(string(out)); got != head {
				t.Errorf("%s at GitHub is %q, want the agent's %s", PushBranch(h.task.ID), got, head)
			}
			if got := h.record(t); got.Status != sandstep.TaskSucceeded || got.PullRequest == "" {
				t.Errorf("task %s, pull %q, error %q; want succeeded with a pull request", got.Status, got.PullRequest, got.Error)
			}
		})
	}
}
