package service

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// GitHub's HTTP answers to a push, as a real git prints them against a
// loopback server answering as GitHub does: git has words of its own for
// some codes ("repository '<url>' not found" for a 404), curl's ("returned
// error: N") for the rest. A refusal fails the task; the rest are asked
// again.
func TestPushRefusedKnowsGitsOwnWordsForHTTPRefusals(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	tests := []struct {
		name   string
		status int
		body   string
		want   bool
	}{
		{"a 403 (control)", http.StatusForbidden, "Permission to octo/hello.git denied to sandstep[bot].", true},
		{"a 422 (control)", http.StatusUnprocessableEntity, "Unprocessable.", true},
		{"a 503 (control)", http.StatusServiceUnavailable, "Unavailable.", false},
		{"a 404 repository not found", http.StatusNotFound, "Repository not found.", true},
		// Asked again: the step mints another token (a new one may not be
		// known everywhere at once).
		{"a 401 token refused", http.StatusUnauthorized, "Invalid username or token. Password authentication is not supported for Git operations.", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				if tt.status == http.StatusUnauthorized {
					w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body + "\n"))
			}))
			defer srv.Close()
			repo := t.TempDir()
			git(t, repo, "init", "-q")
			git(t, repo, "commit", "-q", "--allow-empty", "-m", "fix")
			url := strings.Replace(srv.URL, "http://", "http://x-access-token:ghs_notareal0token@", 1) + "/octo/hello.git"
			cmd := exec.Command("git", "-C", repo, "push", url, "HEAD:refs/heads/sandstep/tsk_x")
			cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err == nil {
				t.Fatal("the push succeeded")
			}
			if got := pushRefused(stderr.String()); got != tt.want {
				t.Errorf("HTTP %d: pushRefused(%q) = %v, want %v", tt.status, strings.TrimSpace(stderr.String()), got, tt.want)
			}
		})
	}
}
