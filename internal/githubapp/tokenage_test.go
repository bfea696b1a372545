package githubapp

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// GitHub's replication lag runs from the token's creation, which is
// somewhere between the mint's request and its answer: a mint GitHub
// answers slowly (GitHub under load, when its replication lags too; or a
// JWT refused and signed again with a key read again) hands over a token
// as new as ever. Counted from the request, the window for its first
// refusals is spent before the token is first used, and the pull request
// after hours of work fails for good as before.
func TestFreshTokenAgeCountsFromGitHubsAnswer(t *testing.T) {
	for what, call := range newTokenCalls() {
		t.Run(what+", the mint answered after 5 s", func(t *testing.T) {
			clk := &clock{t: time.Now().Truncate(time.Second)}
			f := newFake(t)
			f.now = clk.Now
			var mu sync.Mutex
			used := map[string]bool{}
			f.fault = func(w http.ResponseWriter, r *http.Request) bool {
				if strings.HasSuffix(r.URL.Path, "/access_tokens") {
					clk.Add(5 * time.Second) // GitHub answers the mint slowly
					return false
				}
				value, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
				if !ok || !strings.HasPrefix(r.URL.Path, "/repos/") {
					return false
				}
				mu.Lock()
				first := !used[value]
				used[value] = true
				mu.Unlock()
				if first {
					ghError(w, http.StatusUnauthorized, "Bad credentials")
				}
				return first
			}
			if err := call(context.Background(), f.client(t)); err != nil {
				t.Fatalf("%v (%s); want the call on the token GitHub had just handed over sent again", err, sandstep.ErrorCode(err))
			}
		})
	}
}

// newTokenCalls are the calls an issue's task makes on a token minted
// for them, by name: those a new token's replication lag may refuse.
func newTokenCalls() map[string]func(ctx context.Context, c *Client) error {
	return map[string]func(ctx context.Context, c *Client) error{
		"the pull request": func(ctx context.Context, c *Client) error {
			_, _, err := c.OpenPullRequest(ctx, testInstallation, testRepo, "sandstep/tsk_1", "trunk", "sandstep: #3 fix", "body")
			return err
		},
		"the issue's comment": func(ctx context.Context, c *Client) error {
			_, err := c.UpsertComment(ctx, testInstallation, testRepo, 3, 0, "**sandstep** task `tsk_1` succeeded.")
			return err
		},
	}
}
