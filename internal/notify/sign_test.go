package notify

import (
	"strings"
	"testing"
)

// GitHub's documented example for X-Hub-Signature-256: the scheme is the
// same, so a receiver's GitHub verifier accepts sandstep's notices.
const (
	githubSecret    = "It's a Secret to Everybody"
	githubBody      = "Hello, World!"
	githubSignature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

func TestSignMatchesGitHubsScheme(t *testing.T) {
	if got := Sign([]byte(githubSecret), []byte(githubBody)); got != githubSignature {
		t.Errorf("Sign = %s, want %s", got, githubSignature)
	}
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name              string
		secret, body, sig string
		want              bool
	}{
		{"GitHub's example", githubSecret, githubBody, githubSignature, true},
		{"upper-case hex", githubSecret, githubBody, "sha256=" + strings.ToUpper(strings.TrimPrefix(githubSignature, "sha256=")), true},
		{"another secret", "It's a Secret to Nobody", githubBody, githubSignature, false},
		{"another body", githubSecret, "Hello, World?", githubSignature, false},
		{"no prefix", githubSecret, githubBody, strings.TrimPrefix(githubSignature, "sha256="), false},
		{"sha1 prefix", githubSecret, githubBody, "sha1=" + strings.TrimPrefix(githubSignature, "sha256="), false},
		{"truncated", githubSecret, githubBody, githubSignature[:len(githubSignature)-2], false},
		{"not hex", githubSecret, githubBody, "sha256=zz" + githubSignature[9:], false},
		{"empty", githubSecret, githubBody, "", false},
		{"prefix alone", githubSecret, githubBody, "sha256=", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Verify([]byte(tt.secret), []byte(tt.body), tt.sig); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}
