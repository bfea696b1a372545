package service

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// sandboxNetwork checks a create's network field and narrows it to the
// deployment's ceiling: the policy the sandbox gets (nil: open).
func (s *Service) sandboxNetwork(ask *sandstep.NetworkPolicy) (*sandstep.NetworkPolicy, error) {
	checked, err := sandstep.CheckNetworkPolicy("network", ask)
	if err != nil {
		return nil, err
	}
	return narrowNetwork("network", s.opts.NetworkCeiling, checked)
}

// narrowNetwork is the policy a caller's ask (checked) comes to under the
// deployment's ceiling (NETWORK_POLICY, checked). A caller only narrows:
//
//   - an open ceiling takes the ask as it is;
//   - blockAll in either blocks everything, whatever else the ask lists;
//   - each list of the ceiling bounds the ask's: a CIDR must lie inside
//     one of the ceiling's, a domain must be one of the ceiling's or under
//     one of its "*." entries (400 naming the entry otherwise); a list the
//     ask leaves out is the ceiling's;
//   - a list the ceiling lacks while it restricts cannot be asked for: the
//     ceiling allows none of it.
//
// The result allows no more than the ceiling, list by list.
func narrowNetwork(field string, ceiling, ask *sandstep.NetworkPolicy) (*sandstep.NetworkPolicy, error) {
	switch {
	case ceiling.Open():
		return ask.Clone(), nil
	case ceiling.BlockAll || (ask != nil && ask.BlockAll):
		return &sandstep.NetworkPolicy{BlockAll: true}, nil
	}
	out := ceiling.Clone()
	if ask == nil {
		return out, nil
	}
	if len(ask.AllowList) > 0 {
		if len(ceiling.AllowList) == 0 {
			return nil, sandstep.Invalid(field+".allowList", "the deployment's network policy (NETWORK_POLICY) allows listed domains only, no CIDRs")
		}
		for i, c := range ask.AllowList {
			if !cidrCovered(ceiling.AllowList, c) {
				return nil, sandstep.Invalid(fmt.Sprintf("%s.allowList[%d]", field, i), "%s is not inside a network the deployment allows (NETWORK_POLICY)", c)
			}
		}
		out.AllowList = slices.Clone(ask.AllowList)
	}
	if len(ask.DomainAllowList) > 0 {
		if len(ceiling.DomainAllowList) == 0 {
			return nil, sandstep.Invalid(field+".domainAllowList", "the deployment's network policy (NETWORK_POLICY) allows listed CIDRs only, no domains")
		}
		for i, d := range ask.DomainAllowList {
			if !domainCovered(ceiling.DomainAllowList, d) {
				return nil, sandstep.Invalid(fmt.Sprintf("%s.domainAllowList[%d]", field, i), "%s is not a domain the deployment allows (NETWORK_POLICY)", d)
			}
		}
		out.DomainAllowList = slices.Clone(ask.DomainAllowList)
	}
	return out, nil
}

// cidrCovered reports whether the network c lies inside one of list's
// (all checked, so they parse).
func cidrCovered(list []string, c string) bool {
	n, _ := netip.ParsePrefix(c)
	return slices.ContainsFunc(list, func(e string) bool {
		outer, _ := netip.ParsePrefix(e)
		return outer.Bits() <= n.Bits() && outer.Contains(n.Addr())
	})
}

// domainCovered reports whether d (a name or a "*." wildcard) is one of
// list's entries or under one of its wildcards; "*.x" covers a.x and
// *.a.x, not x itself.
func domainCovered(list []string, d string) bool {
	return slices.ContainsFunc(list, func(e string) bool {
		return e == d || (strings.HasPrefix(e, "*.") && strings.HasSuffix(d, e[1:]))
	})
}

// taskNetwork decides how a task's command, which nudges apiURL when it
// ends, fares under its sandbox's policy p. It returns the policy to
// create the sandbox with and the URL to nudge, "" when the nudge cannot
// arrive and the backstop poll alone must notice the end:
//
//   - open: the nudge goes out as it is;
//   - listed domains: the API's host joins them (unless one covers it);
//   - everything blocked, or CIDRs only (API Gateway has no fixed
//     addresses), or an API host that is not a domain name (an IP address,
//     localhost): no nudge.
func taskNetwork(p *sandstep.NetworkPolicy, apiURL string) (*sandstep.NetworkPolicy, string) {
	switch {
	case apiURL == "" || p.Open():
		return p, apiURL
	case p.BlockAll || len(p.DomainAllowList) == 0:
		return p, ""
	}
	u, err := url.Parse(apiURL)
	if err != nil {
		return p, ""
	}
	host, err := sandstep.ParseDomain(u.Hostname())
	if err != nil || strings.HasPrefix(host, "*.") {
		return p, ""
	}
	if domainCovered(p.DomainAllowList, host) {
		return p, apiURL
	}
	out := p.Clone()
	out.DomainAllowList = append(out.DomainAllowList, host)
	return out, apiURL
}
