package service

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// tokenTakeHangs is the provider of a sandbox whose toolbox does not
// answer the take of the agent's token (takeAgentToken) when hangs is set:
// the call ends, as Daytona's provider's does, at the command's Timeout or
// at the caller's deadline, whichever comes first. Daytona's own API (the
// delete) answers.
type tokenTakeHangs struct {
	*diskProvider
	hangs bool
}

func (p *tokenTakeHangs) Exec(ctx context.Context, id string, cmd Command) (*ExecResult, error) {
	if !p.hangs || cmd.Line != takeAgentToken {
		return p.diskProvider.Exec(ctx, id, cmd)
	}
	cctx, cancel := context.WithTimeout(ctx, cmd.Timeout)
	defer cancel()
	<-cctx.Done()
	return nil, sandstep.Wrap(cctx.Err(), sandstep.ETRANSIENT, "run command: the toolbox did not answer")
}

// An issue's task cancelled by the github function (GitHub gives a
// delivery 10 s: a label removed, `/sandstep cancel`) deletes its sandbox
// within that time. The agent's token is taken out and revoked first when
// the sandbox answers; one whose toolbox does not answer must not take the
// delete's time with it: the sandbox, and what runs in it, would live on
// after the cancel.
func TestCancelDeletesTheSandboxWhoseToolboxHangs(t *testing.T) {
	tests := []struct {
		name        string
		hangs       bool
		wantRevoked bool
	}{
		{name: "the toolbox answers", wantRevoked: true},
		{name: "the toolbox does not answer", hangs: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			h.svc.provider = &tokenTakeHangs{diskProvider: h.provider, hangs: tt.hangs}
			// A short stand-in for the github function's 10 s.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			got, err := h.svc.CancelTask(ctx, Call{UserID: h.task.Owner, RequestID: "cancel"}, h.task.ID)
			if err != nil {
				t.Errorf("CancelTask: %v", err)
			} else if got.Status != sandstep.TaskCancelled {
				t.Errorf("task %s, want cancelled", got.Status)
			}
			if live := h.provider.live(); len(live) != 0 {
				t.Errorf("sandboxes %v run after the cancel; want the task's deleted", live)
			}
			h.access.mu.Lock()
			minted, revoked := slices.Clone(h.access.minted), slices.Clone(h.access.revoked)
			h.access.mu.Unlock()
			read := slices.ContainsFunc(revoked, func(v string) bool { return strings.HasPrefix(v, "ghs_read_") })
			if tt.wantRevoked && !read {
				t.Errorf("minted %q, revoked %q: the agent's read token is live after the cancel", minted, revoked)
			}
		})
	}
}
