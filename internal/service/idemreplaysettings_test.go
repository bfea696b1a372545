package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// docs/architecture.md: "a retry with the same key and body gets the first
// answer". A deployment's settings change under a remembered key (an
// operator lowers MAX_EXEC_TIMEOUT_SECONDS, MAX_TTL_MINUTES or
// NETWORK_POLICY; during a deploy the old and the new version answer side
// by side): the retry of a request that completed under the old settings
// must still get its answer. Refused as invalid, the caller takes it that
// nothing ran, while its sandbox lives (holding a quota slot) or its
// command ran, and runs it again under a new key.
func TestReplayOfACompletedRequestAfterItsSettingsChanged(t *testing.T) {
	lowered := func(change func(*Limits)) Limits {
		l := testLimits()
		change(&l)
		return l
	}
	tests := []struct {
		name string
		// limits are the settings the retry meets.
		limits Limits
		// do sends the request under the key (an exec's to the sandbox
		// id); it answers what a caller compares (the sandbox's id, the
		// command's output).
		do func(ctx context.Context, svc *Service, call Call, id string) (string, error)
	}{
		{
			name: "exec: MAX_EXEC_TIMEOUT_SECONDS lowered under its timeoutSeconds",
			limits: lowered(func(l *Limits) {
				l.MaxExecTimeout, l.DefaultExecTimeout = 300*time.Second, 300*time.Second
			}),
			do: func(ctx context.Context, svc *Service, call Call, id string) (string, error) {
				res, err := svc.Exec(ctx, call, id, ExecInput{Command: "make release", TimeoutSeconds: intp(600)})
				if err != nil {
					return "", err
				}
				return res.Stdout, nil
			},
		},
		{
			name: "create: MAX_TTL_MINUTES lowered under its ttlMinutes",
			limits: lowered(func(l *Limits) {
				l.MaxTTLMinutes, l.DefaultTTLMinutes = 60, 60
			}),
			do: func(ctx context.Context, svc *Service, call Call, id string) (string, error) {
				sb, err := svc.CreateSandbox(ctx, call, CreateSandboxInput{TTLMinutes: intp(600)})
				if err != nil {
					return "", err
				}
				return sb.ID, nil
			},
		},
		{
			name: "create: NETWORK_POLICY narrowed to domains under its CIDR",
			limits: lowered(func(l *Limits) {
				l.NetworkCeiling = &sandstep.NetworkPolicy{DomainAllowList: []string{"api.github.com"}}
			}),
			do: func(ctx context.Context, svc *Service, call Call, id string) (string, error) {
				sb, err := svc.CreateSandbox(ctx, call, CreateSandboxInput{Network: &sandstep.NetworkPolicy{AllowList: []string{"10.0.0.0/8"}}})
				if err != nil {
					return "", err
				}
				return sb.ID, nil
			},
		},
		{
			name: "agent-execute: MAX_EXEC_TIMEOUT_SECONDS lowered under its timeoutSeconds",
			limits: lowered(func(l *Limits) {
				l.MaxExecTimeout, l.DefaultExecTimeout = 300*time.Second, 300*time.Second
			}),
			do: func(ctx context.Context, svc *Service, call Call, id string) (string, error) {
				res, err := svc.AgentExecute(ctx, call, AgentExecuteInput{Command: "make release", TimeoutSeconds: intp(600)})
				if err != nil {
					return "", err
				}
				return res.SandboxID + " " + res.Stdout, nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h := newHarness(t, 3)
			sb, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
			if err != nil {
				t.Fatal(err)
			}
			h.provider.execResult = ExecResult{Stdout: "released v1.2.3\n"}
			call := alice()
			call.IdempotencyKey = "release-1"
			first, err := tt.do(ctx, h.svc, call, sb.ID)
			if err != nil {
				t.Fatalf("first request: %v", err)
			}
			creates, execs := h.provider.creates, len(h.provider.execs)
			changed := newService(t, h.provider, h.store, fakeSecrets{}, Options{Limits: tt.limits})
			again, err := tt.do(ctx, changed, call, sb.ID)
			if err != nil {
				t.Fatalf("retry of the completed request under the changed settings = %v (%s); want its first answer %q", err, sandstep.ErrorCode(err), first)
			}
			if again != first {
				t.Errorf("retry answered %q, want the first answer %q", again, first)
			}
			if h.provider.creates != creates || len(h.provider.execs) != execs {
				t.Errorf("the retry ran again: creates %d -> %d, execs %d -> %d", creates, h.provider.creates, execs, len(h.provider.execs))
			}
		})
	}
}

// README (POST /tasks): "Idempotency-Key makes a retry return the same
// task". MAX_TASK_DURATION lowered since the start (12h to 1h), the retry
// of a started 2-hour task must still be answered with it, not refused:
// refused, the caller starts it again under another key, and two tasks
// run.
func TestReplayOfAStartedTaskAfterMaxTaskDurationLowered(t *testing.T) {
	h := newTaskHarness(t, nil)
	ctx := context.Background()
	call := alice()
	call.IdempotencyKey = "nightly-1"
	in := TaskInput{Command: "make nightly", TimeoutSeconds: intp(7200)}
	first, err := h.svc.StartTask(ctx, call, in)
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	h.svc.opts.MaxTaskDuration = time.Hour
	again, err := h.svc.StartTask(ctx, call, in)
	if err != nil {
		t.Fatalf("retry of the started task under MAX_TASK_DURATION 1h = %v (%s); want task %s", err, sandstep.ErrorCode(err), first.ID)
	}
	if again.ID != first.ID {
		t.Errorf("retry answered task %s, want the started %s", again.ID, first.ID)
	}
}

// A request its checks refuse, sent with a key nothing holds yet, leaves
// the key free: the request mended is run under it, not told the key was
// used with another request.
func TestRefusedRequestLeavesItsKeyFree(t *testing.T) {
	h := newHarness(t, 3)
	ctx := context.Background()
	call := alice()
	call.IdempotencyKey = "create-1"
	_, err := h.svc.CreateSandbox(ctx, call, CreateSandboxInput{TTLMinutes: intp(1 << 20)})
	wantCode(t, err, sandstep.EINVALID)
	if _, err := h.svc.CreateSandbox(ctx, call, CreateSandboxInput{TTLMinutes: intp(60)}); err != nil {
		t.Fatalf("the mended request under the refused one's key = %v; want it run", err)
	}
}
