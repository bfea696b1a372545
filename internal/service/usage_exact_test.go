package service

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// refusedFirstProvider is fakeProvider whose first create is refused for
// Daytona's rate (a 429: nothing made); the refusal's wait is spent on
// the test's clock, so the second create, which makes the sandbox, comes
// wait later than the task's step began.
type refusedFirstProvider struct {
	*fakeProvider
	clk   *settableClock
	wait  time.Duration
	mu    sync.Mutex
	asked int
	made  time.Time
}

func (p *refusedFirstProvider) Create(ctx context.Context, spec ProviderSpec) (*ProviderSandbox, error) {
	p.mu.Lock()
	p.asked++
	first := p.asked == 1
	p.mu.Unlock()
	if first {
		p.clk.Set(p.clk.Now().Add(p.wait))
		err := sandstep.Errorf(sandstep.ETRANSIENT, "provider create: Daytona is rate limiting us; try again")
		err.RetryAfter = 10 * time.Millisecond
		return nil, err
	}
	p.mu.Lock()
	p.made = p.clk.Now()
	p.mu.Unlock()
	return p.fakeProvider.Create(ctx, spec)
}

// sandboxSeconds run "from the sandbox's create" (README, "Task cost"):
// the time the step waited for Daytona's rate limit, with no sandbox in
// existence, is no sandbox time.
func TestTaskSandboxSecondsStartWhenTheSandboxIsMade(t *testing.T) {
	for _, tt := range []struct {
		name string
		wait time.Duration
	}{
		{"Daytona refused the first create for two minutes", 2 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5, IdempotencyTTL: time.Hour, Now: clk.Now})
			p := &refusedFirstProvider{fakeProvider: newFakeProvider(), clk: clk, wait: tt.wait}
			svc := taskServiceOn(t, clk, st, p)
			ctx := context.Background()
			tk, err := svc.StartTask(ctx, alice(), TaskInput{Command: "make", TimeoutSeconds: intp(600)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: "alice"}); err != nil {
				t.Fatal(err)
			}
			if p.asked != 2 {
				t.Fatalf("the provider was asked %d times, want 2 (a refusal, then the create)", p.asked)
			}
			// Ten seconds after Daytona made it.
			clk.Set(p.made.Add(10 * time.Second))
			shown, err := svc.GetTask(ctx, alice(), tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if shown.Usage == nil || shown.Usage.SandboxSeconds != 10 {
				t.Errorf("sandbox seconds %v ten seconds after the sandbox was made, want 10 (the %s waited before it existed is no sandbox's)",
					shown.Usage.SandboxSeconds, tt.wait)
			}
		})
	}
}

