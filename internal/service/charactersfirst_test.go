package service

import (
	"context"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// TestLengthRefusalDoesNotHideTheCharacters: the length is told first so
// that a name whose characters are all allowed is not told they are not;
// a name past its length whose characters are not allowed either is told
// only its length, and once shortened (by the count the message gives) is
// refused again, for its characters. A name of 65 "é" is 130 bytes: told
// "is 130 bytes long, at most 128", its caller counts 65 characters, and
// no length makes it valid.
func TestLengthRefusalDoesNotHideTheCharacters(t *testing.T) {
	tests := []struct {
		name string
		in   CreateSandboxInput
		want string // the refusal of its characters
	}{
		{"env name of accented letters", CreateSandboxInput{Env: map[string]string{strings.Repeat("é", 65): "x"}}, "not a valid environment variable name"},
		{"env name with dashes", CreateSandboxInput{Env: map[string]string{strings.Repeat("MY-", 50): "x"}}, "not a valid environment variable name"},
		{"secretEnv name with dashes", CreateSandboxInput{SecretEnv: map[string]string{strings.Repeat("MY-", 50): "ssm:/sandstep/secrets/users/alice/x"}}, "not a valid environment variable name"},
		{"label key with spaces", CreateSandboxInput{Labels: map[string]string{strings.Repeat("a b ", 40): "x"}}, "not a valid label key"},
		{"image with a space", CreateSandboxInput{Image: "node:20 " + strings.Repeat("a", 250)}, "not a valid image reference"},
		{"git branch with a space", CreateSandboxInput{Git: &GitSource{URL: "https://h/r", Branch: "my branch " + strings.Repeat("a", 250)}}, "not a valid branch name"},
	}
	h := newHarness(t, 3)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.svc.CreateSandbox(context.Background(), alice(), tt.in)
			wantCode(t, err, sandstep.EINVALID)
			if msg := sandstep.ErrorMessage(err); !strings.Contains(msg, tt.want) {
				t.Errorf("message %q, want it to say %q: no length makes it valid", msg, tt.want)
			}
		})
	}
}
