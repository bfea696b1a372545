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

// switchableSecrets is fakeSecrets whose reads can be made to fail once
// the test says so, as SSM does when a parameter is deleted or the
// service throttles.
type switchableSecrets struct {
	fakeSecrets
	mu  sync.Mutex
	err error
}

func (s *switchableSecrets) Resolve(ctx context.Context, owner, field, ref string) (string, error) {
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	return s.fakeSecrets.Resolve(ctx, owner, field, ref)
}

func (s *switchableSecrets) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

// A retry of POST /tasks with its Idempotency-Key gets the task the first
// call started (README: "makes a retry return the same task"; the
// architecture: "a retry with the same key and body gets the first
// answer"), whatever has happened to the secret that signs its notice
// since: the retry starts nothing, so it has nothing to read. An error in
// its place tells a client whose task is running that it was not started.
func TestStartTaskReplayReadsNoNoticeSecret(t *testing.T) {
	for _, tt := range []struct {
		name  string
		since error // what reading the secret answers at the retry
	}{
		{"the secret deleted since", sandstep.Invalid("notify.secretRef", "secret reference %s not found", hookRef)},
		{"the secret store throttling", sandstep.Errorf(sandstep.ETRANSIENT, "ssm: ThrottlingException: Rate exceeded")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5, Now: clk.Now})
			secrets := &switchableSecrets{fakeSecrets: fakeSecrets{hookRef: "hook-signing-key"}}
			svc, err := New(Deps{Provider: newFakeProvider(), Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
				Secrets: secrets, Notifier: localSender(), Tasks: st, Objects: newFakeObjects(), Machine: fakeMachine{}, Sessions: &exitSessions{}},
				Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			call := Call{UserID: "alice", RequestID: "req-1", IdempotencyKey: "pipeline-run-42"}
			in := TaskInput{Command: "make", Notify: &NotifyInput{URL: "https://hooks.example.com/done", SecretRef: hookRef}}
			first, err := svc.StartTask(ctx, call, in)
			if err != nil {
				t.Fatal(err)
			}
			secrets.fail(tt.since)
			again, err := svc.StartTask(ctx, call, in)
			if err != nil || again == nil || again.ID != first.ID {
				t.Fatalf("retry with the same key = %+v, %v; want task %s, the first answer", again, err, first.ID)
			}
		})
	}
}
