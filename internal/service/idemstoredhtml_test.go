package service

import (
	"context"
	"strings"
	"testing"
)

// Options.MaxStoredResponse: "the largest response an Idempotency-Key
// keeps for replay" (350,000 bytes by default). The response is what the
// caller is sent (EncodeJSON: HTML characters as they are); measured
// instead with encoding/json's HTML escaping, each '<', '>' or '&' of a
// command's output counts six bytes, and a result of a sixth of the limit
// is refused its replay: the retry of a lost answer gets 409, and its
// output is lost.
func TestExecReplayOfHTMLOutputUnderTheLimit(t *testing.T) {
	tests := []struct {
		name, stdout string
	}{
		{"angle brackets", strings.Repeat("<", 100_000)},
		{"an HTML page", strings.Repeat("<p>a &amp; b</p>\n", 12_000)},
		{"shell operators", strings.Repeat("a && b > c\n", 20_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 3)
			sb, err := h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{})
			if err != nil {
				t.Fatal(err)
			}
			h.provider.execResult = ExecResult{Stdout: tt.stdout}
			call := Call{UserID: "alice", IdempotencyKey: "curl-1"}
			first, err := h.svc.Exec(context.Background(), call, sb.ID, ExecInput{Command: "curl -s https://example.com/"})
			if err != nil {
				t.Fatal(err)
			}
			sent, _ := EncodeJSON(first)
			if len(sent) >= 350_000 || first.Truncated {
				t.Fatalf("the answer is %d bytes (truncated %v): the test needs one under the limit", len(sent), first.Truncated)
			}
			again, err := h.svc.Exec(context.Background(), call, sb.ID, ExecInput{Command: "curl -s https://example.com/"})
			if err != nil || again.Stdout != first.Stdout {
				t.Fatalf("retry of a %d-byte answer = %v; want it replayed", len(sent), err)
			}
		})
	}
}
