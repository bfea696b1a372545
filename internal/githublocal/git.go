package githublocal

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The repositories are bare repositories under <dir>/repos, served over
// git's smart HTTP by `git http-backend` as a CGI program, behind the
// same token checks as the REST API.

// repoDir is where repo's git data lives: lower case, as names are not
// case sensitive.
func (s *Server) repoDir(r *repoRecord) string {
	return filepath.Join(s.reposDir, strings.ToLower(r.Owner), strings.ToLower(r.Name)+".git")
}

// gitEnv keeps git away from the user's and the system's configuration.
func (s *Server) gitEnv(extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + s.dir,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
	}
	return append(env, extra...)
}

// runGit runs git in a bare repository and returns its standard output,
// trimmed.
func (s *Server) runGit(ctx context.Context, dir string, stdin []byte, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.git, append([]string{"--git-dir", dir}, args...)...)
	cmd.Env = s.gitEnv(env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(errOut.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// gitTimeout bounds each git command the server runs itself.
const gitTimeout = 30 * time.Second

func gitContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), gitTimeout)
}

// initRepo makes a bare repository whose branch holds one commit of files
// (path -> content), dated now.
func (s *Server) initRepo(dir, branch string, files map[string]string, now time.Time) error {
	ctx, cancel := gitContext()
	defer cancel()
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	init := exec.CommandContext(ctx, s.git, "init", "--quiet", "--bare", "--initial-branch="+branch, dir)
	init.Env = s.gitEnv()
	if out, err := init.CombinedOutput(); err != nil {
		return fmt.Errorf("git init: %w: %s", err, out)
	}
	index := filepath.Join(dir, "githublocal-index")
	defer os.Remove(index)
	env := []string{"GIT_INDEX_FILE=" + index}
	for _, path := range slices.Sorted(maps.Keys(files)) {
		sha, err := s.runGit(ctx, dir, []byte(files[path]), nil, "hash-object", "-w", "--stdin")
		if err != nil {
			return err
		}
		if _, err := s.runGit(ctx, dir, nil, env, "update-index", "--add", "--cacheinfo", "100644,"+sha+","+path); err != nil {
			return err
		}
	}
	tree, err := s.runGit(ctx, dir, nil, env, "write-tree")
	if err != nil {
		return err
	}
	date := now.UTC().Format(time.RFC3339)
	who := []string{"GIT_AUTHOR_NAME=githublocal", "GIT_AUTHOR_EMAIL=githublocal@localhost", "GIT_AUTHOR_DATE=" + date,
		"GIT_COMMITTER_NAME=githublocal", "GIT_COMMITTER_EMAIL=githublocal@localhost", "GIT_COMMITTER_DATE=" + date}
	commit, err := s.runGit(ctx, dir, []byte("Initial commit\n"), who, "commit-tree", tree)
	if err != nil {
		return err
	}
	if _, err := s.runGit(ctx, dir, nil, nil, "update-ref", "refs/heads/"+branch, commit); err != nil {
		return err
	}
	return writeHooks(dir)
}

// preReceive refuses updates of the branches the server protects, which
// it names in GITHUBLOCAL_PROTECTED: a push to them fails as a push to a
// branch GitHub protects does (GH006).
const preReceive = `#!/bin/sh
# Written by githublocal at every start: refuses updates of protected branches.
status=0
while read -r old new ref; do
	for p in $GITHUBLOCAL_PROTECTED; do
		if [ "$ref" = "$p" ]; then
			echo "error: GH006: Protected branch update failed for $ref." >&2
			echo "error: Changes must be made through a pull request." >&2
			status=1
		fi
	done
done
exit $status
`

func writeHooks(dir string) error {
	hooks := filepath.Join(dir, "hooks")
	if err := os.MkdirAll(hooks, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(hooks, "pre-receive"), []byte(preReceive), 0o700)
}

