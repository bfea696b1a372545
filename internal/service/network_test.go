package service

import (
	"context"
	"reflect"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// np builds a policy: cidrs, then domains.
func np(cidrs []string, domains ...string) *sandstep.NetworkPolicy {
	return &sandstep.NetworkPolicy{AllowList: cidrs, DomainAllowList: domains}
}

var blockAll = &sandstep.NetworkPolicy{BlockAll: true}

func TestNarrowNetwork(t *testing.T) {
	both := np([]string{"10.0.0.0/8", "192.168.1.0/24"}, "github.com", "*.pypi.org")
	tests := []struct {
		name         string
		ceiling, ask *sandstep.NetworkPolicy
		want         *sandstep.NetworkPolicy
		field        string // the entry refused; "" = allowed
	}{
		{name: "open ceiling, no ask", want: nil},
		{name: "open ceiling takes the ask", ask: np([]string{"203.0.113.0/24"}, "example.com"), want: np([]string{"203.0.113.0/24"}, "example.com")},
		{name: "open ceiling, ask blocks", ask: blockAll, want: blockAll},
		{name: "ceiling blocks whatever is asked", ceiling: blockAll, ask: np(nil, "github.com"), want: blockAll},
		{name: "ask blocks under a listing ceiling", ceiling: both, ask: blockAll, want: blockAll},
		{name: "no ask is the ceiling", ceiling: both, want: both},
		{name: "CIDRs inside the ceiling's", ceiling: both, ask: np([]string{"10.1.0.0/16", "192.168.1.7/32", "10.0.0.0/8"}),
			want: np([]string{"10.1.0.0/16", "192.168.1.7/32", "10.0.0.0/8"}, "github.com", "*.pypi.org")},
		{name: "CIDR outside", ceiling: both, ask: np([]string{"10.0.0.0/16", "172.16.0.0/12"}), field: "network.allowList[1]"},
		{name: "CIDR wider than the ceiling's", ceiling: both, ask: np([]string{"192.168.0.0/16"}), field: "network.allowList[0]"},
		{name: "CIDRs under a domains-only ceiling", ceiling: np(nil, "github.com"), ask: np([]string{"10.0.0.0/8"}), field: "network.allowList"},
		{name: "domains listed and under a wildcard", ceiling: both, ask: np(nil, "github.com", "files.pypi.org", "*.cdn.pypi.org"),
			want: np([]string{"10.0.0.0/8", "192.168.1.0/24"}, "github.com", "files.pypi.org", "*.cdn.pypi.org")},
		{name: "a wildcard's own name is not under it", ceiling: both, ask: np(nil, "pypi.org"), field: "network.domainAllowList[0]"},
		{name: "a plain entry's subdomain is not under it", ceiling: both, ask: np(nil, "github.com", "api.github.com"), field: "network.domainAllowList[1]"},
		{name: "a lookalike is not under a wildcard", ceiling: both, ask: np(nil, "evilpypi.org"), field: "network.domainAllowList[0]"},
		{name: "a wider wildcard is not under a narrower one", ceiling: np(nil, "*.cdn.pypi.org"), ask: np(nil, "*.pypi.org"), field: "network.domainAllowList[0]"},
		{name: "domains under a CIDRs-only ceiling", ceiling: np([]string{"10.0.0.0/8"}), ask: np(nil, "github.com"), field: "network.domainAllowList"},
		{name: "one list narrowed, the other the ceiling's", ceiling: both, ask: np(nil, "github.com"),
			want: np([]string{"10.0.0.0/8", "192.168.1.0/24"}, "github.com")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.ceiling.Clone()
			got, err := narrowNetwork("network", tt.ceiling, tt.ask)
			if !reflect.DeepEqual(tt.ceiling, before) {
				t.Fatalf("the ceiling changed: %+v", tt.ceiling)
			}
			if tt.field != "" {
				wantCode(t, err, sandstep.EINVALID)
				if f := sandstep.ErrorField(err); f != tt.field {
					t.Fatalf("field = %q, want %q (%v)", f, tt.field, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("policy = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTaskNetwork(t *testing.T) {
	const api = "https://abc123.execute-api.us-east-1.amazonaws.com"
	const host = "abc123.execute-api.us-east-1.amazonaws.com"
	tests := []struct {
		name    string
		policy  *sandstep.NetworkPolicy
		apiURL  string
		want    *sandstep.NetworkPolicy
		wantURL string
	}{
		{"open", nil, api, nil, api},
		{"no API URL", np(nil, "github.com"), "", np(nil, "github.com"), ""},
		{"everything blocked", blockAll, api, blockAll, ""},
		{"CIDRs only", np([]string{"10.0.0.0/8"}), api, np([]string{"10.0.0.0/8"}), ""},
		{"domains: the API's host joins them", np(nil, "github.com"), api, np(nil, "github.com", host), api},
		{"CIDRs and domains", np([]string{"10.0.0.0/8"}, "github.com"), api, np([]string{"10.0.0.0/8"}, "github.com", host), api},
		{"a wildcard covers the host", np(nil, "*.amazonaws.com"), api, np(nil, "*.amazonaws.com"), api},
		{"the host is listed", np(nil, host), api, np(nil, host), api},
		{"custom domain with a port and a path", np(nil, "github.com"), "https://API.Example.com:8443/v1", np(nil, "github.com", "api.example.com"), "https://API.Example.com:8443/v1"},
		{"an IP address host", np(nil, "github.com"), "http://127.0.0.1:3000", np(nil, "github.com"), ""},
		{"localhost", np(nil, "github.com"), "http://localhost:3000", np(nil, "github.com"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.policy.Clone()
			got, url := taskNetwork(tt.policy, tt.apiURL)
			if !reflect.DeepEqual(got, tt.want) || url != tt.wantURL {
				t.Fatalf("taskNetwork = %+v, %q; want %+v, %q", got, url, tt.want, tt.wantURL)
			}
			if !reflect.DeepEqual(tt.policy, before) {
				t.Errorf("the policy given changed: %+v", tt.policy)
			}
		})
	}
}

// TestCreateNarrowsToTheCeiling: the effective policy, not the ask, is
// what the provider gets and the record keeps.
func TestCreateNarrowsToTheCeiling(t *testing.T) {
	ctx := context.Background()
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5})
	p := newFakeProvider()
	limits := testLimits()
	limits.NetworkCeiling = np([]string{"10.0.0.0/8"}, "GitHub.com", "*.pypi.org")
	svc := newService(t, p, st, nil, Options{Limits: limits})

	tests := []struct {
		name string
		ask  *sandstep.NetworkPolicy
		want *sandstep.NetworkPolicy
	}{
		{"no ask", nil, np([]string{"10.0.0.0/8"}, "github.com", "*.pypi.org")},
		{"narrowed", np(nil, "files.PyPI.org"), np([]string{"10.0.0.0/8"}, "files.pypi.org")},
		{"blocked", blockAll, blockAll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{Network: tt.ask})
			if err != nil {
				t.Fatal(err)
			}
			spec := p.specs[len(p.specs)-1]
			rec, err := st.GetSandbox(ctx, sb.ID)
			if err != nil {
				t.Fatal(err)
			}
			for what, got := range map[string]*sandstep.NetworkPolicy{"provider": spec.Network, "answer": sb.Network, "record": rec.Network} {
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("%s network = %+v, want %+v", what, got, tt.want)
				}
			}
		})
	}

	creates := p.creates
	_, err := svc.AgentExecute(ctx, alice(), AgentExecuteInput{Command: "true",
		CreateSandboxInput: CreateSandboxInput{Network: np([]string{"10.0.0.0/16", "8.8.8.8/32"})}})
	wantCode(t, err, sandstep.EINVALID)
	if f := sandstep.ErrorField(err); f != "network.allowList[1]" {
		t.Errorf("field = %q (%v)", f, err)
	}
	if p.creates != creates {
		t.Error("an ask outside the ceiling reached the provider")
	}
}

// TestTaskSandboxNetwork: a task's sandbox may reach the API where the
// policy lists domains; where it cannot, the task expects no nudge, from
// its acceptance or from its sandbox's creation if the ceiling has
// tightened in between.
func TestTaskSandboxNetwork(t *testing.T) {
	const api = "https://abc123.execute-api.us-east-1.amazonaws.com"
	ctx := context.Background()
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 10})
	p := newFakeProvider()
	objects := newFakeObjects()
	taskService := func(ceiling *sandstep.NetworkPolicy) *Service {
		limits := testLimits()
		limits.NetworkCeiling = ceiling
		svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
			Tasks: st, Objects: objects, Machine: &fakeMachine{}, Sessions: fakeSessions{}},
			Options{Limits: limits, Deployment: fixedDeployment(testDeployment)})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	tests := []struct {
		name           string
		ceiling        *sandstep.NetworkPolicy // when the task is accepted
		later          *sandstep.NetworkPolicy // when its sandbox is made; nil: the same
		ask            *sandstep.NetworkPolicy
		acceptedURL    string
		sandboxURL     string
		sandboxNetwork *sandstep.NetworkPolicy
	}{
		{name: "open", acceptedURL: api, sandboxURL: api},
		{name: "domains", ask: np(nil, "github.com"), acceptedURL: api, sandboxURL: api,
			sandboxNetwork: np(nil, "github.com", "abc123.execute-api.us-east-1.amazonaws.com")},
		{name: "CIDRs only", ask: np([]string{"10.0.0.0/8"}), sandboxNetwork: np([]string{"10.0.0.0/8"})},
		{name: "blocked by the ceiling", ceiling: blockAll, ask: np(nil, "github.com"), sandboxNetwork: blockAll},
		{name: "ceiling tightened after acceptance", later: blockAll, acceptedURL: api, sandboxNetwork: blockAll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := taskService(tt.ceiling)
			task, err := svc.StartTask(ctx, Call{UserID: "alice", RequestID: "r-" + tt.name, APIURL: api},
				TaskInput{Sandbox: CreateSandboxInput{Network: tt.ask}, Command: "make test"})
			if err != nil {
				t.Fatal(err)
			}
			if task.APIURL != tt.acceptedURL {
				t.Errorf("accepted with APIURL %q, want %q", task.APIURL, tt.acceptedURL)
			}
			if tt.later != nil {
				svc = taskService(tt.later)
			}
			if _, err := svc.CreateTaskSandbox(ctx, TaskStep{TaskID: task.ID, UserID: "alice"}); err != nil {
				t.Fatal(err)
			}
			if got := p.specs[len(p.specs)-1].Network; !reflect.DeepEqual(got, tt.sandboxNetwork) {
				t.Errorf("sandbox network = %+v, want %+v", got, tt.sandboxNetwork)
			}
			rec, err := st.GetTask(ctx, task.ID)
			if err != nil {
				t.Fatal(err)
			}
			if rec.APIURL != tt.sandboxURL {
				t.Errorf("APIURL once the sandbox is made = %q, want %q", rec.APIURL, tt.sandboxURL)
			}
		})
	}

	// A bad ask is named by its path in the task.
	_, err := taskService(np(nil, "github.com")).StartTask(ctx, Call{UserID: "alice", RequestID: "bad", APIURL: api},
		TaskInput{Sandbox: CreateSandboxInput{Network: np(nil, "gitlab.com")}, Command: "make"})
	wantCode(t, err, sandstep.EINVALID)
	if f := sandstep.ErrorField(err); f != "sandbox.network.domainAllowList[0]" {
		t.Errorf("field = %q (%v)", f, err)
	}
}
