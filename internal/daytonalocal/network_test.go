package daytonalocal

import (
	"net/http"
	"testing"
)

// TestNetworkFieldsRecorded: the server cannot enforce a network policy
// (its commands are host processes), but it keeps the fields a create
// gives and reports them as Daytona does, on a read, in a list and after a
// restart.
func TestNetworkFieldsRecorded(t *testing.T) {
	h := newHarness(t, Options{})
	tests := []struct {
		name    string
		body    map[string]any
		block   bool
		cidrs   string
		domains string
	}{
		{"blocked", map[string]any{"networkBlockAll": true}, true, "", ""},
		{"lists", map[string]any{"networkAllowList": "10.0.0.0/8,203.0.113.7/32", "domainAllowList": "github.com,*.pypi.org"},
			false, "10.0.0.0/8,203.0.113.7/32", "github.com,*.pypi.org"},
		{"open", map[string]any{}, false, "", ""},
	}
	check := func(t *testing.T, what string, sb testSandbox, block bool, cidrs, domains string) {
		t.Helper()
		if sb.NetworkBlockAll != block || sb.NetworkAllow != cidrs || sb.DomainAllow != domains {
			t.Errorf("%s: networkBlockAll %v, networkAllowList %q, domainAllowList %q; want %v, %q, %q",
				what, sb.NetworkBlockAll, sb.NetworkAllow, sb.DomainAllow, block, cidrs, domains)
		}
	}
	for _, tt := range tests {
		tt.body["name"] = "net-" + tt.name
		check(t, tt.name+" create", h.create(tt.body), tt.block, tt.cidrs, tt.domains)
	}
	listed := func(h *harness) map[string]testSandbox {
		var page struct{ Items []testSandbox }
		if r := h.api("GET", "/sandbox", nil); r.status != http.StatusOK {
			t.Fatalf("list: %d %s", r.status, r.body)
		} else {
			r.decode(t, &page)
		}
		out := map[string]testSandbox{}
		for _, sb := range page.Items {
			out[sb.Name] = sb
		}
		return out
	}
	for _, run := range []string{"before a restart", "after a restart"} {
		if run == "after a restart" {
			h = h.restart()
		}
		items := listed(h)
		for _, tt := range tests {
			got, status := h.get("net-" + tt.name)
			if status != http.StatusOK {
				t.Fatalf("get %s %s: %d", tt.name, run, status)
			}
			check(t, tt.name+" read "+run, got, tt.block, tt.cidrs, tt.domains)
			check(t, tt.name+" listed "+run, items["net-"+tt.name], tt.block, tt.cidrs, tt.domains)
		}
	}
}
