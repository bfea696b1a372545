package service

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// fakeDrain is a drain switch the test flips.
type fakeDrain struct {
	mu      sync.Mutex
	on      bool
	renewed int
}

func (d *fakeDrain) Drained(context.Context) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.on
}

func (d *fakeDrain) Renew(context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.renewed++
}

func (d *fakeDrain) set(on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.on = on
}

// drainHarness is admissionHarness with a drain switch, off.
func drainHarness(t *testing.T) (*faultHarness, *countingComments, *fakeDrain) {
	t.Helper()
	h, comments := admissionHarness(t)
	d := &fakeDrain{}
	h.svc.drain = d
	return h, comments, d
}

// acceptIssueTask accepts an issue's task as a webhook delivery does
// (which a drain does not refuse).
func acceptIssueTask(t *testing.T, h *faultHarness, repo, issue string) TaskStep {
	t.Helper()
	in := TaskInput{Command: "./agent.sh", Metadata: sandstep.Metadata{Repo: repo, IssueID: issue, InstallationID: "7"}}
	tk, err := h.svc.startTask(context.Background(), Call{UserID: sandstep.RepoUser(repo), RequestID: "d-" + issue}, in, func(context.Context, *sandstep.Task) {})
	if err != nil {
		t.Fatal(err)
	}
	return TaskStep{TaskID: tk.ID, UserID: tk.Owner}
}

// Each operation, with the switch off and on: while drained nothing new
// is admitted (a create, an agent-execute, a task through the API or the
// console); what was admitted before goes on, and reads, commands,
// cancels and deletes work.
func TestDrainedOperations(t *testing.T) {
	ctx := context.Background()
	type made struct {
		sandbox string
		step    TaskStep
	}
	withSandbox := func(t *testing.T, h *faultHarness) made {
		sb, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
		if err != nil {
			t.Fatal(err)
		}
		return made{sandbox: sb.ID}
	}
	withTask := func(t *testing.T, h *faultHarness) made { return made{step: startTask(t, h, "alice", "1")} }
	keyed := Call{UserID: "alice", RequestID: "r", IdempotencyKey: "k-1"}
	tests := []struct {
		name    string
		setup   func(*testing.T, *faultHarness) made // before the drain
		op      func(*faultHarness, made) error
		drained sandstep.Code // the answer while drained; "": as when not
	}{
		{"create", nil, func(h *faultHarness, _ made) error {
			_, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
			return err
		}, sandstep.EDRAINING},
		{"a create's retry with its key is answered as the first was", func(t *testing.T, h *faultHarness) made {
			if _, err := h.svc.CreateSandbox(ctx, keyed, CreateSandboxInput{}); err != nil {
				t.Fatal(err)
			}
			return made{}
		}, func(h *faultHarness, _ made) error {
			_, err := h.svc.CreateSandbox(ctx, keyed, CreateSandboxInput{})
			return err
		}, ""},
		{"agent-execute", nil, func(h *faultHarness, _ made) error {
			_, err := h.svc.AgentExecute(ctx, alice(), AgentExecuteInput{Command: "true"})
			return err
		}, sandstep.EDRAINING},
		{"a task through the API", nil, func(h *faultHarness, _ made) error {
			_, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "true"})
			return err
		}, sandstep.EDRAINING},
		{"a console start", nil, func(h *faultHarness, _ made) error {
			_, err := h.svc.PrepareTask(ctx, NewTaskID(), []byte(`{"userId":"alice","task":{"command":"true"}}`))
			return err
		}, sandstep.EDRAINING},
		{"an issue's delivery is accepted", nil, func(h *faultHarness, _ made) error {
			_, err := h.svc.startTask(ctx, Call{UserID: "github:octo/hello", RequestID: "r"},
				TaskInput{Command: "true", Metadata: sandstep.Metadata{Repo: "octo/hello", IssueID: "3", InstallationID: "7"}}, func(context.Context, *sandstep.Task) {})
			return err
		}, ""},
		{"Prepare of a task accepted before", withTask, func(h *faultHarness, m made) error {
			_, err := h.svc.PrepareTask(ctx, m.step.TaskID, []byte(`{"taskId":"`+m.step.TaskID+`","userId":"alice"}`))
			return err
		}, ""},
		{"the sandbox of a user's task past Prepare", withTask, func(h *faultHarness, m made) error {
			_, err := h.svc.CreateTaskSandbox(ctx, m.step)
			return err
		}, ""},
		{"a command in a sandbox", withSandbox, func(h *faultHarness, m made) error {
			_, err := h.svc.Exec(ctx, alice(), m.sandbox, ExecInput{Command: "true"})
			return err
		}, ""},
		{"a read", withSandbox, func(h *faultHarness, m made) error {
			_, err := h.svc.GetSandbox(ctx, alice(), m.sandbox)
			return err
		}, ""},
		{"a list", withSandbox, func(h *faultHarness, _ made) error {
			_, err := h.svc.ListSandboxes(ctx, alice(), SandboxListInput{})
			return err
		}, ""},
		{"a delete", withSandbox, func(h *faultHarness, m made) error {
			_, err := h.svc.DeleteSandbox(ctx, alice(), m.sandbox)
			return err
		}, ""},
		{"a task's cancel", withTask, func(h *faultHarness, m made) error {
			_, err := h.svc.CancelTask(ctx, alice(), m.step.TaskID)
			return err
		}, ""},
	}
	for _, tt := range tests {
		for _, on := range []bool{false, true} {
			name := tt.name + "/not drained"
			if on {
				name = tt.name + "/drained"
			}
			t.Run(name, func(t *testing.T) {
				h, _, d := drainHarness(t)
				var m made
				if tt.setup != nil {
					m = tt.setup(t, h)
				}
				before, made := held(t, h, "alice"), len(h.provider.live())
				d.set(on)
				err := tt.op(h, m)
				want := sandstep.Code("")
				if on {
					want = tt.drained
				}
				if got := sandstep.ErrorCode(err); got != want {
					t.Fatalf("got %v, want code %q", err, want)
				}
				if want == sandstep.EDRAINING {
					if sandstep.ErrorMessage(err) != DrainedMessage {
						t.Errorf("message %q, want %q", sandstep.ErrorMessage(err), DrainedMessage)
					}
					if after := held(t, h, "alice"); after != before {
						t.Errorf("a refused operation holds %d slots, %d before", after, before)
					}
					if n := len(h.provider.live()); n != made {
						t.Errorf("%d provider sandboxes after a refusal, %d before", n, made)
					}
				}
			})
		}
	}
}

