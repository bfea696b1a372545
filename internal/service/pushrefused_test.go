package service

import "testing"

// REVIEW: README: "a push that does not reach GitHub is asked again by the
// state machine (Sandbox.Transient)". A request timeout or a rate limit is
// GitHub not taking the push now, which asking again changes; the "40"
// sign takes them for a refusal, which fails the task for good.
func TestPushRefusedTellsRefusalsFromPassingFailures(t *testing.T) {
	tests := []struct {
		name   string
		stderr string
		want   bool
	}{
		{"a 403", "remote: Permission to octo/hello.git denied to sandstep[bot].\nfatal: unable to access 'https://github.com/octo/hello.git/': The requested URL returned error: 403", true},
		{"a rejected ref", " ! [rejected]        push -> sandstep/tsk_x (fetch first)\nerror: failed to push some refs", true},
		{"no route", "fatal: unable to access 'https://github.com/octo/hello.git/': Could not resolve host: github.com", false},
		{"a 408 request timeout", "error: RPC failed; HTTP 408 curl 22 The requested URL returned error: 408\nfatal: the remote end hung up unexpectedly", false},
		{"a 429 rate limit", "fatal: unable to access 'https://github.com/octo/hello.git/': The requested URL returned error: 429", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pushRefused(tt.stderr); got != tt.want {
				t.Errorf("pushRefused(%q) = %v, want %v", tt.stderr, got, tt.want)
			}
		})
	}
}
