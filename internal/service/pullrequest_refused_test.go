package service

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// README, "The pull request": "A push GitHub refuses (the branch exists
// with other commits, a rule protects it, no permission): the task fails,
// `no pull request: ...`; a push that does not reach GitHub is asked again
// by the state machine (`Sandbox.Transient`)." GitHub's rules speak through
// its pre-receive hooks, whose "remote:" lines come before git's own
// "! [remote rejected]" line; a rule's explanation (push protection's, a
// ruleset's) runs well past 500 bytes. A branch the repository's own
// refs forbid is refused alike.
func TestIssueTaskPushRefusedByARule(t *testing.T) {
	gh006 := []string{
		"error: GH006: Protected branch update failed for refs/heads/BRANCH.",
		"error: Changes must be made through a pull request.",
	}
	// GitHub's answer when push protection finds a secret in the agent's
	// commit (an agent committing a .env is not rare).
	gh013 := []string{
		"error: GH013: Repository rule violations found for refs/heads/BRANCH.",
		"",
		"- GITHUB PUSH PROTECTION",
		"  —————————————————————————————————————————",
		"    Resolve the following violations before pushing again",
		"",
		"    - Push cannot contain secrets",
		"",
		"",
		"     (?) Learn how to resolve a blocked push",
		"     https://docs.github.com/code-security/secret-scanning/working-with-secret-scanning-and-push-protection/working-with-push-protection-from-the-command-line#resolving-a-blocked-push",
		"",
		"",
		"      —— Amazon AWS Access Key ID ——————————————————————————",
		"       locations:",
		"         - commit: 8728dbe67e3a1f2b",
		"           path: .env:2",
		"",
		"       (?) To push, remove secret from commit(s) or follow this URL to allow the secret.",
		"       https://github.com/octo/hello/security/secret-scanning/unblock-secret/2GTxPqWnZz1sZ8yQvXbA3kLmN0o",
		"",
	}
	tests := []struct {
		name     string
		hook     []string // what GitHub's pre-receive says before it refuses
		existing string   // a branch already in the repository
	}{
		{name: "a protected branch (GH006)", hook: gh006},
		{name: "push protection finds a secret (GH013)", hook: gh013},
		// The task's branch sandstep/<taskId> can never be made beneath a
		// branch named sandstep: git says "'refs/heads/sandstep' exists;
		// cannot create …", then "! [remote rejected] … (failed to update
		// ref)", which is no passing failure.
		{name: "a branch named sandstep", existing: "sandstep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			branch := PushBranch(h.task.ID)
			if tt.hook != nil {
				var script strings.Builder
				script.WriteString("#!/bin/sh\ncat >/dev/null\ncat >&2 <<'MSG'\n")
				for _, l := range tt.hook {
					script.WriteString(strings.ReplaceAll(l, "BRANCH", branch) + "\n")
				}
				script.WriteString("MSG\nexit 1\n")
				if err := os.WriteFile(filepath.Join(h.origin, "hooks", "pre-receive"), []byte(script.String()), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if tt.existing != "" {
				git(t, h.origin, "branch", tt.existing, "main")
			}
			git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")

			ctx := context.Background()
			if err := h.svc.recordExit(ctx, h.task, 0); err != nil {
				t.Fatal(err)
			}
			_, err := h.svc.CollectTask(ctx, TaskStep{TaskID: h.task.ID, UserID: h.task.Owner, SandboxID: h.task.SandboxID})
			got := h.record(t)
			if err != nil || got.Status != sandstep.TaskFailed || !strings.HasPrefix(got.Error, "no pull request: the push to "+branch+" was refused") {
				msg := ""
				if err != nil {
					msg = sandstep.Clip(err.Error(), 140)
				}
				t.Errorf("collect = %s %q; task %s, error %q\nwant the task failed, \"no pull request: the push to %s was refused: ...\", not asked again as a push that did not reach GitHub",
					sandstep.ErrorCode(err), msg, got.Status, sandstep.Clip(got.Error, 120), branch)
			}
		})
	}
}
