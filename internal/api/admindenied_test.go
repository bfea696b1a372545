package api

import (
	"context"
	"testing"

	"github.com/sandstep/sandstep/internal/service"
)

// A caller who is not an administrator and tries an administrators' route
// is answered 404 at the edge, and that refusal is a denied attempt: one
// WARN "denied" line with reason not_admin (README: Logging), for the
// operator's alarm, as the service's own guard would write.
func TestAdminRefusalIsDenied(t *testing.T) {
	tests := []struct {
		name  string
		route string
		body  string
	}{
		{"usage", RouteUserUsage, ""},
		{"set", RouteSetUserLimit, `{"limit":3}`},
		{"clear", RouteClearUserLimit, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, logs := newTestAPI(&fakeService{}, Options{})
			opts := []evOption{withAdminClaim("", "")}
			if tc.body != "" {
				opts = append(opts, withBody(tc.body))
			}
			if res := a.ServeEvent(context.Background(), apiEvent(tc.route, opts...)); res.StatusCode != 404 {
				t.Fatalf("status %d, want 404: %s", res.StatusCode, res.Body)
			}
			var denied []map[string]any
			for _, r := range logs.records(t) {
				if r["message"] == "denied" {
					denied = append(denied, r)
				}
			}
			if len(denied) != 1 || denied[0]["level"] != "WARN" || denied[0]["reason"] != service.DeniedNotAdmin ||
				denied[0]["userId"] != "user-1" || denied[0]["target"] != testUserID {
				t.Errorf("denied lines %v, want one WARN not_admin by user-1 on %s\n%s", denied, testUserID, logs.String())
			}
		})
	}
}