// branchSHA is the commit a branch points at, or "" when there is no such
// branch.
func (s *Server) branchSHA(dir, branch string) string {
	ctx, cancel := gitContext()
	defer cancel()
	sha, err := s.runGit(ctx, dir, nil, nil, "rev-parse", "--verify", "--quiet", "--end-of-options", "refs/heads/"+branch+"^{commit}")
	if err != nil {
		return ""
	}
	return sha
}

// Branch is a branch of a repository and the commit it points at.
type Branch struct {
	Name, SHA string
}

func (s *Server) branches(dir string) ([]Branch, error) {
	ctx, cancel := gitContext()
	defer cancel()
	out, err := s.runGit(ctx, dir, nil, nil, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/")
	if err != nil {
		return nil, err
	}
	var bs []Branch
	for line := range strings.Lines(out) {
		sha, ref, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok {
			bs = append(bs, Branch{Name: strings.TrimPrefix(ref, "refs/heads/"), SHA: sha})
		}
	}
	return bs, nil
}

// commitsBetween counts the commits of head that base lacks.
func (s *Server) commitsBetween(dir, base, head string) (int, error) {
	ctx, cancel := gitContext()
	defer cancel()
	out, err := s.runGit(ctx, dir, nil, nil, "rev-list", "--count", base+".."+head)
	if err != nil {
		return 0, err
	}
	var n int
	_, err = fmt.Sscan(out, &n)
	return n, err
}

// commitInfo fills a branch answer's commit from git.
func (s *Server) commitInfo(dir, sha, api string, b *branchJSON) error {
	ctx, cancel := gitContext()
	defer cancel()
	out, err := s.runGit(ctx, dir, nil, nil, "log", "-1", "--format=%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B", sha)
	if err != nil {
		return err
	}
	f := strings.SplitN(out, "\x00", 9)
	if len(f) != 9 {
		return fmt.Errorf("git log: unexpected output for %s", sha)
	}
	c := &b.Commit
	c.SHA, c.URL = sha, api+"/commits/"+sha
	c.Commit.Tree = shaURLJSON{SHA: f[0], URL: api + "/git/trees/" + f[0]}
	c.Commit.Author = commitAuthorJSON{Name: f[2], Email: f[3], Date: utc(f[4])}
	c.Commit.Committer = commitAuthorJSON{Name: f[5], Email: f[6], Date: utc(f[7])}
	c.Commit.Message = strings.TrimRight(f[8], "\n")
	c.Parents = []shaURLJSON{}
	for p := range strings.FieldsSeq(f[1]) {
		c.Parents = append(c.Parents, shaURLJSON{SHA: p, URL: api + "/commits/" + p})
	}
	return nil
}

func utc(iso string) string {
	t, err := time.Parse(time.RFC3339, iso)
	if err != nil {
		return iso
	}
	return timestamp(t)
}

// splitGitPath splits /<owner>/<name>.git/<rest>.
func splitGitPath(p string) (owner, name, rest string, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 3)
	if len(parts) != 3 || parts[0] == "" || !strings.HasSuffix(parts[1], ".git") || len(parts[1]) == len(".git") {
		return "", "", "", false
	}
	return parts[0], strings.TrimSuffix(parts[1], ".git"), parts[2], true
}

