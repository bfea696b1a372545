package daytonaprovider

import (
	"context"
	"testing"

	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// The releases of Daytona that refuse a create over the organisation's
// totals with 403 (ForbiddenException) do not say "limit exceeded": they
// say "Total CPU quota exceeded. Maximum allowed: 10" or, before that,
// "Total memory quota exceeded (12GB > 10GB)". 08dab5c took a 403 for
// capacity only with the words of the 400 releases, so a full
// organisation on such a release is still answered internal: a user is
// told 500, the fault alarm counts it, and a task fails at once instead of
// waiting CAPACITY_WAIT (README, Errors: capacity is "the Daytona
// organisation has no CPU, memory or disk left"). A 403 that is no
// capacity (a suspended organisation, a key refused) must stay internal.
func TestReviewForbiddenQuotaExceededIsCapacity(t *testing.T) {
	tests := []struct {
		name    string
		message string
		want    sandstep.Code
	}{
		{"cpu, quota wording", "Total CPU quota exceeded. Maximum allowed: 10", sandstep.ECAPACITY},
		{"memory, quota wording", "Total memory quota exceeded. Maximum allowed: 10GiB", sandstep.ECAPACITY},
		{"disk, oldest wording", "Total disk quota exceeded (40GB > 30GB)", sandstep.ECAPACITY},
		{"a suspended organisation is no capacity", "Organization is suspended: Payment method required", sandstep.EINTERNAL},
		{"a key Daytona refuses is no capacity", "Forbidden resource", sandstep.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, srv := newProvider(t, Options{})
			if _, err := srv.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 403, Message: tt.message,
				Match: daytonalocal.Match{Operation: "createSandbox"}}); err != nil {
				t.Fatal(err)
			}
			_, err := p.Create(context.Background(), service.ProviderSpec{Name: "sbx-full"})
			if code := sandstep.ErrorCode(err); code != tt.want {
				t.Errorf("create Daytona refused with 403 %q: %v (%s), want %s", tt.message, err, code, tt.want)
			}
		})
	}
}
