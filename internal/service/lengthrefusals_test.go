package service

import (
	"context"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// TestLengthRefusalsSayWhy: a name or path refused only for its
// length is told so, with the limit, not that its characters are wrong.
// An env name of 129 letters was told "letters, digits and _, not
// starting with a digit", which it is: the caller cannot find the fault.
func TestLengthRefusalsSayWhy(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name  string
		in    CreateSandboxInput
		field string // a prefix: a long key is clipped in the field
		want  string // the limit, in the message
	}{
		{"env name", CreateSandboxInput{Env: map[string]string{long(129): "x"}}, "env.aaaa", "128"},
		{"secretEnv name", CreateSandboxInput{SecretEnv: map[string]string{long(129): "ssm:/sandstep/secrets/users/alice/x"}}, "secretEnv.aaaa", "128"},
		{"label key", CreateSandboxInput{Labels: map[string]string{long(129): "x"}}, "labels.aaaa", "128"},
		{"image", CreateSandboxInput{Image: long(257)}, "image", "256"},
		{"snapshot", CreateSandboxInput{Snapshot: long(257)}, "snapshot", "256"},
		{"git branch", CreateSandboxInput{Git: &GitSource{URL: "https://h/r", Branch: long(256)}}, "git.branch", "255"},
		{"file path", CreateSandboxInput{Files: []File{{Path: strings.Repeat("a/", 512) + "b"}}}, "files[0].path", "1024"},
	}
	h := newHarness(t, 3)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.svc.CreateSandbox(context.Background(), alice(), tt.in)
			wantCode(t, err, sandstep.EINVALID)
			if f := sandstep.ErrorField(err); !strings.HasPrefix(f, tt.field) {
				t.Errorf("field = %q, want %q", f, tt.field)
			}
			if msg := sandstep.ErrorMessage(err); !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not say the limit, %s", msg, tt.want)
			}
		})
	}
	if h.provider.creates != 0 {
		t.Fatalf("bad input reached the provider")
	}
}
