package notify

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// MaxURLBytes bounds a notice URL.
const MaxURLBytes = 2048

// checkURL checks what can be known of a notice URL before connecting:
// https (http too with local), a host, no credentials, a literal address
// that checkAddr allows. Errors are EINVALID naming "url"; the message
// never quotes the URL, which may hold a token.
func checkURL(raw string, local bool) (*url.URL, error) {
	if raw == "" {
		return nil, sandstep.Invalid("url", "is required")
	}
	if len(raw) > MaxURLBytes {
		return nil, sandstep.Invalid("url", "is longer than %d bytes", MaxURLBytes)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return nil, sandstep.Invalid("url", "must be an absolute URL, https://host/path")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && local:
	case u.Scheme == "http":
		return nil, sandstep.Invalid("url", "must be https (http only with SANDSTEP_ENV=local)")
	default:
		return nil, sandstep.Invalid("url", "must be https, not %s", sandstep.Clip(u.Scheme, 16))
	}
	if u.User != nil {
		return nil, sandstep.Invalid("url", "must not carry credentials (user:password@); sign with notify.secretRef instead")
	}
	if u.Fragment != "" || strings.HasSuffix(raw, "#") {
		return nil, sandstep.Invalid("url", "must not have a fragment")
	}
	host := u.Hostname()
	if host == "" {
		return nil, sandstep.Invalid("url", "has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, sandstep.Invalid("url", "has a port outside 1-65535")
		}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := checkAddr(ip, local); err != nil {
			return nil, sandstep.Invalid("url", "is not allowed: %v", err)
		}
		return u, nil
	}
	// A name is checked again on every address it resolves to, when
	// connecting; localhost is known now.
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if numericHost(name) {
		// An IPv4 address in another form than a.b.c.d (2130706433,
		// 0x7f000001, 127.1, 0177.0.0.1): a literal, not a name. Some
		// resolvers take it for the address it stands for, Go's own for a
		// name that never resolves; either way it is refused now.
		if ip, ok := parseLooseIPv4(name); ok {
			if err := checkAddr(ip, local); err != nil {
				return nil, sandstep.Invalid("url", "is not allowed: %v", err)
			}
		}
		return nil, sandstep.Invalid("url", "gives an IPv4 address in a form other than a.b.c.d")
	}
	if !local && (name == "localhost" || strings.HasSuffix(name, ".localhost")) {
		return nil, sandstep.Invalid("url", "is not allowed: localhost is a loopback name")
	}
	return u, nil
}

// numericHost says whether a host name's last label is a number (decimal
// or 0x hex): no DNS name ends so, while an IPv4 address in a loose form
// does (WHATWG URL's "ends in a number").
func numericHost(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if hex, ok := strings.CutPrefix(last, "0x"); ok {
		return onlyDigits(hex, 16)
	}
	return last != "" && onlyDigits(last, 10)
}

func onlyDigits(s string, base int) bool {
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
		case base == 16 && (c >= 'a' && c <= 'f'):
		default:
			return false
		}
	}
	return true
}

// parseLooseIPv4 reads name as inet_aton does: one to four parts, each
// decimal, 0x hex or 0-prefixed octal, the last filling the bytes the
// others leave.
func parseLooseIPv4(name string) (netip.Addr, bool) {
	parts := strings.Split(name, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var v uint64
	for i, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x"):
			p, base = p[2:], 16
		case len(p) > 1 && p[0] == '0':
			p, base = p[1:], 8
		}
		if p == "" && base == 16 {
			p = "0"
		}
		n, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		if i < len(parts)-1 {
			if n > 0xff {
				return netip.Addr{}, false
			}
			v |= n << (8 * (3 - i))
			continue
		}
		if n >= 1<<(8*(4-i)) {
			return netip.Addr{}, false
		}
		v |= n
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}
