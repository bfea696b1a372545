package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// diesAtPush is the provider of a Collect invocation that dies (out of
// memory, its Lambda timeout) once the push token is in the sandbox, before
// the push that removes it ran: nothing after it runs, its deferred revoke
// neither. The invocation is held at the push for good (until the test
// ends), as a process that vanished: a panic would run its defers.
type diesAtPush struct {
	*diskProvider
	reached chan struct{}
	gone    chan struct{}
}

func (p *diesAtPush) Exec(ctx context.Context, id string, cmd Command) (*ExecResult, error) {
	if p.reached != nil && strings.Contains(cmd.Line, pushCredential) && strings.Contains(cmd.Line, " push ") {
		close(p.reached)
		p.reached = nil
		<-p.gone
		return nil, errors.New("the invocation is gone")
	}
	return p.diskProvider.Exec(ctx, id, cmd)
}

// collectDies runs CollectTask until its invocation dies at the push, and
// leaves it there; h's service asks its own provider after it.
func collectDies(t *testing.T, h *repoHarness) {
	t.Helper()
	dead := *h.svc
	p := &diesAtPush{diskProvider: h.provider, reached: make(chan struct{}), gone: make(chan struct{})}
	dead.provider = p
	reached := p.reached
	ended := make(chan error, 1)
	t.Cleanup(func() { close(p.gone); <-ended })
	go func() {
		_, err := dead.CollectTask(context.Background(), TaskStep{TaskID: h.task.ID, UserID: h.task.Owner, SandboxID: h.task.SandboxID})
		ended <- err
	}()
	select {
	case <-reached:
	case err := <-ended:
		ended <- err
		t.Fatalf("CollectTask answered %v; want its invocation to die at the push", err)
	}
}

// Since e68f4f1 a Collect that died is run again; when the push token
// reached the sandbox before it died, that token (contents: write) is in
// .sandstep/push-credential, never revoked (the deferred revoke did not
// run). A task that then ends without the push removing it (its push
// refused when asked again, or every try of the step failing), and that
// keeps its sandbox, must not leave that live token readable there for the
// rest of its hour (docs/architecture.md, "Tasks": a kept sandbox's
// clean-up removes the file and revokes the token it held).
func TestDiedCollectLeavesNoPushToken(t *testing.T) {
	tests := []struct {
		name  string
		again bool // Collect is run again, its push token refused
	}{
		{name: "every try of the step failed", again: false},
		{name: "the push token refused when run again", again: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarnessSpec(t, nil, func(in *TaskInput) { in.KeepSandbox = true })
			git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
			if err := h.svc.recordExit(context.Background(), h.task, 0); err != nil {
				t.Fatal(err)
			}
			collectDies(t, h)
			file := filepath.Join(h.provider.dir, pushCredential)
			cred, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("the dead invocation left no push credential: %v", err)
			}
			_, held, _ := strings.Cut(strings.TrimSpace(string(cred)), "password=")
			if !strings.HasPrefix(held, "ghs_push_") {
				t.Fatalf("the push credential holds %q, want the push token", cred)
			}
			failure := &TaskFailure{Error: "Sandbox.Internal", Cause: "Collect died"}
			if tt.again {
				h.access.limit = func(op string) error {
					if op == "push" {
						return sandstep.Errorf(sandstep.EUNAUTHENTICATED, "GitHub forbids it: This installation has been suspended")
					}
					return nil
				}
				if _, err := h.svc.CollectTask(context.Background(), TaskStep{TaskID: h.task.ID, UserID: h.task.Owner, SandboxID: h.task.SandboxID}); err != nil {
					t.Fatalf("CollectTask again: %v", err)
				}
				failure = nil
			}
			_, err = h.svc.CleanUpTaskStep(context.Background(), h.task.ID, failure)
			var outcome *OutcomeError
			if err != nil && !errors.As(err, &outcome) {
				t.Fatalf("CleanUpTaskStep: %v", err)
			}
			if rec := h.record(t); !rec.Status.Terminal() || !rec.KeepSandbox {
				t.Fatalf("task %s keepSandbox=%v; want ended, its sandbox kept", rec.Status, rec.KeepSandbox)
			}
			h.access.mu.Lock()
			revoked := slices.Clone(h.access.revoked)
			h.access.mu.Unlock()
			if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the dead invocation's push credential is still in the kept sandbox after its task ended (stat: %v)", err)
			}
			if !slices.Contains(revoked, held) {
				t.Errorf("the dead invocation's push token (contents: write) was never revoked (revoked %q); it stays live for up to an hour", revoked)
			}
		})
	}
}