// gitText answers a git client in plain text, which git shows its user
// as remote: lines.
func gitText(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// serveGit serves one request of git's smart HTTP: clone and fetch
// (git-upload-pack) need contents:read, push (git-receive-pack)
// contents:write; a public repository may be fetched by anyone.
func (s *Server) serveGit(w http.ResponseWriter, r *http.Request, owner, name, rest string) {
	var service string
	switch {
	case r.Method == http.MethodGet && rest == "info/refs":
		service = r.URL.Query().Get("service")
	case r.Method == http.MethodPost && (rest == "git-upload-pack" || rest == "git-receive-pack"):
		service = rest
	}
	if service != "git-upload-pack" && service != "git-receive-pack" {
		// GitHub speaks only the smart protocol.
		gitText(w, http.StatusNotFound, "Not Found")
		return
	}
	write := service == "git-receive-pack"

	s.mu.Lock()
	repo, ok := s.st.repo(owner, name)
	if !ok {
		s.mu.Unlock()
		gitText(w, http.StatusNotFound, "Repository not found.")
		return
	}
	var c *caller
	if tok, given := basicToken(r); given {
		var aerr *apiError
		if c, aerr = s.callerLocked(tok); aerr != nil {
			s.mu.Unlock()
			s.log.Info("githublocal: git request refused: bad credentials", "repo", repo.fullName(), "service", service)
			gitText(w, http.StatusUnauthorized, "Invalid username or token. Password authentication is not supported for Git operations.")
			return
		}
	}
	status, msg := gitDecision(c, repo, write)
	dir, full := s.repoDir(repo), repo.fullName()
	var protected []string
	for _, b := range repo.Protected {
		protected = append(protected, "refs/heads/"+b)
	}
	s.mu.Unlock()
	if status != 0 {
		s.log.Info("githublocal: git request refused", "repo", full, "service", service, "status", status)
		gitText(w, status, msg)
		return
	}

	// Go's CGI host refuses chunked bodies, which git sends past its
	// http.postBuffer (1 MiB): spool them to learn the length first.
	if r.ContentLength < 0 || len(r.TransferEncoding) > 0 {
		spooled, cleanup, err := s.spool(r)
		if err != nil {
			s.log.Error("githublocal: spool a git request", "repo", full, "error", err)
			gitText(w, http.StatusInternalServerError, "could not read the request")
			return
		}
		defer cleanup()
		r = spooled
	}

	user := "anonymous"
	if c != nil {
		user = c.login
	}
	r = r.Clone(r.Context())
	r.URL.Path = "/" + strings.ToLower(owner) + "/" + strings.ToLower(name) + ".git/" + rest
	h := &cgi.Handler{
		Path: s.git,
		Args: []string{"http-backend"},
		Dir:  dir,
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.reposDir,
			"GIT_HTTP_EXPORT_ALL=1",
			"REMOTE_USER=" + user,
			"HOME=" + s.dir,
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.receivepack", "GIT_CONFIG_VALUE_0=true",
			"GITHUBLOCAL_PROTECTED=" + strings.Join(protected, " "),
		},
		Stderr: logWriter{s.log, full},
	}
	h.ServeHTTP(w, r)
}

// gitDecision is the status (0: allowed) and message of a git request
// by c on repo.
func gitDecision(c *caller, repo *repoRecord, write bool) (int, string) {
	denied := "Permission to " + repo.fullName() + ".git denied to " + func() string {
		if c == nil {
			return "anonymous"
		}
		return c.login
	}() + "."
	if !c.covers(repo) {
		switch {
		case c == nil && (repo.Private || write):
			// Asks git for credentials.
			return http.StatusUnauthorized, "Authentication required."
		case repo.Private:
			return http.StatusNotFound, "Repository not found."
		case write:
			return http.StatusForbidden, denied
		}
		return 0, ""
	}
	level := "read"
	if write {
		level = "write"
	}
	if hasPermission(c.tok.Permissions, "contents", level) || (!write && !repo.Private) {
		return 0, ""
	}
	return http.StatusForbidden, denied
}

// spool copies a request's body to a temporary file, so it has a length.
func (s *Server) spool(r *http.Request) (*http.Request, func(), error) {
	f, err := os.CreateTemp(s.dir, ".spool-*")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	n, err := io.Copy(f, r.Body)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	r2 := r.Clone(r.Context())
	r2.Body, r2.ContentLength, r2.TransferEncoding = f, n, nil
	return r2, cleanup, nil
}

// logWriter logs what git http-backend writes to its standard error.
type logWriter struct {
	log  *slog.Logger
	repo string
}

func (l logWriter) Write(p []byte) (int, error) {
	if msg := strings.TrimSpace(string(p)); msg != "" {
		l.log.Info("githublocal: git http-backend", "repo", l.repo, "stderr", msg)
	}
	return len(p), nil
}