// While drained an issue's task waits, its issue told it is paused; once
// resumed it is admitted and the issue told it started. One drained past
// GITHUB_QUEUE_TIMEOUT fails saying why, and with no queue at all it
// fails at once as drained.
func TestDrainedIssueTask(t *testing.T) {
	tests := []struct {
		name         string
		queueTimeout time.Duration
		waits        time.Duration // drained for, since the task was accepted
		want         sandstep.Code
		message      string
		paused       bool
	}{
		{"paused", 30 * time.Minute, time.Minute, sandstep.EQUEUED, "paused", true},
		{"still within the queue timeout", 30 * time.Minute, 30 * time.Minute, sandstep.EQUEUED, "paused", true},
		{"past the queue timeout", 30 * time.Minute, 31 * time.Minute, sandstep.ETIMEOUT, "sandstep was not resumed within 30m0s (GITHUB_QUEUE_TIMEOUT)", false},
		{"no queue", 0, 0, sandstep.EDRAINING, DrainedMessage, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h, comments, d := drainHarness(t)
			h.svc.opts.QueueTimeout = tt.queueTimeout
			step := acceptIssueTask(t, h, "octo/hello", "1")
			d.set(true)
			h.clock.Set(h.clock.Now().Add(tt.waits))
			_, err := h.svc.CreateTaskSandbox(ctx, step)
			if got := sandstep.ErrorCode(err); got != tt.want || !strings.Contains(sandstep.ErrorMessage(err), tt.message) {
				t.Fatalf("CreateTaskSandbox = %v, want %s saying %q", err, tt.want, tt.message)
			}
			if n := len(h.provider.live()); n != 0 {
				t.Errorf("%d sandboxes made while drained", n)
			}
			if n := comments.saying("paused task `" + step.TaskID + "`"); (n == 1) != tt.paused || n > 1 {
				t.Errorf("%d comments say the task is paused, want one: %v", n, tt.paused)
			}
			if !tt.paused {
				return
			}
			// A second try while still drained tells the issue nothing new.
			if _, err := h.svc.CreateTaskSandbox(ctx, step); sandstep.ErrorCode(err) != sandstep.EQUEUED {
				t.Fatalf("again: %v", err)
			}
			d.set(false)
			next, err := h.svc.CreateTaskSandbox(ctx, step)
			if err != nil || next.SandboxID == "" {
				t.Fatalf("resumed: %+v %v", next, err)
			}
			if n := comments.saying("paused"); n != 1 {
				t.Errorf("%d comments say paused, want 1", n)
			}
			if n := comments.saying("started task `" + step.TaskID + "`"); n != 1 {
				t.Errorf("%d comments say the task started, want 1", n)
			}
		})
	}
}

// held is the slots user holds.
func held(t *testing.T, h *faultHarness, user string) int {
	t.Helper()
	q, err := h.store.GetQuota(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return q.Active
}

// The switch's renewal runs beside the operation and is over before it
// answers (Lambda freezes the process then), refused or not.
func TestDrainRenewedBeforeAnswer(t *testing.T) {
	for _, on := range []bool{false, true} {
		h, _, d := drainHarness(t)
		d.set(on)
		_, err := h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{})
		if (err != nil) != on {
			t.Fatalf("drained %v: %v", on, err)
		}
		d.mu.Lock()
		renewed := d.renewed
		d.mu.Unlock()
		if renewed != 1 {
			t.Errorf("drained %v: renewed %d times before the answer, want 1", on, renewed)
		}
	}
}
