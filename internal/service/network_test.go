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
