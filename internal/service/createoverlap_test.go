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

// heldCreate is a provider whose first create waits, once Daytona has
// made the sandbox, until release is closed: an invocation still running
// when the state machine asks the step again.
type heldCreate struct {
	*fakeProvider
	once    sync.Once
	inside  chan struct{} // the first create is waiting
	release chan struct{}
}

func (p *heldCreate) Create(ctx context.Context, spec ProviderSpec) (*ProviderSandbox, error) {
	sb, err := p.fakeProvider.Create(ctx, spec)
	first := false
	p.once.Do(func() { first = true })
	if first {
		close(p.inside)
		<-p.release
	}
	return sb, err
}

// CreateSandbox asked again while its first invocation still runs (the
// state machine retries Lambda.ClientExecutionTimeoutException and
// Lambda.ServiceException, whose invocation may run on): the second
// attempt makes no sandbox of its own and takes no slot; it answers
// Sandbox.Transient, and the attempt after it finds the first's sandbox.
// Before, a quota of 1 failed the task (quota_exceeded), and a larger one
// made a second sandbox that no task named.
func TestCreateSandboxAskedAgainWhileTheFirstRuns(t *testing.T) {
	for _, quota := range []int{1, 2} {
		t.Run(map[int]string{1: "quota-of-one", 2: "quota-of-two"}[quota], func(t *testing.T) {
			clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: quota, Now: clk.Now})
			p := &heldCreate{fakeProvider: newFakeProvider(), inside: make(chan struct{}), release: make(chan struct{})}
			svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
				Tasks: st, Objects: newFakeObjects(), Machine: fakeMachine{}, Sessions: fakeSessions{}},
				Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			tk, err := svc.StartTask(ctx, alice(), TaskInput{Command: "make"})
			if err != nil {
				t.Fatal(err)
			}
			step := TaskStep{TaskID: tk.ID, UserID: "alice"}
			first := make(chan error, 1)
			var made *TaskStep
			go func() {
				next, err := svc.CreateTaskSandbox(ctx, step)
				made = next
				first <- err
			}()
			<-p.inside
			_, err = svc.CreateTaskSandbox(ctx, step)
			if code := sandstep.ErrorCode(err); code != sandstep.ETRANSIENT {
				t.Errorf("the step asked again while the first runs: %v (%s), want %s, which the state machine asks again", err, code, sandstep.ETRANSIENT)
			}
			close(p.release)
			if err := <-first; err != nil {
				t.Fatalf("the first attempt: %v", err)
			}
			again, err := svc.CreateTaskSandbox(ctx, step)
			if err != nil {
				t.Fatalf("the attempt after: %v", err)
			}
			if again.SandboxID != made.SandboxID {
				t.Errorf("the attempt after answered sandbox %s, the first made %s", again.SandboxID, made.SandboxID)
			}
			if n := len(p.live()); n != 1 {
				t.Errorf("%d Daytona sandboxes run for one task, want 1: %v", n, p.live())
			}
			if q, err := st.GetQuota(ctx, "alice"); err != nil || q.Active != 1 {
				t.Errorf("alice holds %+v (%v), want 1 slot", q, err)
			}
		})
	}
}
