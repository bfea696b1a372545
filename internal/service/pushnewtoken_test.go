package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A push token GitHub minted a moment ago may be refused for a moment
// while its permissions replicate: 403, as githubapp knows of every other
// call on a new token, or 404, "Repository not found", as GitHub answers
// a token it does not yet know to reach a private repository (the clone
// asks again on it too, gitClone). The push is asked again with it, and
// the agent's hours of work become the pull request. Either on a token
// that has settled is GitHub's word, and fails the task.
func TestPushOnANewTokenRefusedWhileItReplicates(t *testing.T) {
	answers := []struct {
		name, stderr, says string
	}{
		{"403", "remote: Permission to octo/hello.git denied to sandstep[bot].\n" +
			"fatal: unable to access 'https://github.com/octo/hello.git/': The requested URL returned error: 403", "returned error: 403"},
		{"404", "remote: Repository not found.\n" +
			"fatal: repository 'https://github.com/octo/hello.git/' not found", "not found"},
	}
	tests := []struct {
		name      string
		minted    time.Duration // the token's age when the push is refused
		wantPulls int
	}{
		{"a token minted a moment ago", 0, 1},
		// Anywhere in the lag: asked again after 1 s, once it settled.
		{"refused 4.5 s after its minting, before it settled", 4500 * time.Millisecond, 1},
		{"refused 5.5 s after its minting, once it settled", 5500 * time.Millisecond, 0},
		{"a token minted long before the push", time.Minute, 0},
	}
	for _, answer := range answers {
		for _, tt := range tests {
			t.Run(answer.name+"/"+tt.name, func(t *testing.T) {
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
					// GitHub refuses the first push, not having the token's
					// permissions everywhere yet.
					refused++
					h.clock.Set(h.clock.Now().Add(tt.minted))
					res.ExitCode, res.Stdout, res.Stderr = 128, "", answer.stderr
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
				if refused != 1 {
					t.Fatalf("the push was refused %d times, want once", refused)
				}
				if n := len(h.access.pulls); n != tt.wantPulls {
					t.Errorf("task %s (%q): %d pull requests, want %d", got.Status, got.Error, n, tt.wantPulls)
				}
				if tt.wantPulls == 1 && (got.Status != sandstep.TaskSucceeded || got.PullRequest == "") {
					t.Errorf("task %s, pull %q (%s); want succeeded with its pull request", got.Status, got.PullRequest, got.Error)
				}
				if tt.wantPulls == 0 && (got.Status != sandstep.TaskFailed || !strings.Contains(got.Error, answer.says)) {
					t.Errorf("task %s (%q); want failed, saying GitHub's %s", got.Status, got.Error, answer.name)
				}
			})
		}
	}
}
