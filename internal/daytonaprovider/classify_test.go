package daytonaprovider

import (
	"context"
	"testing"

	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// The toolbox answers 404 for a missing session or command, and its proxy
// for a sandbox it cannot reach; none of that means the sandbox is gone.
// Were it taken so, the service would release the slot of a sandbox that
// still runs.
func TestToolbox404OfALiveSandboxIsNotGone(t *testing.T) {
	ctx := context.Background()
	p, srv := newProvider(t, Options{})
	svc, st := newLocalService(t, p, nil)
	call := service.Call{UserID: "alice"}
	sb, err := svc.CreateSandbox(ctx, call, service.CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"SessionExecuteCommand", "CreateSession"} {
		if _, err := srv.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 404, Message: "session not found", Times: 1,
			Match: daytonalocal.Match{Operation: op}}); err != nil {
			t.Fatal(err)
		}
		_, err = svc.Exec(ctx, call, sb.ID, service.ExecInput{Command: "true"})
		if code := sandstep.ErrorCode(err); code != sandstep.ETRANSIENT {
			t.Errorf("%s 404: error %v (%s), want transient", op, err, code)
		}
	}
	rec, err := st.GetSandbox(ctx, sb.ID)
	if err != nil || rec.State != sandstep.StateReady {
		t.Fatalf("record after toolbox 404s = %+v, %v; want ready", rec, err)
	}
	if q, _ := st.GetQuota(ctx, "alice"); q.Active != 1 {
		t.Errorf("active slots = %d, want 1", q.Active)
	}
	if _, err := svc.CreateSandbox(ctx, call, service.CreateSandboxInput{}); sandstep.ErrorCode(err) != sandstep.EQUOTA {
		t.Errorf("a second sandbox under quota 1: %v", err)
	}

	// When the sandbox really is gone, the service learns it from exec.
	if err := p.Delete(ctx, sb.DaytonaID); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Exec(ctx, call, sb.ID, service.ExecInput{Command: "true"})
	if code := sandstep.ErrorCode(err); code != sandstep.ENOTFOUND {
		t.Errorf("exec in a deleted sandbox: %v (%s), want not found", err, code)
	}
	if rec, _ := st.GetSandbox(ctx, sb.ID); rec.State != sandstep.StateGone {
		t.Errorf("record = %s, want gone", rec.State)
	}
}

func TestClassification(t *testing.T) {
	tests := []struct {
		name  string
		fault daytonalocal.Fault
		want  sandstep.Code
	}{
		{"gateway timeout is transient", daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 504, Message: "upstream timed out"}, sandstep.ETRANSIENT},
		{"bad gateway is transient", daytonalocal.Fault{Kind: daytonalocal.FaultBadGateway}, sandstep.ETRANSIENT},
		{"rate limit is transient", daytonalocal.Fault{Kind: daytonalocal.FaultRateLimit}, sandstep.ETRANSIENT},
		{"not found", daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 404, Message: "Sandbox not found"}, sandstep.ENOTFOUND},
		{"forbidden is ours to fix", daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 403, Message: "Forbidden"}, sandstep.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, srv := newProvider(t, Options{})
			id := create(t, p, "sbx-classify")
			tt.fault.Match = daytonalocal.Match{Operation: "getSandbox"}
			if _, err := srv.AddFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			_, err := p.Get(context.Background(), id)
			if got := sandstep.ErrorCode(err); got != tt.want {
				t.Errorf("classified %s (%v), want %s", got, err, tt.want)
			}
		})
	}
}

