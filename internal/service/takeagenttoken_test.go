package service

import (
	"context"
	"testing"
	"time"
)

// deadlineProvider notes, for the command taking the agent's token, whether
// the caller's context outlives the command's own timeout: the provider's
// clean-up after a command that ran out its time (deleting its session,
// which kills it) is detached from the caller's cancellation but not from
// its deadline (service.Detached), so a caller's context that ends with
// the command leaves that session, and what it blocks on, behind.
type deadlineProvider struct {
	Provider
	noTimeLeft *bool
}

func (p *deadlineProvider) Exec(ctx context.Context, id string, cmd Command) (*ExecResult, error) {
	if cmd.Line == takeAgentToken {
		d, ok := ctx.Deadline()
		*p.noTimeLeft = ok && !d.After(time.Now().Add(cmd.Timeout))
	}
	return p.Provider.Exec(ctx, id, cmd)
}

// The take of the agent's token out of a kept sandbox is bounded by its
// command's timeout (the agent may have made its file a FIFO, which head
// waits on): that bound must leave the provider time to end the command's
// session, not end the caller's context with it.
func TestTakeAgentTokenLeavesTimeToEndItsSession(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{name: "a caller without a deadline", ctx: func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}},
		{name: "a Lambda's caller, minutes left", ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 5*time.Minute)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarnessSpec(t, nil, func(in *TaskInput) { in.KeepSandbox = true })
			ctx, cancel := tt.ctx()
			defer cancel()
			rec := h.record(t)
			sb, err := h.store.GetSandbox(ctx, rec.SandboxID)
			if err != nil {
				t.Fatal(err)
			}
			noTimeLeft := false
			h.svc.provider = &deadlineProvider{Provider: h.provider, noTimeLeft: &noTimeLeft}
			h.svc.revokeAgentToken(ctx, rec, sb)
			if noTimeLeft {
				t.Errorf("the command taking the agent's token runs in a context that ends with its timeout: a command that runs it out (a FIFO) leaves its session behind, its delete refused for lack of time")
			}
		})
	}
}
