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

// slowFailingClone is fakeProvider whose first clone takes took on the
// test's clock (during it, during runs when set: an owner's cancel, say)
// and then fails for a moment (a transient error): the sandbox Daytona
// made for that attempt lived that long before the attempt deleted it.
type slowFailingClone struct {
	*fakeProvider
	clk    *settableClock
	took   time.Duration
	during func()
	mu     sync.Mutex
	n      int
}

func (p *slowFailingClone) GitClone(ctx context.Context, id string, spec GitCloneSpec) error {
	p.mu.Lock()
	p.n++
	first := p.n == 1
	p.mu.Unlock()
	if err := p.fakeProvider.GitClone(ctx, id, spec); err != nil {
		return err
	}
	if !first {
		return nil
	}
	p.clk.Set(p.clk.Now().Add(p.took))
	if p.during != nil {
		p.during()
	}
	return sandstep.Errorf(sandstep.ETRANSIENT, "git clone: the remote hung up; try again")
}

// cloneTask is a queued task of alice's whose sandbox clones a repository,
// started on svc.
func cloneTask(t *testing.T, svc *Service) *sandstep.Task {
	t.Helper()
	tk, err := svc.StartTask(context.Background(), alice(), TaskInput{Command: "make", TimeoutSeconds: intp(600),
		Sandbox: CreateSandboxInput{Image: "ubuntu:24.04", Git: &GitSource{URL: "https://git.example.net/alice/app.git"}}})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// A CreateSandbox step asked again after its attempt's sandbox failed
// while being set up makes a second sandbox: both ran at Daytona's
// per-second prices. README ("Task cost"): sandboxSeconds run from
// Daytona's create of the sandbox to its delete; the first sandbox's
// two minutes are the task's as much as the second's ten seconds.
func TestRemadeSandboxCountsTheFirstSandboxToo(t *testing.T) {
	tests := []struct {
		name string
		took time.Duration
		want float64
	}{
		{"a clone failing after two minutes, the second sandbox ten seconds old", 2 * time.Minute, 130},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5, IdempotencyTTL: time.Hour, Now: clk.Now})
			p := &slowFailingClone{fakeProvider: newFakeProvider(), clk: clk, took: tt.took}
			svc := taskServiceOn(t, clk, st, p)
			ctx := context.Background()
			tk := cloneTask(t, svc)
			step := TaskStep{TaskID: tk.ID, UserID: "alice"}
			// The state machine asks the step again (Sandbox.Transient).
			if _, err := svc.CreateTaskSandbox(ctx, step); sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
				t.Fatalf("the first attempt answered %v; want the clone's transient failure", err)
			}
			if _, err := svc.CreateTaskSandbox(ctx, step); err != nil {
				t.Fatal(err)
			}
			if p.creates != 2 {
				t.Fatalf("Daytona made %d sandboxes, want 2", p.creates)
			}
			clk.Set(clk.Now().Add(10 * time.Second))
			shown, err := svc.GetTask(ctx, alice(), tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if shown.Usage == nil || shown.Usage.SandboxSeconds != tt.want {
				t.Errorf("sandbox seconds %v, want %v (the first sandbox's %s and the second's 10 s)", shown.Usage.SandboxSeconds, tt.want, tt.took)
			}
		})
	}
}
