package service

import (
	"context"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// abortLostIdempotency is the table whose release of a key fails (a
// throttled or timed-out delete): the record stays as it was written.
type abortLostIdempotency struct {
	*store.Store
	aborts int
}

func (a *abortLostIdempotency) AbortIdempotent(context.Context, string, string, string) error {
	a.aborts++
	return sandstep.Errorf(sandstep.ETRANSIENT, "throttled")
}

// README (Idempotency-Key): "a request that failed frees it, and its retry
// runs again". A request its checks refuse ran nothing and used to touch no
// record; it must leave its key free for the mended request whatever the
// table does, and not hold it (as "used with a different request") for
// IDEMPOTENCY_TTL, 24 h, because one delete after a needless claim failed.
func TestRefusedRequestHoldsNoKeyWhenItsReleaseFails(t *testing.T) {
	tests := []struct {
		name string
		// do sends the request under the key, refused (valid false) or
		// mended, to the sandbox id.
		do        func(ctx context.Context, svc *Service, call Call, id string, valid bool) error
		wantField string
	}{
		{
			name: "create: ttlMinutes over MAX_TTL_MINUTES, then mended",
			do: func(ctx context.Context, svc *Service, call Call, id string, valid bool) error {
				ttl := 1 << 20
				if valid {
					ttl = 60
				}
				_, err := svc.CreateSandbox(ctx, call, CreateSandboxInput{TTLMinutes: intp(ttl)})
				return err
			},
			wantField: "ttlMinutes",
		},
		{
			name: "exec: timeoutSeconds over MAX_EXEC_TIMEOUT_SECONDS, then mended",
			do: func(ctx context.Context, svc *Service, call Call, id string, valid bool) error {
				timeout := 1 << 20
				if valid {
					timeout = 60
				}
				_, err := svc.Exec(ctx, call, id, ExecInput{Command: "make release", TimeoutSeconds: intp(timeout)})
				return err
			},
			wantField: "timeoutSeconds",
		},
		{
			name: "agent-execute: empty command, then mended",
			do: func(ctx context.Context, svc *Service, call Call, id string, valid bool) error {
				in := AgentExecuteInput{Command: " "}
				if valid {
					in.Command = "make release"
				}
				_, err := svc.AgentExecute(ctx, call, in)
				return err
			},
			wantField: "command",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 3})
			idem := &abortLostIdempotency{Store: st}
			p := newFakeProvider()
			svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: idem, Audit: st},
				Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment)})
			if err != nil {
				t.Fatal(err)
			}
			sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
			if err != nil {
				t.Fatal(err)
			}
			call := alice()
			call.IdempotencyKey = "release-1"
			err = tt.do(ctx, svc, call, sb.ID, false)
			wantCode(t, err, sandstep.EINVALID)
			if got := sandstep.ErrorField(err); got != tt.wantField {
				t.Fatalf("refused request's field = %q, want %q", got, tt.wantField)
			}
			if err := tt.do(ctx, svc, call, sb.ID, true); err != nil {
				t.Fatalf("the mended request under the refused one's key = %v (%s); want it run (the refused request released %d times)",
					err, sandstep.ErrorCode(err), idem.aborts)
			}
		})
	}
}
