package service

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The issue's comment, public on a public repository, never shows a
// secret value, a GitHub token or a secret's head its end cuts, even one
// the agent printed with a byte that is not UTF-8 inside it: each stream's
// text is made valid UTF-8 before its secrets are looked for, so no byte
// dropped after joins two halves into the secret, and a head cut inside a
// character is known as the quote shows it.
func TestTheCommentHidesSecretsAroundInvalidBytes(t *testing.T) {
	const ref = "ssm:/sandstep/secrets/users/github:octo/hello/key"
	const secret = "sk-live-canary-0123456789"
	const wide = "sk-live-canary-01234\u00e456789" // ä: two bytes, at byte 20
	token := "ghs_" + strings.Repeat("aB3", 12)
	tests := []struct {
		name    string
		secret  string
		outputs []string // stdout's chunks, a seq each
		cut     bool     // the log cut at MAX_TASK_LOG_BYTES
		never   string
	}{
		{name: "a secret value with a stray byte", secret: secret, outputs: []string{"key=" + secret[:12] + "\xff" + secret[12:] + "\ndone\n"}, never: secret},
		{name: "a GitHub token with a stray byte", secret: secret, outputs: []string{"auth " + token[:20] + "\xfe" + token[20:] + "\ndone\n"}, never: token},
		{name: "a secret value with a cut character", secret: secret, outputs: []string{"key=" + secret[:5] + "\xe2\x82" + secret[5:] + "\n"}, never: secret},
		{name: "the log cut inside the secret's character", secret: wide, outputs: []string{"key=" + wide[:21]}, cut: true, never: wide[:20]},
		{name: "the output ends inside the secret's character", secret: wide, outputs: []string{"starting\nkey=" + wide[:21]}, never: wide[:20]},
		{name: "control: the output ends before the character", secret: wide, outputs: []string{"key=" + wide[:20]}, never: wide[:20]},
		{name: "the secret's character split between two chunks", secret: wide, outputs: []string{"key=" + wide[:21], wide[21:] + "\ndone\n"}, never: wide[:20]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h := issueHarness(t, nil)
			h.svc.repos = fakeRepos{"octo/hello": TaskInput{Command: "./agent.sh", TimeoutSeconds: intp(600),
				Sandbox: CreateSandboxInput{SecretEnv: map[string]string{"KEY": ref}}}}
			h.svc.secrets = fakeSecrets{ref: tt.secret}
			taskID := startedIssueTask(t, h)
			var kept []keptChunk
			for k, o := range tt.outputs {
				kept = append(kept, keptChunk{int64(k + 1), "stdout", 0, int64(k + 1), o})
			}
			chunks, bytes := inTurn(kept)
			putChunks(t, h.svc.objects, taskID, chunks)
			tk, err := h.store.TransitionTask(ctx, taskID, []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskFailed, func(r *sandstep.Task) {
				r.LogSeq, r.LogBytes = int64(len(kept)), bytes
				if tt.cut {
					now := h.svc.opts.Now()
					r.LogCut, r.LogCutAt = "stdout", &now
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if body, _ := h.svc.endedComment(ctx, tk); strings.Contains(body, tt.never) {
				t.Errorf("the public comment shows %q:\n%s", tt.never, body)
			}
		})
	}
}

// git's stderr quoted in a task's error (and from there in the issue's
// public comment) is made valid UTF-8 before its secrets are looked for, as
// the comment's output is: a reader that drops a stray byte inside a secret
// would otherwise show the secret whole.
func TestAQuotedStderrHidesASecretJoinedByADroppedByte(t *testing.T) {
	const ref = "ssm:/sandstep/secrets/users/github:octo/hello/key"
	const secret = "sk-live-canary-0123456789"
	token := "ghs_" + strings.Repeat("aB3", 12)
	tests := []struct {
		name   string
		stderr string
		never  string
	}{
		{name: "a secret value with a stray byte", stderr: "fatal: bad value " + secret[:12] + "\xff" + secret[12:], never: secret},
		{name: "a GitHub token with a stray byte", stderr: "fatal: auth " + token[:20] + "\xfe" + token[20:], never: token},
		{name: "a secret value with a cut character", stderr: "fatal: " + secret[:5] + "\xe2\x82" + secret[5:], never: secret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Service{secrets: fakeSecrets{ref: secret}}
			task := &sandstep.Task{ID: "tsk_quote", Owner: "github:octo/hello"}
			spec := &TaskInput{Sandbox: CreateSandboxInput{SecretEnv: map[string]string{"KEY": ref}}}
			got := s.quotedStderr(context.Background(), task, spec, tt.stderr)
			if shown := strings.ToValidUTF8(got, ""); strings.Contains(shown, tt.never) {
				t.Errorf("the quoted stderr %q, its invalid bytes dropped, shows %q", got, tt.never)
			}
			if !utf8.ValidString(got) {
				t.Errorf("the quoted stderr %q is not valid UTF-8", got)
			}
		})
	}
}
