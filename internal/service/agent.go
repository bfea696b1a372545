package service

import (
	"context"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// AgentExecute creates a sandbox, runs one command in it and deletes it
// (unless KeepSandbox), in one call. Everything is validated before
// anything is created; the sandbox is deleted even when the command fails.
func (s *Service) AgentExecute(ctx context.Context, call Call, in AgentExecuteInput) (*AgentExecuteResult, error) {
	if err := requireUser(call); err != nil {
		return nil, err
	}
	plan, err := s.validateCreate(&in.CreateSandboxInput)
	if err != nil {
		return refused[*AgentExecuteResult](ctx, s, call, "agent-execute", in, err)
	}
	execIn := ExecInput{Command: in.Command, Cwd: in.Cwd, TimeoutSeconds: in.TimeoutSeconds}
	timeout, err := s.validateExec(&execIn)
	if err != nil {
		return refused[*AgentExecuteResult](ctx, s, call, "agent-execute", in, err)
	}
	var drained func()
	plan.admit, drained = s.drainCheck(ctx)
	defer drained()
	return idempotent(ctx, s, call, "agent-execute", in, func(ctx context.Context) (*AgentExecuteResult, error) {
		create := in.CreateSandboxInput
		if !in.KeepSandbox {
			create.TTLMinutes = s.agentTTL(ctx, create.TTLMinutes)
		}
		sb, err := s.create(ctx, call, create, plan)
		if err != nil {
			return nil, err
		}
		// The command stops early enough for the delete to fit before the
		// caller's deadline.
		var res *ExecResult
		ectx, cancel, execErr := s.workContext(ctx)
		if execErr == nil {
			res, execErr = s.exec(ectx, call, sb, execIn, timeout)
			cancel()
		}
		out := &AgentExecuteResult{SandboxID: sb.ID}
		if !in.KeepSandbox {
			dctx, cancel := s.cleanupContext(ctx)
			_, derr := s.delete(dctx, call, sb)
			cancel()
			if derr != nil {
				// The command's result stands (it must not run twice); the
				// sandbox's ttlMinutes backstop and the reaper remove it.
				s.opts.Logger.ErrorContext(ctx, "agent execute: sandbox not deleted", "sandboxId", sb.ID, "err", derr)
			}
			out.Deleted = derr == nil
		}
		if execErr != nil {
			if !out.Deleted {
				// The caller can look at it, or delete it.
				return nil, sandstep.WithSandbox(execErr, sb.ID)
			}
			return nil, execErr
		}
		out.ExecResult = *res
		return out, nil
	})
}

// agentTTL is the ttlMinutes of a sandbox that lives for one call: no
// longer than the call, so that if its delete fails the provider ends it
// soon after, and the reaper soon after that.
func (s *Service) agentTTL(ctx context.Context, asked *int) *int {
	ttl := s.opts.DefaultTTLMinutes
	if asked != nil {
		ttl = *asked
	}
	if d, ok := ctx.Deadline(); ok {
		ttl = min(ttl, int(time.Until(d)/time.Minute)+2)
	}
	return &ttl
}