// A cancel deletes the task's sandbox (README: "its sandbox deleted"):
// the sandbox's time ends there, and GET shows no more of it later.
func TestCancelledTaskSandboxSecondsEndAtTheDelete(t *testing.T) {
	for _, tt := range []struct {
		name  string
		after time.Duration
	}{
		{"an hour after the cancel", time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newNoticeHarness(t, nil, nil)
			ctx := context.Background()
			tk := h.start(t, nil)
			h.advance(10 * time.Minute)
			c, err := h.svc.CancelTask(ctx, alice(), tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if sb, err := h.store.GetSandbox(ctx, c.SandboxID); err != nil || sb.State != sandstep.StateDeleted {
				t.Fatalf("the cancel left sandbox %+v, %v; want it deleted", sb, err)
			}
			h.advance(tt.after)
			got, err := h.svc.GetTask(ctx, alice(), tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Usage.SandboxSeconds != c.Usage.SandboxSeconds {
				t.Errorf("sandbox seconds %v at the cancel (its sandbox deleted), %v %s later; want no more",
					c.Usage.SandboxSeconds, got.Usage.SandboxSeconds, tt.after)
			}
		})
	}
}

// failLandsConflict is the store's answer to a write of a task's failure
// that landed with its answer lost: the store's own retry finds the
// record changed, reads it again, finds it failed already, and answers
// ECONFLICT (store.TransitionTask re-checks from on every attempt).
type failLandsConflict struct {
	Tasks
	done bool
}

func (f *failLandsConflict) TransitionTask(ctx context.Context, id string, from []sandstep.TaskStatus, to sandstep.TaskStatus, update func(*sandstep.Task)) (*sandstep.Task, error) {
	if f.done || to != sandstep.TaskFailed || len(from) < 2 {
		return f.Tasks.TransitionTask(ctx, id, from, to, update)
	}
	f.done = true
	if _, err := f.Tasks.TransitionTask(ctx, id, from, to, update); err != nil {
		return nil, err
	}
	return nil, sandstep.Errorf(sandstep.ECONFLICT, "task %q is failed, not queued or running", id)
}

// A clean-up whose write of the failure landed with its answer lost (the
// store answers ECONFLICT, which failTask takes for "ended already") goes
// on to its next write: that write must not carry again what the first
// one put on the record.
func TestCleanUpUsageNotCountedTwiceWhenTheFailuresAnswerIsLost(t *testing.T) {
	for _, tt := range []struct {
		name string
	}{
		{"the clean-up of a task that failed before its command started"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newUsageHarnessWith(t, nil, func(st Tasks) Tasks { return &failLandsConflict{Tasks: st} })
			ctx := context.Background()
			tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "make", TimeoutSeconds: intp(600)})
			if err != nil {
				t.Fatal(err)
			}
			step := TaskStep{TaskID: tk.ID, UserID: "alice"}
			h.invoke(t, 1, func(ctx context.Context) error {
				_, err := h.svc.PrepareTask(ctx, tk.ID, []byte(`{"userId":"alice"}`))
				return err
			})
			h.meters = nil // Prepare was counted when the task was accepted
			h.invoke(t, 1, func(ctx context.Context) error { _, err := h.svc.CreateTaskSandbox(ctx, step); return err })
			// StartCommand failed (its invocation wrote nothing): the
			// state machine's CleanUpAfterFailure runs.
			h.invoke(t, 1, func(ctx context.Context) error {
				_, err := h.svc.CleanUpTask(ctx, tk.ID, &TaskFailure{Error: "States.TaskFailed", Cause: "boom"})
				return err
			})
			u := h.checkAccounted(t, tk.ID, "the clean-up")
			if u == nil || u.LambdaInvocations != 3 || u.StateTransitions != 3 {
				t.Errorf("record shows %d invocations and %d transitions; want 3 and 3 (Prepare, CreateSandbox, CleanUp)", u.LambdaInvocations, u.StateTransitions)
			}
		})
	}
}

// sandboxWriteLandsTwice is the store's transition when the write that
// records a task's sandbox landed with its answer lost: the client's retry
// finds the version changed, and the store reads the record again (still
// queued, so still in from), calls update again and writes again
// (store.transition: "update may be called more than once").
type sandboxWriteLandsTwice struct {
	Tasks
	done bool
}

func (f *sandboxWriteLandsTwice) TransitionTask(ctx context.Context, id string, from []sandstep.TaskStatus, to sandstep.TaskStatus, update func(*sandstep.Task)) (*sandstep.Task, error) {
	if f.done || to != sandstep.TaskQueued {
		return f.Tasks.TransitionTask(ctx, id, from, to, update)
	}
	f.done = true
	if _, err := f.Tasks.TransitionTask(ctx, id, from, to, update); err != nil {
		return nil, err
	}
	return f.Tasks.TransitionTask(ctx, id, from, to, update)
}

// A write of the task that the store made again after a lost answer
// carries the invocation's usage once.
func TestStepUsageNotCountedTwiceWhenTheStoreWritesAgain(t *testing.T) {
	for _, tt := range []struct {
		name string
	}{
		{"the sandbox step's write, landed and made again"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newUsageHarnessWith(t, nil, func(st Tasks) Tasks { return &sandboxWriteLandsTwice{Tasks: st} })
			ctx := context.Background()
			tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "make", TimeoutSeconds: intp(600)})
			if err != nil {
				t.Fatal(err)
			}
			h.invoke(t, 1, func(ctx context.Context) error {
				_, err := h.svc.PrepareTask(ctx, tk.ID, []byte(`{"userId":"alice"}`))
				return err
			})
			h.meters = nil // Prepare was counted when the task was accepted
			h.invoke(t, 1, func(ctx context.Context) error {
				_, err := h.svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: "alice"})
				return err
			})
			u := h.checkAccounted(t, tk.ID, "the sandbox step")
			if u == nil || u.LambdaInvocations != 2 || u.StateTransitions != 2 {
				t.Errorf("record shows %d invocations and %d transitions; want 2 and 2 (Prepare, CreateSandbox)", u.LambdaInvocations, u.StateTransitions)
			}
		})
	}
}

// taskServiceOn is a service of tasks over st and p, on clk's time.
func taskServiceOn(t *testing.T, clk *settableClock, st *store.Store, p Provider) *Service {
	t.Helper()
	svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
		Tasks: st, Objects: newFakeObjects(), Machine: fakeMachine{}, Sessions: fakeSessions{}},
		Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}
