package notify

import (
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// README ("Completion notices"): a loopback, private or link-local
// address "is refused at once (400 naming notify.url)" when the URL gives
// it literally. An IPv4 address written in the other forms resolvers and
// browsers take (a single number, hex, octal, fewer than four parts) is
// such a literal: checkURL takes it for a name, so the task is accepted,
// and with Go's own resolver (a Lambda build) every attempt then fails
// with "its name does not resolve" for NOTIFY_RETRY_FOR.
func TestHuntNumericHostRefusedAtOnce(t *testing.T) {
	tests := []struct {
		name string
		url  string
	}{
		{"decimal loopback", "https://2130706433/hook"},
		{"hex loopback", "https://0x7f000001/hook"},
		{"short loopback", "https://127.1/hook"},
		{"octal loopback", "https://0177.0.0.1/hook"},
		{"decimal metadata", "https://2852039166/latest/meta-data/"},
		{"hex-dotted metadata", "https://0xa9.0xfe.0xa9.0xfe/latest/meta-data/"},
		{"short private", "https://10.1/hook"},
		{"trailing dot", "https://2130706433./hook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := checkURL(tt.url, false)
			if err == nil {
				t.Fatalf("%s allowed; want refused at once, naming url", tt.url)
			}
			if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != "url" {
				t.Errorf("%v, want invalid_input naming url", err)
			}
			if strings.Contains(err.Error(), tt.url[8:]) {
				t.Errorf("%v quotes the URL", err)
			}
		})
	}
}
