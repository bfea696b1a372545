package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// unreadableObjects is an object store whose reads fail (S3 answering
// 503 SlowDown), its writes kept.
type unreadableObjects struct{ Objects }

func (unreadableObjects) Get(context.Context, string) ([]byte, error) {
	return nil, sandstep.Errorf(sandstep.ETRANSIENT, "s3: 503 SlowDown; try again")
}

// The execution of a task that did not succeed ends FAILED, and its
// status change's clean-up (task-ended) follows the state machine's own
// clean-up every time, seconds later, or up to a day later when delivered
// again. The task has ended: there is nothing left to clean up. The
// issue's ended comment, which the step's clean-up wrote quoting the end
// of the task's output, must not be edited by that second clean-up into a
// comment that quotes none of it because a read failed at that moment.
func TestEndedEventKeepsTheEndedCommentsOutput(t *testing.T) {
	const ref = "ssm:/sandstep/secrets/users/github:octo/hello/key"
	for _, tt := range []struct {
		name  string
		spoil func(h *faultHarness)
	}{
		{name: "its secret unreadable (removed, or SSM throttled)", spoil: func(h *faultHarness) { h.svc.secrets = fakeSecrets{} }},
		{name: "its output unreadable (S3 throttled)", spoil: func(h *faultHarness) { h.svc.objects = unreadableObjects{h.svc.objects} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			comments := &fakeComments{bodies: map[int64]string{}}
			h := issueHarness(t, comments)
			h.svc.repos = fakeRepos{"octo/hello": TaskInput{Command: "./agent.sh", TimeoutSeconds: intp(600),
				Sandbox: CreateSandboxInput{SecretEnv: map[string]string{"KEY": ref}}}}
			h.svc.secrets = fakeSecrets{ref: "sk-live-canary-0123456789"}
			// Its collect gave it its outcome.
			taskID := failedIssueTask(t, h, "Error: the build failed: missing module foo\n")
			// The state machine's clean-up tells the issue.
			if _, err := h.svc.CleanUpTaskStep(ctx, taskID, nil); !isOutcome(err) {
				t.Fatalf("the clean-up step: %v; want the task's failure", err)
			}
			tk, err := h.store.GetTask(ctx, taskID)
			if err != nil || tk.Status != sandstep.TaskFailed || tk.IssueComment == 0 {
				t.Fatalf("task = %+v, %v; want failed, with its comment", tk, err)
			}
			told := comments.bodies[tk.IssueComment]
			if !strings.Contains(told, "missing module foo") {
				t.Fatalf("the ended comment quotes no output:\n%s", told)
			}
			// The execution ended FAILED: its status change's clean-up.
			tt.spoil(h)
			_, _ = h.svc.CleanUpTask(ctx, taskID, &TaskFailure{Error: "Task.Failed", Cause: "task " + taskID + ": the command exited with 1"})
			if got := comments.bodies[tk.IssueComment]; got != told {
				t.Errorf("the ended comment, edited by the ended execution's clean-up:\n%s\nwas:\n%s", got, told)
			}
		})
	}
}

func isOutcome(err error) bool {
	_, ok := err.(*OutcomeError)
	return ok
}

