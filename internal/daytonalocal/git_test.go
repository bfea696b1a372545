package daytonalocal

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// makeRepo creates a local repository with a commit on main and one on
// branch "feature", and returns its path and the first commit.
func makeRepo(t *testing.T) (string, string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	repo := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "--quiet", "--initial-branch=main")
	if err := os.WriteFile(filepath.Join(repo, "README"), []byte("v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run("add", "README")
	run("commit", "--quiet", "-m", "one")
	first := run("rev-parse", "HEAD")
	os.WriteFile(filepath.Join(repo, "README"), []byte("v2\n"), 0o644)
	run("commit", "--quiet", "-am", "two")
	run("checkout", "--quiet", "-b", "feature")
	os.WriteFile(filepath.Join(repo, "FEATURE"), []byte("f\n"), 0o644)
	run("add", "FEATURE")
	run("commit", "--quiet", "-m", "feature")
	run("checkout", "--quiet", "main")
	return repo, first
}

func TestGitClone(t *testing.T) {
	repo, first := makeRepo(t)
	h := newHarness(t, Options{})
	sb := h.create(nil)
	tests := []struct {
		name string
		body map[string]any
		file string
		want string
	}{
		{"local path", map[string]any{"url": repo, "path": "plain"}, "plain/README", "v2\n"},
		{"file URL with depth", map[string]any{"url": "file://" + repo, "path": "shallow", "depth": 1}, "shallow/README", "v2\n"},
		{"branch", map[string]any{"url": repo, "path": "feat", "branch": "feature"}, "feat/FEATURE", "f\n"},
		{"commit", map[string]any{"url": repo, "path": "old", "commit_id": first}, "old/README", "v1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.tb(sb.ID, "POST", "/git/clone", tt.body)
			if r.status != 200 {
				t.Fatalf("clone: %d %s", r.status, r.body)
			}
			if got := h.download(sb.ID, tt.file); string(got.body) != tt.want {
				t.Errorf("%s = %d %q, want %q", tt.file, got.status, got.body, tt.want)
			}
		})
	}
	if code, out := h.execute(sb.ID, "git -C shallow rev-list --count HEAD"); code != 0 || strings.TrimSpace(out) != "1" {
		t.Errorf("shallow clone has %q commits", out)
	}

	fails := []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"missing repository", map[string]any{"url": filepath.Join(t.TempDir(), "nope"), "path": "x"}, 404, "GIT_REPO_NOT_FOUND"},
		{"missing branch", map[string]any{"url": repo, "path": "y", "branch": "nope"}, 404, "GIT_BRANCH_NOT_FOUND"},
		{"destination exists", map[string]any{"url": repo, "path": "plain"}, 400, "BAD_REQUEST"},
		{"path escapes", map[string]any{"url": repo, "path": "../out"}, 400, "BAD_REQUEST"},
		{"no url", map[string]any{"path": "z"}, 400, "BAD_REQUEST"},
	}
	for _, tt := range fails {
		t.Run(tt.name, func(t *testing.T) {
			checkToolboxError(t, h.tb(sb.ID, "POST", "/git/clone", tt.body), tt.status, tt.code)
		})
	}
}

func TestGitErrorsHideCredentials(t *testing.T) {
	repo, _ := makeRepo(t)
	h := newHarness(t, Options{})
	sb := h.create(nil)
	r := h.tb(sb.ID, "POST", "/git/clone", map[string]any{
		"url": "file://user:hunter2@" + repo + "-missing", "path": "c", "username": "u", "password": "pw-canary"})
	if r.status == 200 {
		t.Fatalf("clone of a missing repo succeeded")
	}
	for _, secret := range []string{"hunter2", "pw-canary"} {
		if strings.Contains(string(r.body), secret) {
			t.Errorf("error leaks %q: %s", secret, r.body)
		}
	}
}
