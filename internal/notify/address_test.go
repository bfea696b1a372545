package notify

import (
	"errors"
	"net/netip"
	"testing"
)

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr string
		// kind is why it is refused in AWS; "" when allowed.
		kind string
		// localOK: allowed with SANDSTEP_ENV=local.
		localOK bool
	}{
		{"93.184.215.14", "", true},
		{"2606:4700::6810:84e5", "", true},
		{"127.0.0.1", "loopback", true},
		{"127.255.0.9", "loopback", true},
		{"::1", "loopback", true},
		{"::ffff:127.0.0.1", "loopback", true},
		{"10.0.0.1", "private", false},
		{"172.16.5.4", "private", false},
		{"192.168.1.1", "private", false},
		{"::ffff:10.1.2.3", "private", false},
		{"fc00::1", "private", false},
		{"fd00:ec2::254", "private", false}, // EC2's IPv6 metadata
		{"169.254.169.254", "link-local", false},
		{"169.254.170.2", "link-local", false}, // ECS credentials
		{"fe80::1", "link-local", false},
		{"100.64.0.1", "carrier-grade NAT (shared)", false},
		{"100.127.255.254", "carrier-grade NAT (shared)", false},
		{"0.0.0.0", "unspecified", false},
		{"::", "unspecified", false},
		{"0.1.2.3", "\"this network\"", false},
		{"224.0.0.1", "multicast", false},
		{"239.255.255.250", "multicast", false},
		{"ff02::1", "multicast", false},
		{"255.255.255.255", "reserved", false},
		{"192.0.0.192", "IETF protocol", false},
		{"198.18.0.1", "benchmarking", false},
		{"64:ff9b::a9fe:a9fe", "NAT64", false}, // 169.254.169.254 through NAT64
		{"2002:7f00:1::", "6to4", false},       // 127.0.0.1 through 6to4
		{"::7f00:1", "IPv4-compatible", false},
		{"2001:db8::1", "documentation", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			ip := netip.MustParseAddr(tt.addr)
			err := checkAddr(ip, false)
			var refused *refusedError
			switch {
			case tt.kind == "" && err != nil:
				t.Errorf("refused in AWS: %v", err)
			case tt.kind != "" && !errors.As(err, &refused):
				t.Errorf("allowed in AWS (%v), want refused as %s", err, tt.kind)
			case tt.kind != "" && refused.kind != tt.kind:
				t.Errorf("refused as %q, want %q", refused.kind, tt.kind)
			}
			if err := checkAddr(ip, true); (err == nil) != tt.localOK {
				t.Errorf("local: %v, want allowed %v", err, tt.localOK)
			}
		})
	}
}
