package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// GitHub answers a token it does not yet know to reach a private
// repository (its repositories not replicated everywhere) as it answers
// any token that cannot see it: 404, "Repository not found". The clone
// asks again on it while the token is new (gitClone); the push, whose
// token is always minted a moment before, must too, or the agent's work
// is lost to GitHub's replication. Once the token has settled the 404 is
// GitHub's word and fails the task.
func TestPushOnANewTokenNotFoundWhileItReplicates(t *testing.T) {
	const notFound = "remote: Repository not found.\n" +
		"fatal: repository 'https://github.com/octo/hello.git/' not found"
	tests := []struct {
		name      string
		minted    time.Duration // the token's age when the push is refused
		wantPulls int
	}{
		{"a token minted a moment ago", 0, 1},
		{"refused 4.5 s after its minting, before it settled", 4500 * time.Millisecond, 1},
		{"refused 5.5 s after its minting, once it settled", 5500 * time.Millisecond, 0},
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
				h.clock.Set(h.clock.Now().Add(tt.minted))
				res.ExitCode, res.Stdout, res.Stderr = 128, "", notFound
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
			if tt.wantPulls == 0 && (got.Status != sandstep.TaskFailed || !strings.Contains(got.Error, "not found")) {
				t.Errorf("task %s (%q); want failed, saying GitHub's 404", got.Status, got.Error)
			}
		})
	}
}
