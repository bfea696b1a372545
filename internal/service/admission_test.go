package service

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// countingComments is fakeComments that counts what it was asked.
type countingComments struct {
	mu     sync.Mutex
	bodies []string // every body written, in order
}

func (c *countingComments) UpsertComment(_ context.Context, _ int64, _ string, _ int, id int64, body string) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bodies = append(c.bodies, body)
	return 1, nil
}

func (c *countingComments) saying(word string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, b := range c.bodies {
		if strings.Contains(b, word) {
			n++
		}
	}
	return n
}

// admissionHarness is a fault harness whose users hold one sandbox at a
// time, with a 30m queue.
func admissionHarness(t *testing.T) (*faultHarness, *countingComments) {
	t.Helper()
	h := newFaultHarness(t, 1)
	h.svc.opts.QueueTimeout = 30 * time.Minute
	comments := &countingComments{}
	h.svc.comments = comments
	return h, comments
}

// startTask accepts a task of owner as the issue's (metadata included for
// a repository) and returns its first step.
func startTask(t *testing.T, h *faultHarness, owner string, issue string) TaskStep {
	t.Helper()
	in := TaskInput{Command: "./agent.sh"}
	if repo, ok := sandstep.RepoOf(owner); ok {
		in.Metadata = sandstep.Metadata{Repo: repo, IssueID: issue, InstallationID: "7"}
		in.Sandbox.Git = &GitSource{URL: "https://github.com/" + repo + ".git", Branch: "main"}
	}
	tk, err := h.svc.StartTask(context.Background(), Call{UserID: owner, RequestID: "r-" + issue}, in)
	if err != nil {
		t.Fatal(err)
	}
	return TaskStep{TaskID: tk.ID, UserID: owner}
}

func TestAdmissionOverQuota(t *testing.T) {
	tests := []struct {
		name         string
		owner        string
		queueTimeout time.Duration
		after        time.Duration // since the task was accepted
		want         sandstep.Code
		message      string
		queued       bool
	}{
		{"a repository's task waits its turn", "github:octo/hello", 30 * time.Minute, time.Minute, sandstep.EQUEUED, "waits its turn", true},
		{"still within the queue timeout", "github:octo/hello", 30 * time.Minute, 30 * time.Minute, sandstep.EQUEUED, "waits its turn", true},
		{"past the queue timeout", "github:octo/hello", 30 * time.Minute, 31 * time.Minute, sandstep.ETIMEOUT, "GITHUB_QUEUE_TIMEOUT", false},
		{"no queue: a repository's task fails at once", "github:octo/hello", 0, 0, sandstep.EQUOTA, "sandbox limit reached", false},
		{"a user's task fails at once", "alice", 30 * time.Minute, 0, sandstep.EQUOTA, "sandbox limit reached", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h, comments := admissionHarness(t)
			h.svc.opts.QueueTimeout = tt.queueTimeout
			if _, err := h.svc.CreateTaskSandbox(ctx, startTask(t, h, tt.owner, "1")); err != nil {
				t.Fatalf("the first task: %v", err)
			}
			step := startTask(t, h, tt.owner, "2")
			h.clock.Set(h.clock.Now().Add(tt.after))
			_, err := h.svc.CreateTaskSandbox(ctx, step)
			if got := sandstep.ErrorCode(err); got != tt.want || !strings.Contains(sandstep.ErrorMessage(err), tt.message) {
				t.Fatalf("CreateTaskSandbox = %v, want %s saying %q", err, tt.want, tt.message)
			}
			got, _ := h.store.GetTask(ctx, step.TaskID)
			if (got.QueuedAt != nil) != tt.queued || got.Status != sandstep.TaskQueued || got.SandboxID != "" {
				t.Errorf("task %s, sandbox %q, queuedAt %v; want queued without a sandbox, marked waiting %v", got.Status, got.SandboxID, got.QueuedAt, tt.queued)
			}
			if n := comments.saying("queued task `" + step.TaskID + "`"); (n == 1) != tt.queued || n > 1 {
				t.Errorf("%d comments say the task is queued, want one %v", n, tt.queued)
			}
		})
	}
}

