package daytonaprovider

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// reviewProvider is newProvider with an API key no word of Daytona's
// messages holds: the client redacts the key from every error's text,
// and newProvider's "k" would turn "Disk" into "Dis[REDACTED]".
func reviewProvider(t *testing.T) (*Provider, *daytonalocal.Server) {
	t.Helper()
	srv, err := daytonalocal.New(daytonalocal.Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	c, err := daytona.New(daytona.Config{
		APIKey: "review-api-key-0123456789", APIURL: hs.URL + "/api", PollInterval: 20 * time.Millisecond,
		Retry: daytona.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	return New(c, Options{}), srv
}

// TestPerSandboxCeilingFieldOfDefaultsAndNonEphemeral: Daytona sizes an image-built sandbox
// with the resources asked for, each one left out taking Daytona's
// default (1 vCPU, 1 GiB, 3 GiB: createFromBuildInfo); an image has no
// size of its own, so a ceiling met by an image's sandbox is met by a
// resource, which the caller sets under resources, asked for or not. And
// the ceiling of a non-ephemeral sandbox (maxDiskPerNonEphemeralSandbox,
// in the specs sandstep follows), which every sandbox of sandstep's is,
// is worded "per non-ephemeral sandbox": the same refusal of the size.
func TestPerSandboxCeilingFieldOfDefaultsAndNonEphemeral(t *testing.T) {
	tests := []struct {
		name    string
		message string
		spec    service.ProviderSpec
		field   string
	}{
		{"an image's default disk", "Disk request 3GB exceeds maximum allowed per sandbox (2GB).",
			service.ProviderSpec{Name: "sbx-a", Image: "alpine:3"}, "resources.diskGiB"},
		{"disk past the non-ephemeral ceiling", "Disk request 20GB exceeds maximum allowed per non-ephemeral sandbox (10GB).\nContact support to raise it.",
			service.ProviderSpec{Name: "sbx-c", Image: "alpine:3", Resources: &sandstep.Resources{DiskGiB: 20}}, "resources.diskGiB"},
		{"a snapshot past the non-ephemeral ceiling", "Disk request 20GB exceeds maximum allowed per non-ephemeral sandbox (10GB).",
			service.ProviderSpec{Name: "sbx-d", Snapshot: "big"}, "snapshot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, srv := reviewProvider(t)
			if _, err := srv.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 400, Message: tt.message,
				Match: daytonalocal.Match{Operation: "createSandbox"}}); err != nil {
				t.Fatal(err)
			}
			_, err := p.Create(context.Background(), tt.spec)
			if code := sandstep.ErrorCode(err); code != sandstep.EINVALID {
				t.Fatalf("create: %v (%s), want invalid_input", err, code)
			}
			if f := sandstep.ErrorField(err); f != tt.field {
				t.Errorf("field = %q, want %q (%v)", f, tt.field, err)
			}
		})
	}
}
