package daytonaprovider

import (
	"context"
	"testing"

	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// TestPerSandboxCeilingNamesTheField: Daytona's per-sandbox ceiling
// ("CPU request 8 exceeds maximum allowed per sandbox (4).") refuses the
// size asked for: the answer is invalid_input, and, as every refusal of
// bad input, it names the field at fault: the resource the caller asked
// for (an image is built with the resources asked for, or Daytona's
// defaults), or the snapshot whose own size it is.
func TestPerSandboxCeilingNamesTheField(t *testing.T) {
	image := service.CreateSandboxInput{Image: "alpine:3", Resources: &sandstep.Resources{CPU: 8, MemoryGiB: 64, DiskGiB: 500}}
	tests := []struct {
		name    string
		message string
		in      service.CreateSandboxInput
		field   string
	}{
		{"cpu asked for", "CPU request 8 exceeds maximum allowed per sandbox (4).\nContact support to raise it.", image, "resources.cpu"},
		{"memory asked for", "Memory request 64GB exceeds maximum allowed per sandbox (8GB).", image, "resources.memoryGiB"},
		// In capitals: the test provider's API key, "k", is redacted from
		// every error's text, and "Disk" would read "Dis[REDACTED]".
		{"disk asked for", "DISK request 500GB exceeds maximum allowed per sandbox (10GB).", image, "resources.diskGiB"},
		{"a snapshot's own size", "CPU request 8 exceeds maximum allowed per sandbox (4).", service.CreateSandboxInput{Snapshot: "big"}, "snapshot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			p, srv := newProvider(t, Options{})
			svc, _ := newLocalService(t, p, nil)
			if _, err := srv.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 400, Message: tt.message,
				Match: daytonalocal.Match{Operation: "createSandbox"}}); err != nil {
				t.Fatal(err)
			}
			_, err := svc.CreateSandbox(ctx, service.Call{UserID: "alice"}, tt.in)
			if code := sandstep.ErrorCode(err); code != sandstep.EINVALID {
				t.Fatalf("create: %v (%s), want invalid_input", err, code)
			}
			if f := sandstep.ErrorField(err); f != tt.field {
				t.Errorf("field = %q, want %q (%v)", f, tt.field, err)
			}
		})
	}
}
