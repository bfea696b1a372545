package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// wakeCounter is a state machine that counts the waits it is asked to end.
type wakeCounter struct {
	fakeMachine
	mu    sync.Mutex
	wakes []string
}

func (m *wakeCounter) Wake(_ context.Context, token string, _ []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.wakes = append(m.wakes, token)
	return nil
}

// startedTask is a task whose command has started, watched through m
// and sessions.
func startedTask(t *testing.T, m Machine, sessions Sessions) (*Service, *store.Store, *settableClock, *sandstep.Task, *TaskStep) {
	t.Helper()
	clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5, Now: clk.Now})
	p := newFakeProvider()
	svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st, Inventory: st, Catalog: p,
		Tasks: st, Objects: newFakeObjects(), Machine: m, Sessions: sessions},
		Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	tk, step := taskWithSandbox(t, svc, TaskInput{Command: "sleep 36000"})
	if _, err := svc.StartTaskCommand(context.Background(), *step); err != nil {
		t.Fatal(err)
	}
	return svc, st, clk, tk, step
}

// A nudge ends the wait it finds and at most the next one (whose check
// may have read the task before the nudge), never every wait after: the
// secret is a file in the sandbox, so the command can nudge, and a wait
// ended at once each round would spin the watch for the task's life.
func TestANudgeEndsOneWait(t *testing.T) {
	m := &wakeCounter{}
	svc, st, clk, tk, step := startedTask(t, m, fakeSessions{})
	ctx := context.Background()
	const secret = "s3cret"
	nudgesWith(t, st, tk.ID, secret)
	if err := svc.WaitTask(ctx, *step, "wait-0"); err != nil {
		t.Fatal(err)
	}
	if len(m.wakes) != 0 {
		t.Fatalf("a wait of a running command, not nudged, was ended: %v", m.wakes)
	}
	for range 2 { // the second nudge counts for nothing
		if err := svc.NudgeTask(ctx, tk.ID, secret); err != nil {
			t.Fatal(err)
		}
	}
	// The command (fakeSessions: still running) has not ended; the
	// watch goes round five more times, then an hour later five more.
	for i, at := range []time.Duration{0, 0, 0, 0, 0, time.Hour, 0, 0, 0, 0} {
		clk.Set(clk.Now().Add(at))
		if err := svc.WaitTask(ctx, *step, "wait-"+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"wait-0", "wait-a"}; !slices.Equal(m.wakes, want) {
		t.Errorf("waits ended at once: %v, want %v (the one the nudge found, and the next)", m.wakes, want)
	}
}

// failingSessions cannot say how a command is doing (err), or says it
// has ended (exit).
type failingSessions struct {
	fakeSessions
	err  error
	exit *int
}

func (s failingSessions) CommandExit(context.Context, string, string, string) (*int, error) {
	return s.exit, s.err
}

// failingMachine cannot end a wait: err says why.
type failingMachine struct {
	fakeMachine
	err error
}

func (m failingMachine) Wake(context.Context, string, []byte) error { return m.err }

// The wait's look whether the command has already ended is a shortcut:
// when it fails, the wait still keeps its token and runs to its timeout,
// whose check deals with the failure, rather than failing the task. A
// wake that fails once the command has ended fails the wait, which the
// state machine asks again at once.
func TestWaitTaskLookThatFails(t *testing.T) {
	zero := 0
	for _, tt := range []struct {
		name    string
		err     error
		exit    *int
		wakeErr error
		fails   bool // the wait: asked again by the state machine
	}{
		{name: "Daytona unavailable", err: sandstep.Errorf(sandstep.ETRANSIENT, "Daytona is unavailable")},
		{name: "the sandbox stopped", err: sandstep.Errorf(sandstep.ECONFLICT, "the sandbox is stopped")},
		{name: "ended, the wake refused for a moment", exit: &zero, wakeErr: sandstep.Errorf(sandstep.ETRANSIENT, "Step Functions throttled SendTaskSuccess"), fails: true},
		{name: "ended, the wake refused otherwise", exit: &zero, wakeErr: sandstep.Errorf(sandstep.EINTERNAL, "AccessDenied")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var m Machine = &wakeCounter{}
			if tt.wakeErr != nil {
				m = failingMachine{err: tt.wakeErr}
			}
			svc, st, _, tk, step := startedTask(t, m, failingSessions{err: tt.err, exit: tt.exit})
			ctx := context.Background()
			if err := svc.WaitTask(ctx, *step, "wait-1"); (err != nil) != tt.fails {
				t.Fatalf("WaitTask = %v, want failed: %v", err, tt.fails)
			}
			if got, err := st.GetTask(ctx, tk.ID); err != nil || got.WaitToken != "wait-1" || got.Status != sandstep.TaskRunning {
				t.Errorf("task %+v, %v; want running with the wait's token", got, err)
			}
			if w, ok := m.(*wakeCounter); ok && len(w.wakes) != 0 {
				t.Errorf("waits ended: %v", w.wakes)
			}
		})
	}
}

// nudgesWith gives running task id the nudge secret secret, as its start
// does (the record keeps its hash).
func nudgesWith(t *testing.T, st Tasks, id, secret string) {
	t.Helper()
	sum := sha256.Sum256([]byte(secret))
	if _, err := st.TransitionTask(context.Background(), id, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning,
		func(r *sandstep.Task) { r.NudgeHash = hex.EncodeToString(sum[:]) }); err != nil {
		t.Fatal(err)
	}
}
