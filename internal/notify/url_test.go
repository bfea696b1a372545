package notify

import (
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

func TestCheckURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
		// aws and local: what the message says, "" when allowed.
		aws, local string
	}{
		{"https", "https://hooks.example.com/sandstep?team=7", "", ""},
		{"https with port", "https://hooks.example.com:8443/x", "", ""},
		{"public address", "https://93.184.215.14/x", "", ""},
		{"http", "http://hooks.example.com/x", "must be https", ""},
		{"http loopback", "http://127.0.0.1:9000/hook", "must be https", ""},
		{"https loopback", "https://127.0.0.1/hook", "loopback", ""},
		{"localhost", "https://localhost:8443/hook", "localhost", ""},
		{"sub.localhost", "https://api.localhost./hook", "localhost", ""},
		{"IPv6 loopback", "https://[::1]/hook", "loopback", ""},
		{"IPv4-mapped loopback", "https://[::ffff:127.0.0.1]/hook", "loopback", ""},
		{"private", "https://10.0.0.5/hook", "private", "private"},
		{"metadata", "http://169.254.169.254/latest/meta-data/", "must be https", "link-local"},
		{"metadata over https", "https://169.254.169.254/latest/meta-data/", "link-local", "link-local"},
		{"ULA", "https://[fc00::1]/hook", "private", "private"},
		{"link-local with zone", "https://[fe80::1%25eth0]/hook", "link-local", "link-local"},
		{"CGNAT", "https://100.64.1.1/hook", "carrier-grade NAT", "carrier-grade NAT"},
		{"unspecified", "https://0.0.0.0/hook", "unspecified", "unspecified"},
		{"multicast", "https://224.0.0.251/hook", "multicast", "multicast"},
		{"credentials", "https://user:pass@hooks.example.com/x", "credentials", "credentials"},
		{"user only", "https://token@hooks.example.com/x", "credentials", "credentials"},
		{"fragment", "https://hooks.example.com/x#frag", "fragment", "fragment"},
		{"empty fragment", "https://hooks.example.com/x#", "fragment", "fragment"},
		{"ftp", "ftp://hooks.example.com/x", "must be https", "must be https"},
		{"relative", "/hooks", "absolute", "absolute"},
		{"no host", "https:///hooks", "no host", "no host"},
		{"opaque", "https:hooks.example.com", "absolute", "absolute"},
		{"bad port", "https://hooks.example.com:0/x", "port", "port"},
		{"empty", "", "required", "required"},
		{"too long", "https://hooks.example.com/" + strings.Repeat("a", MaxURLBytes), "longer", "longer"},
		// IPv4 addresses in the loose forms resolvers take: literals, not names.
		{"decimal loopback", "https://2130706433/hook", "loopback", "a.b.c.d"},
		{"hex loopback", "https://0x7f000001/hook", "loopback", "a.b.c.d"},
		{"short loopback", "https://127.1/hook", "loopback", "a.b.c.d"},
		{"octal loopback", "https://0177.0.0.1/hook", "loopback", "a.b.c.d"},
		{"loose loopback with a trailing dot", "https://2130706433./hook", "loopback", "a.b.c.d"},
		{"decimal metadata", "https://2852039166/latest/meta-data/", "link-local", "link-local"},
		{"hex-dotted metadata", "https://0xa9.0xfe.0xa9.0xfe/latest/meta-data/", "link-local", "link-local"},
		{"short private", "https://10.1/hook", "private", "private"},
		{"decimal public", "https://1572395042/x", "a.b.c.d", "a.b.c.d"},
		{"name with a number first", "https://1.example.com/x", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []struct {
				local bool
				want  string
			}{{false, tt.aws}, {true, tt.local}} {
				_, err := checkURL(tt.url, mode.local)
				switch {
				case mode.want == "" && err != nil:
					t.Errorf("local=%v: refused: %v", mode.local, err)
				case mode.want != "" && err == nil:
					t.Errorf("local=%v: allowed, want refused (%s)", mode.local, mode.want)
				case err != nil && !strings.Contains(err.Error(), mode.want):
					t.Errorf("local=%v: %v, want it to say %q", mode.local, err, mode.want)
				case err != nil && (sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != "url"):
					t.Errorf("local=%v: %v, want invalid_input naming url", mode.local, err)
				case err != nil && len(tt.url) > 8 && strings.Contains(err.Error(), tt.url[8:]):
					t.Errorf("local=%v: %v quotes the URL", mode.local, err)
				}
			}
		})
	}
}
