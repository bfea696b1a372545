package service

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// gatedNotifier holds its first attempt until release is closed, then
// answers it first; every later attempt answers later at once.
type gatedNotifier struct {
	mu      sync.Mutex
	calls   int
	entered chan struct{}
	release chan struct{}
	first   error
	later   error
}

func (g *gatedNotifier) CheckURL(string) error { return nil }

func (g *gatedNotifier) Send(context.Context, string, string, []byte, string) error {
	g.mu.Lock()
	g.calls++
	n := g.calls
	g.mu.Unlock()
	if n == 1 {
		close(g.entered)
		<-g.release
		return g.first
	}
	return g.later
}

// A notice's attempt that outlives its claim (its receiver slow, its
// record's write retried) while the next attempt settles the notice must
// not settle it again: the trail promises one task.notify, its last word,
// and NoticesGivenUp counts notices, not attempts.
func TestNoticeSettledOnceWhenAttemptsOverlap(t *testing.T) {
	tests := []struct {
		name         string
		first, later error
		status       string
	}{
		{"both delivered", nil, nil, "delivered"},
		{"first fails after the second delivered", sandstep.Errorf(sandstep.ETRANSIENT, "hooks.example.com answered 503"), nil, "delivered"},
		{"first delivered after the second was refused for good", nil, sandstep.Errorf(sandstep.EINVALID, "refused: hooks.example.com resolves to 10.0.0.1"), "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &gatedNotifier{entered: make(chan struct{}), release: make(chan struct{}), first: tt.first, later: tt.later}
			h := newNoticeHarness(t, g, func(o *Options) { o.NotifyRetryFor = 10 * time.Minute })
			tk := h.start(t, &NotifyInput{URL: "https://hooks.example.com/x"})
			done := make(chan struct{})
			go func() {
				defer close(done)
				h.succeed(t, tk.ID) // the clean-up's attempt, held at the receiver
			}()
			<-g.entered
			h.advance(time.Minute) // the claim's retry is due: the reaper attempts it
			if got := h.reap(t); got != 1 {
				t.Fatalf("the reaper attempted %d, want 1", got)
			}
			close(g.release)
			<-done

			notified := h.notified(t, tk.ID)
			if len(notified) != 1 || notified[0] != tt.status {
				t.Errorf("task.notify events %q, want exactly one saying %q", notified, tt.status)
			}
			if tt.status == "failed" {
				var emf bytes.Buffer
				if err := h.metrics.WriteTo(&emf, "test", time.Now()); err != nil || !strings.Contains(emf.String(), `"NoticesGivenUp":1,`) {
					t.Errorf("metrics %s (%v), want NoticesGivenUp 1", emf.String(), err)
				}
			}
		})
	}
}

// noticeWriteLandsTwice is the store's transition when the write that
// settles a notice landed with its answer lost: the client's retry finds
// the version changed, and the store reads the record again (settled now)
// and calls update again.
type noticeWriteLandsTwice struct {
	Tasks
	done bool
}

func (f *noticeWriteLandsTwice) TransitionTask(ctx context.Context, id string, from []sandstep.TaskStatus, to sandstep.TaskStatus, update func(*sandstep.Task)) (*sandstep.Task, error) {
	if f.done || len(from) != 1 || from[0] != to {
		return f.Tasks.TransitionTask(ctx, id, from, to, update)
	}
	before, err := f.GetTask(ctx, id)
	if err != nil || before.Notify == nil || before.Notify.Status != sandstep.NoticePending {
		return f.Tasks.TransitionTask(ctx, id, from, to, update)
	}
	got, err := f.Tasks.TransitionTask(ctx, id, from, to, update)
	if err != nil || got.Notify == nil || got.Notify.Status == sandstep.NoticePending {
		return got, err
	}
	f.done = true
	return f.Tasks.TransitionTask(ctx, id, from, to, update)
}

// The mend above must not lose the event of a settlement whose write
// landed with its answer lost: the update, called again, finds the notice
// settled by its own earlier try.
func TestNoticeSettledByAWriteWhoseAnswerWasLostIsAudited(t *testing.T) {
	for _, tt := range []struct {
		name   string
		err    error
		status string
	}{
		{"delivered", nil, "delivered"},
		{"refused for good", sandstep.Errorf(sandstep.EINVALID, "refused: hooks.example.com resolves to 10.0.0.1"), "failed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newNoticeHarness(t, &fakeNotifier{err: tt.err}, nil)
			// The same service, its tasks' writes behind the wrapper.
			deps := Deps{Provider: h.provider, Sandboxes: h.store, Quota: h.store, Idempotency: h.store, Audit: h.store, Secrets: h.secrets,
				Inventory: h.store, Catalog: h.provider, Tasks: &noticeWriteLandsTwice{Tasks: h.store}, Objects: h.objects,
				Machine: fakeMachine{}, Sessions: fakeSessions{}, Notifier: &fakeNotifier{err: tt.err}}
			svc, err := New(deps, Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: h.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			h.svc = svc
			tk := h.start(t, &NotifyInput{URL: "https://hooks.example.com/x"})
			h.succeed(t, tk.ID)
			notified := h.notified(t, tk.ID)
			if len(notified) != 1 || notified[0] != tt.status {
				t.Errorf("task.notify events %q, want exactly one saying %q", notified, tt.status)
			}
		})
	}
}
