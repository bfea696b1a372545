package service

import "testing"

// A refusal fails the task; a push GitHub did not take now (a timeout, a
// rate limit, its own failure) is asked again (Sandbox.Transient).
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
		{"a rule's rejection", " ! [remote rejected] HEAD -> sandstep/tsk_x (push declined due to repository rule violations)\nerror: failed to push some refs", true},
		{"a hook's rejection", " ! [remote rejected] HEAD -> sandstep/tsk_x (pre-receive hook declined)\nerror: failed to push some refs", true},
		{"GitHub's own failure", " ! [remote rejected] HEAD -> sandstep/tsk_x (Internal Server Error)\nerror: failed to push some refs", false},
		{"a ref GitHub could not lock", " ! [remote rejected] HEAD -> sandstep/tsk_x (cannot lock ref 'refs/heads/sandstep/tsk_x': is at 1234 but expected 0000)\nerror: failed to push some refs", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pushRefused(tt.stderr); got != tt.want {
				t.Errorf("pushRefused(%q) = %v, want %v", tt.stderr, got, tt.want)
			}
		})
	}
}
