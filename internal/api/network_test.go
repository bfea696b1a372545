package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// unreached stands in for every dependency of the real service: the
// inputs below must be refused before any is called, and a call (on a nil
// interface) would panic into a 500.
type unreached struct {
	service.Provider
	service.Sandboxes
	service.Quota
	service.Idempotency
	service.Audit
}

type unreachedTasks struct {
	service.Tasks
	service.Machine
	service.Sessions
}

type unreachedObjects struct{ service.Objects }

// TestNetworkFieldThroughTheEdge: the network field is decoded strictly on
// every route that creates a sandbox, and the real service's refusal
// names the entry at fault by its path.
func TestNetworkFieldThroughTheEdge(t *testing.T) {
	deps := unreached{}
	svc, err := service.New(service.Deps{Provider: deps, Sandboxes: deps, Quota: deps, Idempotency: deps, Audit: deps,
		Tasks: unreachedTasks{}, Objects: unreachedObjects{}, Machine: unreachedTasks{}, Sessions: unreachedTasks{}},
		service.Options{Deployment: func(context.Context) (string, error) { return "test", nil }, Limits: service.Limits{
			DefaultTTLMinutes: 60, MaxTTLMinutes: 60, DefaultExecTimeout: time.Minute, MaxExecTimeout: time.Minute,
			MaxOutputBytes: 1 << 10, MaxTaskDuration: time.Minute, MaxTaskLogBytes: 1 << 10, TaskBackstop: time.Minute,
			NetworkCeiling: &sandstep.NetworkPolicy{AllowList: []string{"10.0.0.0/8"}, DomainAllowList: []string{"*.github.com"}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := newTestAPI(svc, Options{})
	tests := []struct {
		name    string
		route   string
		body    string
		field   string
		message string // a substring
	}{
		{"not a CIDR", RouteCreateSandbox, `{"network":{"allowList":["10.0.0.0/33"]}}`, "network.allowList[0]", `"10.0.0.0/33" is not a CIDR (`},
		{"outside the ceiling", RouteCreateSandbox, `{"network":{"allowList":["192.168.0.0/16"]}}`, "network.allowList[0]", "not inside a network the deployment allows"},
		{"domain outside the ceiling", RouteCreateSandbox, `{"network":{"domainAllowList":["api.github.com","gitlab.com"]}}`, "network.domainAllowList[1]", "not a domain the deployment allows"},
		{"blocked and listed", RouteAgentExecute, `{"command":"x","network":{"blockAll":true,"allowList":["10.0.0.0/8"]}}`, "network.blockAll", "cannot be true together"},
		{"a task's sandbox", RouteStartTask, `{"command":"x","sandbox":{"network":{"allowList":["10.0.0.0/8","nope"]}}}`, "sandbox.network.allowList[1]", "is not a CIDR"},
		{"unknown field", RouteCreateSandbox, `{"network":{"allowlist":["10.0.0.0/8"]}}`, "network.allowlist", "unknown field"},
		{"a string for a list", RouteCreateSandbox, `{"network":{"allowList":"10.0.0.0/8"}}`, "network.allowList", "must be an array"},
		{"a string for a bool", RouteCreateSandbox, `{"network":{"blockAll":"yes"}}`, "network.blockAll", "must be true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := a.ServeEvent(context.Background(), apiEvent(tt.route, withBody(tt.body)))
			if res.StatusCode != 400 {
				t.Fatalf("status %d, want 400; body %s", res.StatusCode, res.Body)
			}
			d := decodeErrorBody(t, res)
			if d.Code != sandstep.EINVALID || d.Field != tt.field || !strings.Contains(d.Message, tt.message) {
				t.Errorf("error %+v, want field %q and a message containing %q", d, tt.field, tt.message)
			}
		})
	}

	// Direct invocation decodes the same field.
	ive := invokeError(t, a, FunctionCreate, `{"action":"create","userId":"u","network":{"allowList":["10.0.0.0/33"]}}`)
	if ive.Type != "Sandbox.InvalidInput" || !strings.HasPrefix(ive.Message, "network.allowList[0]: ") {
		t.Errorf("direct create: %+v", ive)
	}
}
