package service

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// When the agent's commits cannot be read, the task fails `no pull
// request: the agent's commits could not be read (exit N): <why>`, and the
// issue's ended comment quotes that error: <why> must be the stage's own
// reason, not the noise of its sweep for the task's leftover processes
// (the shell's "cannot open /proc/N/environ" for every process the
// sandbox's user may not read, or that ended during the sweep).
func TestIssueTaskUnreadableCommitsSayWhy(t *testing.T) {
	tests := []struct {
		name  string
		agent func(t *testing.T, h *repoHarness)
		why   string // what the stage itself says
	}{
		{
			name: "the agent removed its clone",
			agent: func(t *testing.T, h *repoHarness) {
				if err := os.RemoveAll(h.clone); err != nil {
					t.Fatal(err)
				}
			},
			why: "no commit in the repository",
		},
		{
			name: "the agent's clone lost its history",
			agent: func(t *testing.T, h *repoHarness) {
				if err := os.RemoveAll(filepath.Join(h.clone, ".git", "objects")); err != nil {
					t.Fatal(err)
				}
			},
			why: "no commit in the repository",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			tt.agent(t, h)
			got := h.exit(t, 0)
			if got.Status != sandstep.TaskFailed || !strings.HasPrefix(got.Error, "no pull request: the agent's commits could not be read") {
				t.Fatalf("task %s (%s), want failed for its unreadable commits", got.Status, sandstep.Clip(got.Error, 200))
			}
			if !strings.Contains(got.Error, tt.why) {
				t.Errorf("the task's error (quoted in the issue's comment) does not say %q:\n%s", tt.why, sandstep.Clip(got.Error, 300))
			}
		})
	}
}
