package githubapp

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// A token GitHub has just minted may not be known everywhere yet: its
// first calls can meet 401 (the token not found yet) or, for a token
// scoped to some permissions, 403 "Resource not accessible by
// integration" (its permissions not replicated yet), and the same call a
// second or two later succeeds (octokit/auth-app.js#65, #589). The pull
// request is opened, and the ended comment written, with a token minted
// for them when the cached one is too old: a refusal of that kind must
// not end the task's pull request or lose the comment, since
// the step's error for it (unauthenticated) is one the state machine
// never asks again.
func TestFreshTokenRefusedWhileReplicating(t *testing.T) {
	lagged := map[string]func(w http.ResponseWriter){
		"not known yet (401)": func(w http.ResponseWriter) { ghError(w, http.StatusUnauthorized, "Bad credentials") },
		"its permissions not known yet (403)": func(w http.ResponseWriter) {
			ghError(w, http.StatusForbidden, "Resource not accessible by integration")
		},
	}
	calls := map[string]func(t *testing.T, f *fakeGitHub, c *Client){
		"the pull request": func(t *testing.T, f *fakeGitHub, c *Client) {
			_, url, err := c.OpenPullRequest(context.Background(), testInstallation, testRepo, "sandstep/tsk_1", "trunk", "sandstep: #3 fix", "body")
			if err != nil || url == "" {
				t.Fatalf("OpenPullRequest = %q, %v; want the pull request opened", url, err)
			}
			if n := len(f.repos[testRepo].pulls); n != 1 {
				t.Errorf("%d pull requests, want 1", n)
			}
		},
		"the issue's comment": func(t *testing.T, f *fakeGitHub, c *Client) {
			id, err := c.UpsertComment(context.Background(), testInstallation, testRepo, 3, 0, "**sandstep** task `tsk_1` succeeded.")
			if err != nil || id == 0 {
				t.Fatalf("UpsertComment = %d, %v; want the comment written", id, err)
			}
			if n := len(f.repos[testRepo].comments); n != 1 {
				t.Errorf("%d comments, want 1", n)
			}
		},
	}
	for lag, refuse := range lagged {
		for what, call := range calls {
			t.Run(what+", the token "+lag, func(t *testing.T) {
				f := newFake(t)
				// Each new token's first use is refused, as GitHub refuses
				// it until it has replicated.
				var mu sync.Mutex
				used := map[string]bool{}
				f.fault = func(w http.ResponseWriter, r *http.Request) bool {
					value, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
					if !ok || !strings.HasPrefix(r.URL.Path, "/repos/") {
						return false // the App's own calls (its JWT) and the revoke
					}
					mu.Lock()
					first := !used[value]
					used[value] = true
					mu.Unlock()
					if first {
						refuse(w)
					}
					return first
				}
				call(t, f, f.client(t))
			})
		}
	}
}
