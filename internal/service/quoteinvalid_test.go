package service

import (
	"context"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The issue's comment, public on a public repository, must never show a
// secret value or a GitHub token, even one the agent printed with a byte
// that is not UTF-8 inside it: the quote is made valid UTF-8 after its
// secrets are hidden, and dropping that byte joins the two halves into
// the secret itself.
func TestTheCommentHidesASecretJoinedByADroppedByte(t *testing.T) {
	const ref = "ssm:/sandstep/secrets/users/github:octo/hello/key"
	const secret = "sk-live-canary-0123456789"
	token := "ghs_" + strings.Repeat("aB3", 12)
	tests := []struct {
		name   string
		output string
		never  string
	}{
		{name: "a secret value with a stray byte", output: "key=" + secret[:12] + "\xff" + secret[12:] + "\ndone\n", never: secret},
		{name: "a GitHub token with a stray byte", output: "auth " + token[:20] + "\xfe" + token[20:] + "\ndone\n", never: token},
		{name: "a secret value with a cut character", output: "key=" + secret[:5] + "\xe2\x82" + secret[5:] + "\n", never: secret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h := issueHarness(t, nil)
			h.svc.repos = fakeRepos{"octo/hello": TaskInput{Command: "./agent.sh", TimeoutSeconds: 600,
				Sandbox: CreateSandboxInput{SecretEnv: map[string]string{"KEY": ref}}}}
			h.svc.secrets = fakeSecrets{ref: secret}
			taskID := startedIssueTask(t, h)
			chunks, bytes := inTurn([]keptChunk{{1, "stdout", 0, 1, tt.output}})
			putChunks(t, h.svc.objects, taskID, chunks)
			tk, err := h.store.TransitionTask(ctx, taskID, []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskFailed, func(r *sandstep.Task) {
				r.LogSeq, r.LogBytes = 1, bytes
			})
			if err != nil {
				t.Fatal(err)
			}
			if body := h.svc.endedComment(ctx, tk); strings.Contains(body, tt.never) {
				t.Errorf("the public comment shows %q:\n%s", tt.never, body)
			}
		})
	}
}
