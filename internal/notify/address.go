package notify

import (
	"fmt"
	"net/netip"
)

// reserved are the networks no notice goes to beyond what netip's
// predicates name (loopback, private, link-local, multicast,
// unspecified): addresses that are not the public Internet, and the
// IPv6 forms that carry an IPv4 address inside them.
var reserved = []struct {
	prefix netip.Prefix
	kind   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\""},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT (shared)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // and the broadcast address
	{netip.MustParsePrefix("::/96"), "IPv4-compatible"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "NAT64"},
	{netip.MustParsePrefix("100::/64"), "discard"},
	{netip.MustParsePrefix("2001::/32"), "Teredo"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("2002::/16"), "6to4"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
}

// checkAddr says why ip may not receive a notice, or nil. With local, a
// loopback address is allowed (the local stack's receivers).
func checkAddr(ip netip.Addr, local bool) error {
	ip = ip.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	kind := ""
	switch {
	case !ip.IsValid():
		kind = "invalid"
	case ip.IsLoopback():
		if local {
			return nil
		}
		kind = "loopback"
	case ip.IsUnspecified():
		kind = "unspecified"
	case ip.IsPrivate():
		kind = "private"
	case ip.IsLinkLocalUnicast():
		kind = "link-local" // 169.254.169.254, the instance metadata, among them
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		kind = "multicast"
	default:
		for _, r := range reserved {
			if r.prefix.Contains(ip) {
				kind = r.kind
				break
			}
		}
	}
	if kind == "" {
		return nil
	}
	return &refusedError{addr: ip, kind: kind}
}

// refusedError is an address no notice may go to.
type refusedError struct {
	addr netip.Addr
	kind string
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("%s is a %s address", e.addr, e.kind)
}