// A queued task's issue is told once; when a slot comes free the task is
// admitted and the issue told it started. One that waits too long fails
// with a message that says why.
func TestQueuedTaskLifecycle(t *testing.T) {
	ctx := context.Background()
	h, comments := admissionHarness(t)
	first := startTask(t, h, "github:octo/hello", "1")
	if _, err := h.svc.CreateTaskSandbox(ctx, first); err != nil {
		t.Fatal(err)
	}
	second := startTask(t, h, "github:octo/hello", "2")
	for range 3 {
		h.clock.Set(h.clock.Now().Add(2 * time.Minute))
		if _, err := h.svc.CreateTaskSandbox(ctx, second); sandstep.ErrorCode(err) != sandstep.EQUEUED {
			t.Fatalf("over quota: %v, want queued", err)
		}
	}
	if n := comments.saying("queued task `" + second.TaskID + "`"); n != 1 {
		t.Errorf("%d comments say it is queued over three attempts, want 1", n)
	}
	if _, err := h.svc.CancelTask(ctx, Call{UserID: first.UserID, RequestID: "c"}, first.TaskID); err != nil {
		t.Fatal(err)
	}
	next, err := h.svc.CreateTaskSandbox(ctx, second)
	if err != nil || next.SandboxID == "" {
		t.Fatalf("after a slot came free: %+v, %v", next, err)
	}
	if n := comments.saying("started task `" + second.TaskID + "`"); n != 1 {
		t.Errorf("%d comments say it started, want 1", n)
	}

	// A third waits past the queue's timeout: the state machine's catch
	// cleans it up, failed, saying why.
	third := startTask(t, h, "github:octo/hello", "3")
	h.clock.Set(h.clock.Now().Add(31 * time.Minute))
	_, err = h.svc.CreateTaskSandbox(ctx, third)
	if sandstep.ErrorCode(err) != sandstep.ETIMEOUT {
		t.Fatalf("past the queue timeout: %v, want timeout", err)
	}
	cause := `{"errorType":"Sandbox.Timeout","errorMessage":"` + sandstep.ErrorMessage(err) + `"}`
	_, _ = h.svc.CleanUpTask(ctx, third.TaskID, &TaskFailure{Error: "Sandbox.Timeout", Cause: cause})
	got, _ := h.store.GetTask(ctx, third.TaskID)
	if got.Status != sandstep.TaskFailed || !strings.Contains(got.Error, "GITHUB_QUEUE_TIMEOUT") {
		t.Errorf("task %s, error %q; want failed, naming GITHUB_QUEUE_TIMEOUT", got.Status, got.Error)
	}
}

// A repository's task may queue and then wait for Daytona's capacity: the
// capacity wait counts after the queue's.
func TestCapacityWaitAfterQueue(t *testing.T) {
	tests := []struct {
		name  string
		owner string
		after time.Duration
		want  sandstep.Code
	}{
		{"a user's task within CAPACITY_WAIT", "alice", 14 * time.Minute, sandstep.ECAPACITY},
		{"a user's task past CAPACITY_WAIT", "alice", 16 * time.Minute, sandstep.ETIMEOUT},
		{"a repository's task past CAPACITY_WAIT, within the queue's too", "github:octo/hello", 44 * time.Minute, sandstep.ECAPACITY},
		{"a repository's task past both", "github:octo/hello", 46 * time.Minute, sandstep.ETIMEOUT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := admissionHarness(t)
			h.provider.failOn("create", sandstep.Errorf(sandstep.ECAPACITY, "no capacity"))
			step := startTask(t, h, tt.owner, "1")
			h.clock.Set(h.clock.Now().Add(tt.after))
			if _, err := h.svc.CreateTaskSandbox(context.Background(), step); sandstep.ErrorCode(err) != tt.want {
				t.Errorf("CreateTaskSandbox = %v, want %s", err, tt.want)
			}
		})
	}
}

// A task that waits its turn mints no token while it waits: the clone's
// is minted once the slot is held.
func TestQueuedTaskMintsNoToken(t *testing.T) {
	ctx := context.Background()
	h, _ := admissionHarness(t)
	access := &fakeRepoAccess{life: time.Hour, now: h.clock.Now}
	h.svc.repoAccess = access
	if _, err := h.svc.CreateTaskSandbox(ctx, startTask(t, h, "github:octo/hello", "1")); err != nil {
		t.Fatal(err)
	}
	waiting := startTask(t, h, "github:octo/hello", "2")
	for range 3 { // the state machine's retries while it waits
		if _, err := h.svc.CreateTaskSandbox(ctx, waiting); sandstep.ErrorCode(err) != sandstep.EQUEUED {
			t.Fatalf("over quota: %v", err)
		}
	}
	if len(access.minted) != 1 || len(access.revoked) != 0 {
		t.Errorf("minted %v, revoked %d; want the running task's token only, and kept", access.minted, len(access.revoked))
	}
}

// A clone token minted for a sandbox that then failed to be made is
// revoked: no sandbox holds it.
func TestFailedSandboxRevokesItsCloneToken(t *testing.T) {
	ctx := context.Background()
	h, _ := admissionHarness(t)
	access := &fakeRepoAccess{life: time.Hour, now: h.clock.Now}
	h.svc.repoAccess = access
	h.provider.failOn("git", sandstep.Errorf(sandstep.EINVALID, "repository not found"))
	if _, err := h.svc.CreateTaskSandbox(ctx, startTask(t, h, "github:octo/hello", "1")); err == nil {
		t.Fatal("a failed clone made the sandbox")
	}
	if len(access.minted) != 1 || len(access.revoked) != 1 {
		t.Errorf("minted %v, revoked %d; want the one token revoked", access.minted, len(access.revoked))
	}
}
