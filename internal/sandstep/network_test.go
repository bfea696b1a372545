package sandstep

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestCheckNetworkPolicy(t *testing.T) {
	many := func(n int, f func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	tests := []struct {
		name  string
		in    *NetworkPolicy
		want  *NetworkPolicy
		field string // the field named by the error; "" = valid
		msg   string // part of the error
	}{
		{name: "none", in: nil, want: nil},
		{name: "empty is open", in: &NetworkPolicy{AllowList: []string{}}, want: nil},
		{name: "block all", in: &NetworkPolicy{BlockAll: true}, want: &NetworkPolicy{BlockAll: true}},
		{name: "both lists, domains in lower case",
			in:   &NetworkPolicy{AllowList: []string{"10.0.0.0/8", "203.0.113.7/32"}, DomainAllowList: []string{"API.GitHub.com", "*.pypi.org", "xn--80ak6aa92e.com"}},
			want: &NetworkPolicy{AllowList: []string{"10.0.0.0/8", "203.0.113.7/32"}, DomainAllowList: []string{"api.github.com", "*.pypi.org", "xn--80ak6aa92e.com"}}},
		{name: "every IPv4 address", in: &NetworkPolicy{AllowList: []string{"0.0.0.0/0"}}, want: &NetworkPolicy{AllowList: []string{"0.0.0.0/0"}}},
		{name: "limits exactly", in: &NetworkPolicy{
			AllowList:       many(MaxNetworkCIDRs, func(i int) string { return fmt.Sprintf("10.%d.0.0/16", i) }),
			DomainAllowList: many(MaxNetworkDomains, func(i int) string { return fmt.Sprintf("d%d.example.com", i) })},
			want: &NetworkPolicy{
				AllowList:       many(MaxNetworkCIDRs, func(i int) string { return fmt.Sprintf("10.%d.0.0/16", i) }),
				DomainAllowList: many(MaxNetworkDomains, func(i int) string { return fmt.Sprintf("d%d.example.com", i) })}},

		{name: "block all with a CIDR", in: &NetworkPolicy{BlockAll: true, AllowList: []string{"10.0.0.0/8"}}, field: "network.blockAll", msg: "cannot be true together"},
		{name: "block all with a domain", in: &NetworkPolicy{BlockAll: true, DomainAllowList: []string{"github.com"}}, field: "network.blockAll", msg: "allows nothing"},
		{name: "not a CIDR", in: &NetworkPolicy{AllowList: []string{"10.0.0.0/8", "1.2.3.0/24", "10.0.0.300/8"}}, field: "network.allowList[2]", msg: `"10.0.0.300/8" is not a CIDR (`},
		{name: "an address without a length", in: &NetworkPolicy{AllowList: []string{"10.0.0.1"}}, field: "network.allowList[0]", msg: "is not a CIDR"},
		{name: "a domain in the CIDR list", in: &NetworkPolicy{AllowList: []string{"github.com"}}, field: "network.allowList[0]", msg: "is not a CIDR"},
		{name: "empty CIDR", in: &NetworkPolicy{AllowList: []string{""}}, field: "network.allowList[0]", msg: "is not a CIDR"},
		{name: "CIDR with space", in: &NetworkPolicy{AllowList: []string{" 10.0.0.0/8"}}, field: "network.allowList[0]", msg: "is not a CIDR"},
		{name: "IPv6", in: &NetworkPolicy{AllowList: []string{"2001:db8::/32"}}, field: "network.allowList[0]", msg: "IPv4 networks only"},
		{name: "IPv4 in IPv6", in: &NetworkPolicy{AllowList: []string{"::ffff:10.0.0.0/104"}}, field: "network.allowList[0]", msg: "IPv4 networks only"},
		{name: "host bits", in: &NetworkPolicy{AllowList: []string{"10.1.2.3/8"}}, field: "network.allowList[0]", msg: "the network is 10.0.0.0/8"},
		{name: "duplicate CIDR", in: &NetworkPolicy{AllowList: []string{"10.0.0.0/8", "10.0.0.0/8"}}, field: "network.allowList[1]", msg: "repeats allowList[0]"},
		{name: "too many CIDRs", in: &NetworkPolicy{AllowList: many(MaxNetworkCIDRs+1, func(i int) string { return fmt.Sprintf("10.%d.0.0/16", i) })},
			field: "network.allowList", msg: fmt.Sprintf("has %d CIDRs, at most %d", MaxNetworkCIDRs+1, MaxNetworkCIDRs)},
		{name: "too many domains", in: &NetworkPolicy{DomainAllowList: many(MaxNetworkDomains+1, func(i int) string { return fmt.Sprintf("d%d.example.com", i) })},
			field: "network.domainAllowList", msg: "at most 50"},
		{name: "one label", in: &NetworkPolicy{DomainAllowList: []string{"localhost"}}, field: "network.domainAllowList[0]", msg: `"localhost" is not a domain name`},
		{name: "wildcard on a top-level domain", in: &NetworkPolicy{DomainAllowList: []string{"*.com"}}, field: "network.domainAllowList[0]", msg: "is not a domain name"},
		{name: "wildcard inside", in: &NetworkPolicy{DomainAllowList: []string{"api.*.github.com"}}, field: "network.domainAllowList[0]", msg: "is not a domain name"},
		{name: "bare wildcard", in: &NetworkPolicy{DomainAllowList: []string{"*"}}, field: "network.domainAllowList[0]", msg: "is not a domain name"},
		{name: "URL", in: &NetworkPolicy{DomainAllowList: []string{"https://github.com"}}, field: "network.domainAllowList[0]", msg: "is not a domain name"},
		{name: "port", in: &NetworkPolicy{DomainAllowList: []string{"github.com:443"}}, field: "network.domainAllowList[0]", msg: "is not a domain name"},
		{name: "trailing dot", in: &NetworkPolicy{DomainAllowList: []string{"github.com."}}, field: "network.domainAllowList[0]", msg: "is not a domain name"},
		{name: "underscore", in: &NetworkPolicy{DomainAllowList: []string{"a_b.example.com"}}, field: "network.domainAllowList[0]", msg: "is not a domain name"},
		{name: "hyphen at a label's end", in: &NetworkPolicy{DomainAllowList: []string{"a-.example.com"}}, field: "network.domainAllowList[0]", msg: "is not a domain name"},
		{name: "label too long", in: &NetworkPolicy{DomainAllowList: []string{strings.Repeat("a", 64) + ".com"}}, field: "network.domainAllowList[0]", msg: "is not a domain name"},
		{name: "name too long", in: &NetworkPolicy{DomainAllowList: []string{strings.Repeat("abcdefghi.", 26) + "com"}}, field: "network.domainAllowList[0]", msg: "is not a domain name"},
		{name: "numeric top-level label", in: &NetworkPolicy{DomainAllowList: []string{"1.2.3.999"}}, field: "network.domainAllowList[0]", msg: "is not a domain name"},
		{name: "IP address as a domain", in: &NetworkPolicy{DomainAllowList: []string{"github.com", "1.2.3.4"}}, field: "network.domainAllowList[1]", msg: "allow it in allowList as a CIDR"},
		{name: "duplicate domain in another case", in: &NetworkPolicy{DomainAllowList: []string{"github.com", "GitHub.com"}}, field: "network.domainAllowList[1]", msg: "repeats domainAllowList[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CheckNetworkPolicy("network", tt.in)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("policy = %+v, want %+v", got, tt.want)
				}
				return
			}
			if ErrorCode(err) != EINVALID || ErrorField(err) != tt.field || !strings.Contains(ErrorMessage(err), tt.msg) {
				t.Fatalf("err = %v; want invalid_input naming %s and saying %q", err, tt.field, tt.msg)
			}
			if got != nil {
				t.Errorf("policy %+v returned with an error", got)
			}
		})
	}
}

// Without a parent the entries are named alone, as NETWORK_POLICY's are.
func TestCheckNetworkPolicyWithoutParent(t *testing.T) {
	_, err := CheckNetworkPolicy("", &NetworkPolicy{AllowList: []string{"x"}})
	if ErrorField(err) != "allowList[0]" {
		t.Fatalf("field = %q (%v)", ErrorField(err), err)
	}
}

func TestNetworkPolicyOpenAndClone(t *testing.T) {
	var none *NetworkPolicy
	if !none.Open() || !(&NetworkPolicy{}).Open() || (&NetworkPolicy{BlockAll: true}).Open() || (&NetworkPolicy{DomainAllowList: []string{"a.b"}}).Open() {
		t.Error("Open is wrong")
	}
	p := &NetworkPolicy{AllowList: []string{"10.0.0.0/8"}, DomainAllowList: []string{"a.example.com"}}
	c := p.Clone()
	c.AllowList[0], c.DomainAllowList[0] = "x", "y"
	if p.AllowList[0] != "10.0.0.0/8" || p.DomainAllowList[0] != "a.example.com" || none.Clone() != nil {
		t.Errorf("Clone shares its lists: %+v", p)
	}
}
