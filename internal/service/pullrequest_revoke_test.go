package service

import (
	"strings"
	"testing"
	"time"
)

// README, "The pull request": the push token "is revoked right after" the
// push, and "sandstep then opens the pull request"; docs/architecture.md:
// "the token's revocation right after the push bounds it". The pull request
// is opened with the App's own token, so nothing needs the push token once
// the push is done: by the time the pull request is asked for (and while
// GitHub's rate limit on it is waited out, up to minutes), it must be
// revoked.
func TestIssueTaskPushTokenRevokedBeforeThePullRequest(t *testing.T) {
	tests := []struct {
		name     string
		refusals int // the pull request refused for GitHub's rate limit
	}{
		{name: "the pull request opened at once", refusals: 0},
		{name: "the pull request waits out GitHub's rate limit", refusals: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			left := tt.refusals
			// At each ask of the pull request: was the push token revoked?
			// (limit runs under the fake's lock, so revoked is read safely.)
			var liveAtPull []bool
			var pushTok string
			h.access.limit = func(op string) error {
				if op != "pull" {
					return nil
				}
				var push string
				for i, k := range h.access.minted {
					if k == "push" {
						push = "ghs_push_SECRET_" + string(rune('a'+i+1))
					}
				}
				pushTok = push
				live := push != ""
				for _, r := range h.access.revoked {
					if r == push {
						live = false
					}
				}
				liveAtPull = append(liveAtPull, live)
				if left > 0 {
					left--
					return gitHubLimit(100 * time.Millisecond)
				}
				return nil
			}
			git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
			got := h.exit(t, 0)
			if got.PullRequest == "" {
				t.Fatalf("task %s (%s): want its pull request", got.Status, got.Error)
			}
			if len(liveAtPull) != tt.refusals+1 {
				t.Fatalf("pull request asked %d times, want %d", len(liveAtPull), tt.refusals+1)
			}
			// The token the fake minted for the push is the one revoked in the end.
			if len(h.access.revoked) != 1 || h.access.revoked[0] != pushTok {
				t.Fatalf("revoked %q, want the push token", h.access.revoked)
			}
			var live []string
			for i, l := range liveAtPull {
				if l {
					live = append(live, "ask "+string(rune('1'+i)))
				}
			}
			if len(live) > 0 {
				t.Errorf("the push token (contents: write) was still live after the push, at the pull request's %s; README: revoked right after the push", strings.Join(live, ", "))
			}
		})
	}
}