// A create Daytona refuses for its own capacity is capacity (503 +
// Retry-After; a task waits CAPACITY_WAIT), whatever the release's words
// and status: the organisation's totals, "Total <x> limit exceeded…" (400)
// or "Total <x> quota exceeded…" (403, the releases before), and no
// runner with room, "No available runners" (runner.service.ts). A 403 that
// is no capacity (a suspended organisation, a key refused) stays ours, and
// the snapshot's refusals stay the caller's.
func TestCreateRefusedForDaytonasCapacity(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		message string
		want    sandstep.Code
	}{
		{"cpu, quota wording", 403, "Total CPU quota exceeded. Maximum allowed: 10", sandstep.ECAPACITY},
		{"memory, quota wording", 403, "Total memory quota exceeded. Maximum allowed: 10GiB", sandstep.ECAPACITY},
		{"disk, oldest wording", 403, "Total disk quota exceeded (40GB > 30GB)", sandstep.ECAPACITY},
		{"no runner has room", 400, "No available runners", sandstep.ECAPACITY},
		{"a suspended organisation is no capacity", 403, "Organization is suspended: Payment method required", sandstep.EINTERNAL},
		{"a key Daytona refuses is no capacity", 403, "Forbidden resource", sandstep.EINTERNAL},
		{"the snapshot is the caller's", 400, "Snapshot no-such-snap not found. Did you add it through the Daytona Dashboard?", sandstep.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, srv := newProvider(t, Options{})
			if _, err := srv.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: tt.status, Message: tt.message,
				Match: daytonalocal.Match{Operation: "createSandbox"}}); err != nil {
				t.Fatal(err)
			}
			_, err := p.Create(context.Background(), service.ProviderSpec{Name: "sbx-full"})
			if code := sandstep.ErrorCode(err); code != tt.want {
				t.Errorf("create Daytona refused with %d %q: %v (%s), want %s", tt.status, tt.message, err, code, tt.want)
			}
		})
	}
}

// README, Errors: invalid_input is "malformed JSON, unknown field, wrong
// type, bad value (the field is named)". Daytona refuses a create whose
// snapshot the organisation does not have with 400 "Snapshot <name> not
// found. Did you add it through the Daytona Dashboard?" (its
// sandbox.service.ts), or one that is not active with 400 "Snapshot <name>
// is <state>": the caller's snapshot is at fault, and the answer must say so.
func TestCreateRefusedForTheSnapshotNamesTheField(t *testing.T) {
	tests := []struct {
		name    string
		message string
	}{
		{"snapshot the organisation lacks", "Snapshot no-such-snap not found. Did you add it through the Daytona Dashboard?"},
		{"snapshot not active", "Snapshot no-such-snap is inactive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			p, srv := newProvider(t, Options{})
			svc, st := newLocalService(t, p, nil)
			if _, err := srv.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 400, Message: tt.message,
				Match: daytonalocal.Match{Operation: "createSandbox"}}); err != nil {
				t.Fatal(err)
			}
			_, err := svc.CreateSandbox(ctx, service.Call{UserID: "alice"}, service.CreateSandboxInput{Snapshot: "no-such-snap"})
			if code := sandstep.ErrorCode(err); code != sandstep.EINVALID {
				t.Fatalf("create with a snapshot Daytona refuses: %v (%s), want invalid_input", err, code)
			}
			if field := sandstep.ErrorField(err); field != "snapshot" {
				t.Errorf("create with a snapshot Daytona refuses: field = %q, want %q (message %q)", field, "snapshot", sandstep.ErrorMessage(err))
			}
			if q, _ := st.GetQuota(ctx, "alice"); q.Active != 0 {
				t.Errorf("active slots after the refused create = %d, want 0", q.Active)
			}
		})
	}
}

// An image that fails to build is the caller's image at fault: the
// provider classifies it invalid_input, and the answer must name "image".
func TestImageBuildFailureNamesTheField(t *testing.T) {
	err := classify("create sandbox", &daytona.StartError{SandboxID: "dt-1", State: daytona.StateBuildFailed,
		ErrorReason: "failed to pull image no-such/image:1", Deleted: true, Err: daytona.ErrSandboxFailed})
	if code := sandstep.ErrorCode(err); code != sandstep.EINVALID {
		t.Fatalf("build failure classified %s (%v), want invalid_input", code, err)
	}
	if field := sandstep.ErrorField(err); field != "image" {
		t.Errorf("build failure: field = %q, want %q (message %q)", field, "image", sandstep.ErrorMessage(err))
	}
}
