package service

import (
	"context"
	"encoding/json"
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

// What git printed about the agent's clone, quoted in the task's error
// (and so in the issue's public comment), has the task's secrets hidden:
// git echoes a bad configuration value whole. With the secrets unreadable
// it is not quoted.
func TestAPullRequestErrorHidesTheTasksSecrets(t *testing.T) {
	const ref = "ssm:/sandstep/secrets/users/github:octo/hello/key"
	const secret = "sk-live-canary-0123456789"
	tests := []struct {
		name    string
		secrets fakeSecrets
		want    string
		never   string
	}{
		{"a secret git echoed", fakeSecrets{ref: secret}, "[REDACTED]", secret},
		{"secrets that cannot be read", fakeSecrets{}, "(not quoted: the task's secrets could not be read to hide them)", secret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			ctx := context.Background()
			// The task was given the secret.
			raw, err := h.svc.objects.Get(ctx, specKey(h.task.ID))
			if err != nil {
				t.Fatal(err)
			}
			var spec TaskInput
			if err := json.Unmarshal(raw, &spec); err != nil {
				t.Fatal(err)
			}
			spec.Sandbox.SecretEnv = map[string]string{"KEY": ref}
			if raw, err = json.Marshal(spec); err != nil {
				t.Fatal(err)
			}
			if err := h.svc.objects.Put(ctx, specKey(h.task.ID), raw); err != nil {
				t.Fatal(err)
			}
			h.svc.secrets = tt.secrets
			git(t, h.clone, "config", "core.bigFileThreshold", secret)
			got := h.exit(t, 0)
			if got.Status != sandstep.TaskFailed || !strings.Contains(got.Error, tt.want) || strings.Contains(got.Error, tt.never) {
				t.Errorf("task %s, error %q; want failed, saying %q, never %q", got.Status, got.Error, tt.want, tt.never)
			}
		})
	}
}
