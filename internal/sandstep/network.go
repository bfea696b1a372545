package sandstep

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// NetworkPolicy is a sandbox's outbound network access, as Daytona applies
// it: BlockAll allows nothing; otherwise, when either list is set, only the
// listed IPv4 networks and domains are reachable; with neither, everything
// is. A caller asks for one in a create's "network"; the operator's
// NETWORK_POLICY is a ceiling the service narrows it to.
type NetworkPolicy struct {
	BlockAll bool `json:"blockAll,omitempty" dynamodbav:"blockAll,omitempty"`
	// AllowList holds IPv4 networks in CIDR notation (10.0.0.0/8).
	AllowList []string `json:"allowList,omitempty" dynamodbav:"allowList,omitempty"`
	// DomainAllowList holds host names (api.github.com) and wildcards
	// (*.github.com: every subdomain, not github.com itself).
	DomainAllowList []string `json:"domainAllowList,omitempty" dynamodbav:"domainAllowList,omitempty"`
}

// Network policy limits, part of the public contract (README "Limits").
// Daytona documents at most 5 CIDRs; a longer list would fail at Daytona
// with an error naming no field.
const (
	MaxNetworkCIDRs   = 5
	MaxNetworkDomains = 50
	maxDomainBytes    = 253 // DNS's limit on a name
)

// Open reports whether p restricts nothing (a nil p is open).
func (p *NetworkPolicy) Open() bool {
	return p == nil || (!p.BlockAll && len(p.AllowList) == 0 && len(p.DomainAllowList) == 0)
}

// Clone returns a deep copy of p.
func (p *NetworkPolicy) Clone() *NetworkPolicy {
	if p == nil {
		return nil
	}
	return &NetworkPolicy{BlockAll: p.BlockAll,
		AllowList: append([]string(nil), p.AllowList...), DomainAllowList: append([]string(nil), p.DomainAllowList...)}
}

// CheckNetworkPolicy checks p's syntax and sizes and returns it canonical
// (domains in lower case), or nil when it restricts nothing. Errors are
// EINVALID naming the entry under field ("network.allowList[2]"). BlockAll
// with a list is refused: a list allows what BlockAll forbids.
func CheckNetworkPolicy(field string, p *NetworkPolicy) (*NetworkPolicy, error) {
	if p.Open() {
		return nil, nil
	}
	if p.BlockAll {
		if len(p.AllowList) > 0 || len(p.DomainAllowList) > 0 {
			return nil, Invalid(join(field, "blockAll"), "cannot be true together with allowList or domainAllowList: blocking all traffic allows nothing")
		}
		return &NetworkPolicy{BlockAll: true}, nil
	}
	out := &NetworkPolicy{}
	for _, l := range []struct {
		name  string
		in    []string
		out   *[]string
		max   int
		what  string
		parse func(string) (string, error)
	}{
		{"allowList", p.AllowList, &out.AllowList, MaxNetworkCIDRs, "CIDRs", func(s string) (string, error) {
			n, err := ParseCIDR(s)
			return n.String(), err
		}},
		{"domainAllowList", p.DomainAllowList, &out.DomainAllowList, MaxNetworkDomains, "domains", ParseDomain},
	} {
		if err := TooMany(join(field, l.name), len(l.in), l.max, l.what); err != nil {
			return nil, err
		}
		seen := make(map[string]int, len(l.in))
		for i, s := range l.in {
			entry := fmt.Sprintf("%s[%d]", l.name, i)
			v, err := l.parse(s)
			if err != nil {
				return nil, Invalid(join(field, entry), "%q %v", Clip(s, 64), err)
			}
			if j, dup := seen[v]; dup {
				return nil, Invalid(join(field, entry), "repeats %s[%d]", l.name, j)
			}
			seen[v] = i
			*l.out = append(*l.out, v)
		}
	}
	return out, nil
}

// ParseCIDR reads an allowList entry: an IPv4 network in CIDR notation
// without host bits (10.0.0.0/8, 203.0.113.7/32). Daytona takes IPv4 only.
func ParseCIDR(s string) (netip.Prefix, error) {
	n, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		return netip.Prefix{}, errors.New("is not a CIDR (an IPv4 network such as 10.0.0.0/8 or 203.0.113.7/32)")
	case !n.Addr().Is4():
		return netip.Prefix{}, errors.New("is an IPv6 network; Daytona allows IPv4 networks only")
	case n != n.Masked():
		return netip.Prefix{}, fmt.Errorf("has host bits set; the network is %s", n.Masked())
	}
	return n, nil
}

// ParseDomain reads a domainAllowList entry: a host name of two or more
// labels (letters, digits and -, 1 to 63 each, no - at either end; the
// last has a letter), or "*." and such a name for its subdomains. It
// returns it in lower case.
func ParseDomain(s string) (string, error) {
	d := strings.ToLower(s)
	if _, err := netip.ParseAddr(d); err == nil {
		return "", errors.New("is an IP address; allow it in allowList as a CIDR (1.2.3.4/32)")
	}
	name := strings.TrimPrefix(d, "*.")
	labels := strings.Split(name, ".")
	ok := len(d) <= maxDomainBytes && len(labels) >= 2 && strings.ContainsFunc(labels[len(labels)-1], isLetter)
	for _, l := range labels {
		ok = ok && validLabel(l)
	}
	if !ok {
		return "", errors.New("is not a domain name (such as api.github.com, or *.github.com for its subdomains)")
	}
	return d, nil
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, c := range l {
		if !isLetter(c) && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

func isLetter(c rune) bool { return c >= 'a' && c <= 'z' }

// join names a field under a parent ("" for none).
func join(parent, field string) string {
	if parent == "" {
		return field
	}
	return parent + "." + field
}
