package service

import (
	"context"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The issue's comment shows both streams' chunks in turn, as one text: a
// secret an agent prints half on stdout and half on stderr reads whole
// there, though neither stream's own text holds it.
func TestTheCommentHidesASecretSplitAcrossTheStreams(t *testing.T) {
	const ref = "ssm:/sandstep/secrets/users/github:octo/hello/key"
	const secret = "sk-live-canary-0123456789"
	ctx := context.Background()
	h := issueHarness(t, nil)
	h.svc.repos = fakeRepos{"octo/hello": TaskInput{Command: "./agent.sh", TimeoutSeconds: intp(600),
		Sandbox: CreateSandboxInput{SecretEnv: map[string]string{"KEY": ref}}}}
	h.svc.secrets = fakeSecrets{ref: secret}
	taskID := startedIssueTask(t, h)
	chunks, bytes := inTurn([]keptChunk{
		{1, "stdout", 0, 1, "key=" + secret[:12]},
		{2, "stderr", 0, 2, secret[12:]},
		{3, "stdout", 0, 3, "\ndone\n"},
	})
	putChunks(t, h.svc.objects, taskID, chunks)
	tk, err := h.store.TransitionTask(ctx, taskID, []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskFailed, func(r *sandstep.Task) {
		r.LogSeq, r.LogBytes = 3, bytes
	})
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := h.svc.endedComment(ctx, tk); strings.Contains(body, secret) {
		t.Errorf("the public comment shows the secret:\n%s", body)
	}
}
