package service

import (
	"context"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The task's end and its ended comment are written by different steps:
// Collect (finishTask) or Check (a deadline's timedOut) ends the task and
// tells nobody; the CleanUp step after it finds the task ended and writes
// the first ended comment. A clean-up that finds its task ended has told
// nothing yet unless it is the ended execution's clean-up after a CleanUp
// step that answered the task's outcome (Task.*): the CleanUp step itself,
// and an execution's clean-up after a step that failed every try
// (Sandbox.*) or an execution that timed out in it (States.Timeout), write
// the issue's first ended comment, quoting no output when a read fails,
// rather than leave the issue saying "started" for good (a succeeded
// task's execution has no other clean-up; a removed secret fails every
// one).
func TestTheFirstEndedCommentIsWrittenWhenItsOutputIsUnreadable(t *testing.T) {
	const ref = "ssm:/sandstep/secrets/users/github:octo/hello/key"
	secretGone := func(h *faultHarness) { h.svc.secrets = fakeSecrets{} }
	outputUnreadable := func(h *faultHarness) { h.svc.objects = unreadableObjects{h.svc.objects} }
	step := func(ctx context.Context, h *faultHarness, id string) { _, _ = h.svc.CleanUpTaskStep(ctx, id, nil) }
	executionEnded := func(name string) func(context.Context, *faultHarness, string) {
		return func(ctx context.Context, h *faultHarness, id string) {
			_, _ = h.svc.CleanUpTask(ctx, id, &TaskFailure{Error: name, Cause: "the execution failed"})
		}
	}
	for _, tt := range []struct {
		name    string
		ended   sandstep.TaskStatus
		exit    int
		spoil   func(h *faultHarness)
		cleanUp func(ctx context.Context, h *faultHarness, id string)
	}{
		{name: "succeeded by its collect, its secret removed, the step", ended: sandstep.TaskSucceeded,
			spoil: secretGone, cleanUp: step},
		{name: "failed by its collect, its output unreadable, the step", ended: sandstep.TaskFailed, exit: 1,
			spoil: outputUnreadable, cleanUp: step},
		{name: "timed out by its check, its secret removed, the step", ended: sandstep.TaskTimedOut, exit: -1,
			spoil: secretGone, cleanUp: step},
		{name: "failed by its collect, the step failing every try, the execution's", ended: sandstep.TaskFailed, exit: 1,
			spoil: outputUnreadable, cleanUp: executionEnded("Sandbox.Transient")},
		{name: "succeeded by its collect, the execution timed out in the step, the execution's", ended: sandstep.TaskSucceeded,
			spoil: secretGone, cleanUp: executionEnded("States.Timeout")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			comments := &fakeComments{bodies: map[int64]string{}}
			h := issueHarness(t, comments)
			h.svc.repos = fakeRepos{"octo/hello": TaskInput{Command: "./agent.sh", TimeoutSeconds: intp(600),
				Sandbox: CreateSandboxInput{SecretEnv: map[string]string{"KEY": ref}}}}
			h.svc.secrets = fakeSecrets{ref: "sk-live-canary-0123456789"}
			taskID := startedIssueTask(t, h)
			chunks, bytes := inTurn([]keptChunk{{1, "stderr", 0, 1, "Error: the build failed: missing module foo\n"}})
			putChunks(t, h.svc.objects, taskID, chunks)
			// A step before the clean-up gave it its outcome, telling nobody.
			now := h.clock.Now().UTC()
			if _, err := h.store.TransitionTask(ctx, taskID, []sandstep.TaskStatus{sandstep.TaskQueued}, tt.ended, func(r *sandstep.Task) {
				r.LogSeq, r.LogBytes, r.FinishedAt = 1, bytes, &now
				if tt.exit >= 0 {
					r.ExitCode = &tt.exit
				}
				if tt.ended == sandstep.TaskSucceeded {
					r.PullRequest = "https://github.com/octo/hello/pull/4"
				}
			}); err != nil {
				t.Fatal(err)
			}
			tt.spoil(h)
			tt.cleanUp(ctx, h, taskID)
			tk, err := h.store.GetTask(ctx, taskID)
			if err != nil {
				t.Fatal(err)
			}
			want := "` " + strings.ReplaceAll(string(tt.ended), "_", " ")
			if got := comments.bodies[tk.IssueComment]; !strings.Contains(got, want) {
				t.Errorf("the issue of the task that ended %s says:\n%s", tt.ended, got)
			}
		})
	}
}
