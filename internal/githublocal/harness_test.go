package githublocal

import (
	"context"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/appjwt"

	"github.com/google/go-github/v88/github"
)

// The world of the tests: App 42 (slug sandstep-test) installed as 7 on
// the organisation acme, which owns a private widgets and gadgets and a
// public open; another organisation, umbrella, owns a private repository
// the App is not installed on.
const (
	testAppID   = 42
	testInstall = 7
	testOrg     = "acme"
	testBot     = "sandstep-test[bot]"
)

// The App's key is made once: RSA generation is slow.
var (
	keyOnce           sync.Once
	testKey, otherKey []byte
	keyErr            error
)

// appKeys returns the App's private key; otherKey is another App's.
func appKeys(t *testing.T) []byte {
	t.Helper()
	keyOnce.Do(func() {
		var err1, err2 error
		testKey, _, err1 = GenerateAppKey()
		otherKey, _, err2 = GenerateAppKey()
		keyErr = errors.Join(err1, err2)
	})
	if keyErr != nil {
		t.Fatal(keyErr)
	}
	return testKey
}

// clock is a movable clock near the real time: GitHub clients (sandstep's
// App client among them) sign their JWTs with time.Now.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

type fixture struct {
	t     *testing.T
	dir   string
	srv   *Server
	http  *httptest.Server
	clock *clock
	key   []byte
}

// newFixture starts a stand-in with the test world on an httptest server.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), clock: &clock{}, key: appKeys(t)}
	f.open()
	must(t, f.srv.AddApp(App{ID: testAppID, Slug: "sandstep-test", ClientID: "Iv1.testclient", PublicKey: publicKey(t, f.key)}))
	for _, r := range []Repository{
		{Owner: testOrg, Name: "widgets", Private: true},
		{Owner: testOrg, Name: "gadgets", Private: true},
		{Owner: testOrg, Name: "open"},
		{Owner: "umbrella", Name: "secret", Private: true},
	} {
		if _, err := f.srv.CreateRepository(r); err != nil {
			t.Fatal(err)
		}
	}
	must(t, f.srv.AddInstallation(Installation{ID: testInstall, AppID: testAppID, Account: testOrg}))
	return f
}

// open (re)opens the server on the fixture's directory and serves it.
func (f *fixture) open() {
	f.t.Helper()
	srv, err := New(Options{Dir: f.dir, Now: f.clock.now})
	if err != nil {
		f.t.Fatal(err)
	}
	f.srv = srv
	f.http = httptest.NewServer(srv)
	f.t.Cleanup(func() { f.http.Close(); _ = srv.Close() })
}

// restart stops the server and opens a new one on the same directory.
func (f *fixture) restart() {
	f.t.Helper()
	f.http.Close()
	must(f.t, f.srv.Close())
	f.open()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func publicKey(t *testing.T, pemKey []byte) *rsa.PublicKey {
	t.Helper()
	k, err := appjwt.ParseKey(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}

// token issues a token of the test installation.
func (f *fixture) token(opts TokenOptions) string {
	f.t.Helper()
	tok, _, err := f.srv.CreateToken(testInstall, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// client is go-github against the stand-in, with token (none if "").
func (f *fixture) client(token string) *github.Client {
	f.t.Helper()
	base := f.http.URL + "/"
	opts := []github.ClientOptionsFunc{github.WithURLs(&base, &base)}
	if token != "" {
		opts = append(opts, github.WithAuthToken(token))
	}
	c, err := github.NewClient(opts...)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// status is the HTTP status of a go-github call's answer.
func status(res *github.Response, err error) int {
	var ge *github.ErrorResponse
	switch {
	case errors.As(err, &ge):
		return ge.Response.StatusCode
	case res != nil:
		return res.StatusCode
	}
	return 0
}

// git runs the real git in dir with an environment of its own, and
// returns its combined output.
func runGit(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	home := t.TempDir()
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C",
		"GIT_AUTHOR_NAME=agent", "GIT_AUTHOR_EMAIL=agent@example.com",
		"GIT_COMMITTER_NAME=agent", "GIT_COMMITTER_EMAIL=agent@example.com",
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// remote is the clone URL of repo with the token as GitHub takes it.
func (f *fixture) remote(repo, token string) string {
	u := strings.TrimPrefix(f.http.URL, "http://")
	if token == "" {
		return "http://" + u + "/" + repo + ".git"
	}
	return "http://x-access-token:" + token + "@" + u + "/" + repo + ".git"
}

// clone clones repo with token into a new directory.
func (f *fixture) clone(repo, token string) (string, string, error) {
	f.t.Helper()
	dir := filepath.Join(f.t.TempDir(), "clone")
	out, err := runGit(f.t, f.t.TempDir(), "clone", "--quiet", f.remote(repo, token), dir)
	return dir, out, err
}

// commit adds a commit of one file to the clone in dir on branch.
func commit(t *testing.T, dir, branch, file, content string) {
	t.Helper()
	if out, err := runGit(t, dir, "checkout", "--quiet", "-B", branch); err != nil {
		t.Fatalf("checkout: %v\n%s", err, out)
	}
	must(t, os.WriteFile(filepath.Join(dir, file), []byte(content), 0o600))
	if out, err := runGit(t, dir, "add", file); err != nil {
		t.Fatalf("add: %v\n%s", err, out)
	}
	if out, err := runGit(t, dir, "commit", "--quiet", "-m", "change "+file); err != nil {
		t.Fatalf("commit: %v\n%s", err, out)
	}
}

// pushBranch makes branch in repo with one new commit, pushed with a
// write token.
func (f *fixture) pushBranch(repo, branch string) {
	f.t.Helper()
	tok := f.token(TokenOptions{})
	dir, out, err := f.clone(repo, tok)
	if err != nil {
		f.t.Fatalf("clone: %v\n%s", err, out)
	}
	commit(f.t, dir, branch, strings.ReplaceAll(branch, "/", "-")+".txt", "work on "+branch+"\n")
	if out, err := runGit(f.t, dir, "push", "--quiet", "origin", branch); err != nil {
		f.t.Fatalf("push %s: %v\n%s", branch, err, out)
	}
}

func ctx() context.Context { return context.Background() }

// do sends a raw request to the stand-in.
func (f *fixture) do(method, path, auth string, body string) *http.Response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.http.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { res.Body.Close() })
	return res
}
