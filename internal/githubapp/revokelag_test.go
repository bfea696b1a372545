package githubapp

import (
	"context"
	"net/http"
	"sync"
	"testing"
)

// Revoke counts a 401 as a token already gone. A token minted a moment
// before is refused so while GitHub replicates it (the lag do sends
// calls again for), and the push's token is revoked seconds after its
// mint: after a push that met the lag itself (a 401, which the step asks
// again), or one of a few commits. Counted as revoked, the token of
// contents: write, which the sandbox's git held, lives its hour once
// GitHub knows it, where it should have lived the push's seconds.
func TestRevokeOfATokenGitHubDoesNotKnowYet(t *testing.T) {
	tests := []struct {
		name  string
		perms Permissions
	}{
		{"the push's token", PushAndPullRequest},
		{"the agent's token whose upload failed", ReadContents},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			c := f.client(t)
			tok, err := c.OwnToken(context.Background(), testInstallation, testRepo, tt.perms)
			if err != nil {
				t.Fatal(err)
			}
			// GitHub does not know the token on its first use yet.
			var mu sync.Mutex
			refused := false
			f.fault = func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodDelete || r.URL.Path != "/installation/token" {
					return false
				}
				mu.Lock()
				defer mu.Unlock()
				if refused {
					return false
				}
				refused = true
				ghError(w, http.StatusUnauthorized, "Bad credentials")
				return true
			}
			if err := c.Revoke(context.Background(), tok.Value); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			f.mu.Lock()
			_, live := f.tokens[tok.Value]
			f.mu.Unlock()
			if live {
				t.Errorf("Revoke answered nil, and GitHub still holds the token (it expires %s)", tok.ExpiresAt)
			}
		})
	}
}
