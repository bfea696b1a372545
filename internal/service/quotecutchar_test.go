package service

import (
	"context"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// An output whose stored end cuts a character of a secret (the log's cut
// at MAX_TASK_LOG_BYTES, or a task killed while it printed) ends in the
// secret's head: the comment hides "an end that begins one of them", so
// the head must not be quoted.
func TestTheCommentHidesASecretsHeadCutInsideACharacter(t *testing.T) {
	const ref = "ssm:/sandstep/secrets/users/github:octo/hello/key"
	const secret = "sk-live-canary-01234\u00e456789" // ä: two bytes, at byte 20
	head := secret[:20]
	tests := []struct {
		name   string
		output string
		cut    bool
	}{
		{name: "the log cut inside the secret's character", output: "key=" + secret[:21], cut: true},
		{name: "the output ends inside the secret's character", output: "starting\nkey=" + secret[:21]},
		{name: "control: the output ends before the character", output: "key=" + head},
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
				if tt.cut {
					now := h.svc.opts.Now()
					r.LogCut, r.LogCutAt = "stdout", &now
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if body := h.svc.endedComment(ctx, tk); strings.Contains(body, head) {
				t.Errorf("the public comment shows the secret's first %d bytes %q:\n%s", len(head), head, body)
			}
		})
	}
}