// A cancel writes no ended comment: its stopped execution's clean-up
// (task-ended, the task already cancelled) writes the first one, quoting
// no output when a read fails rather than leave the issue saying started.
func TestCancelledTasksEndedCommentIsWrittenWhenItsOutputIsUnreadable(t *testing.T) {
	ctx := context.Background()
	comments := &fakeComments{bodies: map[int64]string{}}
	h := issueHarness(t, comments)
	taskID := startedIssueTask(t, h)
	chunks, bytes := inTurn([]keptChunk{{1, "stdout", 0, 1, "cloning\n"}})
	putChunks(t, h.svc.objects, taskID, chunks)
	if _, err := h.store.TransitionTask(ctx, taskID, []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskQueued, func(r *sandstep.Task) {
		r.LogSeq, r.LogBytes = 1, bytes
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.CancelTask(ctx, Call{UserID: "github:octo/hello", RequestID: "cancel"}, taskID); err != nil {
		t.Fatal(err)
	}
	h.svc.objects = unreadableObjects{h.svc.objects}
	_, _ = h.svc.CleanUpTask(ctx, taskID, &TaskFailure{Error: "Task.Cancelled", Cause: "cancelled by its owner"})
	tk, err := h.store.GetTask(ctx, taskID)
	if err != nil || tk.Status != sandstep.TaskCancelled {
		t.Fatalf("task = %+v, %v; want cancelled", tk, err)
	}
	if got := comments.bodies[tk.IssueComment]; !strings.Contains(got, "` cancelled") {
		t.Errorf("the issue's comment on the cancelled task says:\n%s", got)
	}
}

// The clean-up step's ended comment refused, the ended execution's
// clean-up is the issue's second chance to be told, its output quoted.
func TestEndedEventWritesTheEndedCommentTheStepCouldNot(t *testing.T) {
	ctx := context.Background()
	comments := &refusingComments{}
	h := issueHarness(t, comments)
	taskID := failedIssueTask(t, h, "Error: missing module foo\n")
	// Refused for longer than the step waits (its context's time).
	comments.refuse = 1 << 20
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	_, _ = h.svc.CleanUpTaskStep(sctx, taskID, nil)
	cancel()
	if got := comments.last(); strings.Contains(got, "missing module foo") {
		t.Fatalf("the step's comment landed: %q", got)
	}
	comments.refuse = 0
	_, _ = h.svc.CleanUpTask(ctx, taskID, &TaskFailure{Error: "Task.Failed", Cause: "task " + taskID + ": the command exited with 1"})
	if got := comments.last(); !strings.Contains(got, "` failed") || !strings.Contains(got, "missing module foo") {
		t.Errorf("after the ended execution's clean-up the issue says:\n%s", got)
	}
}

// unreadableLogs is an object store whose reads of log chunks fail, its
// other reads (the task's spec) answered.
type unreadableLogs struct{ Objects }

func (o unreadableLogs) Get(ctx context.Context, key string) ([]byte, error) {
	if strings.Contains(key, "/log/") {
		return nil, sandstep.Errorf(sandstep.ETRANSIENT, "s3: 503 SlowDown; try again")
	}
	return o.Objects.Get(ctx, key)
}

// The ended execution's clean-up whose spec and secrets read, but not the
// output's chunks, leaves the step's ended comment as it is too.
func TestEndedEventKeepsTheCommentWhenOnlyItsOutputIsUnreadable(t *testing.T) {
	ctx := context.Background()
	comments := &fakeComments{bodies: map[int64]string{}}
	h := issueHarness(t, comments)
	taskID := failedIssueTask(t, h, "Error: missing module foo\n")
	_, _ = h.svc.CleanUpTaskStep(ctx, taskID, nil)
	tk, err := h.store.GetTask(ctx, taskID)
	if err != nil || !strings.Contains(comments.bodies[tk.IssueComment], "missing module foo") {
		t.Fatalf("task %+v, %v; the step's comment: %q", tk, err, comments.bodies[tk.IssueComment])
	}
	told := comments.bodies[tk.IssueComment]
	h.svc.objects = unreadableLogs{h.svc.objects}
	_, _ = h.svc.CleanUpTask(ctx, taskID, &TaskFailure{Error: "Task.Failed", Cause: "task " + taskID + ": the command exited with 1"})
	if got := comments.bodies[tk.IssueComment]; got != told {
		t.Errorf("the ended comment, edited by the ended execution's clean-up:\n%s\nwas:\n%s", got, told)
	}
}

// failedIssueTask is a started issue task with stderr as its stored
// output, failed by its collect (exit code 1), which tells nobody.
func failedIssueTask(t *testing.T, h *faultHarness, stderr string) string {
	t.Helper()
	taskID := startedIssueTask(t, h)
	chunks, bytes := inTurn([]keptChunk{{1, "stderr", 0, 1, stderr}})
	putChunks(t, h.svc.objects, taskID, chunks)
	exit, now := 1, h.clock.Now().UTC()
	if _, err := h.store.TransitionTask(context.Background(), taskID, []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskFailed, func(r *sandstep.Task) {
		r.LogSeq, r.LogBytes, r.ExitCode = 1, bytes, &exit
		r.Error, r.FinishedAt = "the command exited with 1", &now
	}); err != nil {
		t.Fatal(err)
	}
	return taskID
}
