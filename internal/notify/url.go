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
	if !local && (name == "localhost" || strings.HasSuffix(name, ".localhost")) {
		return nil, sandstep.Invalid("url", "is not allowed: localhost is a loopback name")
	}
	return u, nil
}
