package daytonaprovider

import (
	"context"
	"testing"

	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// README, Errors: `capacity` (503 + Retry-After, Sandbox.Capacity, which a
// task waits out for CAPACITY_WAIT) is "the Daytona organisation has no
// CPU, memory or disk left". Daytona's sandbox.service.ts refuses a create
// over the organisation's total CPU, memory or disk with "Total <x> limit
// exceeded. Maximum allowed: <n>." followed by its upgrade hint, and has
// sent it both as a BadRequestError (400) and, in the releases before
// that, as a ForbiddenException (403). A 403 of that text is the
// organisation being full, not a key Daytona refuses: answered as
// internal, a user is told 500, the fault alarm counts it as ours, and a
// task fails at once instead of waiting for capacity. Daytona's
// per-sandbox ceiling ("CPU request 8 exceeds maximum allowed per sandbox
// (4).") is the caller's resources, in either status.
func TestOrganisationFullIsCapacityAndHoldsNoSlot(t *testing.T) {
	const hint = "\nAsk for a higher tier to raise it."
	tests := []struct {
		name    string
		status  int
		message string
		want    sandstep.Code
	}{
		{"cpu, 400", 400, "Total CPU limit exceeded. Maximum allowed: 10." + hint, sandstep.ECAPACITY},
		{"cpu, 403", 403, "Total CPU limit exceeded. Maximum allowed: 10." + hint, sandstep.ECAPACITY},
		{"memory, 403", 403, "Total memory limit exceeded. Maximum allowed: 10GiB." + hint, sandstep.ECAPACITY},
		{"disk, 403", 403, "Total disk limit exceeded. Maximum allowed: 30GiB.\nArchive some sandboxes to free up disk." + hint, sandstep.ECAPACITY},
		{"per-sandbox cpu, 400", 400, "CPU request 8 exceeds maximum allowed per sandbox (4).\nContact support to raise it.", sandstep.EINVALID},
		{"per-sandbox cpu, 403", 403, "CPU request 8 exceeds maximum allowed per sandbox (4).\nContact support to raise it.", sandstep.EINVALID},
		{"a key Daytona refuses stays ours", 403, "Forbidden", sandstep.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			p, srv := newProvider(t, Options{})
			svc, st := newLocalService(t, p, nil)
			if _, err := srv.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: tt.status, Message: tt.message,
				Match: daytonalocal.Match{Operation: "createSandbox"}}); err != nil {
				t.Fatal(err)
			}
			_, err := svc.CreateSandbox(ctx, service.Call{UserID: "alice"}, service.CreateSandboxInput{})
			if code := sandstep.ErrorCode(err); code != tt.want {
				t.Fatalf("create Daytona refused with %d %q: %v (%s), want %s", tt.status, tt.message, err, code, tt.want)
			}
			if q, _ := st.GetQuota(ctx, "alice"); q.Active != 0 {
				t.Errorf("active slots after the refused create = %d, want 0", q.Active)
			}
		})
	}
}
