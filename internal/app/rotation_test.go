package app

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/githubapp"
	"github.com/sandstep/sandstep/internal/githublocal"
)

// A webhook secret the operator rotates (SSM first, then the App's
// settings; GitHub signs with the new secret at once, and never sends a
// failed delivery again by itself) is taken up by a warm instance of the
// GitHub function, not only at its next cold start: until then every
// delivery would be answered 401 and lost. A forged delivery costs no
// more than one read of SSM a minute.
func TestWebhookSecretRotatedOnAWarmInstance(t *testing.T) {
	const name = "/sandstep/github/webhook-secret"
	ssm := fakeSSM(t, map[string]string{name: "old-webhook-secret"})
	env := gitHubEnv(ssm.URL, "")
	e, err := NewEnv(Options{Getenv: func(k string) string { return env[k] }, LogWriter: &syncBuffer{}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var at atomic.Int64
	e.now = func() time.Time { return start.Add(time.Duration(at.Load())) }
	// A ping needs no service: the signature is all that is checked.
	a := api.New(nil, api.Options{MaxBodyBytes: 1 << 20, Logger: e.Logger, GitHub: e.GitHubOptions()})
	ping := func(secret string) int {
		return a.ServeEvent(context.Background(), signedDelivery(secret, `{"zen":"Keep it logically awesome.","hook_id":1}`)).StatusCode
	}
	steps := []struct {
		name    string
		at      time.Duration
		rotate  bool
		signer  string
		status  int
		maxRead int32 // reads of SSM this step may make
	}{
		{"before the rotation, the old secret", 0, false, "old-webhook-secret", 200, 1},
		{"an hour on, the secret rotated: GitHub signs with the new one", time.Hour, true, "new-webhook-secret", 200, 1},
		{"the new one again", time.Hour + time.Second, false, "new-webhook-secret", 200, 0},
		{"a forged delivery", time.Hour + 2*time.Second, false, "forged", 401, 1},
		{"another forged one a moment later reads nothing", time.Hour + 3*time.Second, false, "forged", 401, 0},
	}
	for _, s := range steps {
		at.Store(int64(s.at))
		if s.rotate {
			ssm.put(name, "new-webhook-secret")
		}
		n := ssm.reads.Load()
		if got := ping(s.signer); got != s.status {
			t.Errorf("%s: answered %d, want %d", s.name, got, s.status)
		}
		if got := ssm.reads.Load() - n; got > s.maxRead {
			t.Errorf("%s: %d reads of SSM, want at most %d", s.name, got, s.maxRead)
		}
	}
}

// appKeys is a GitHub that knows an App's public keys (GitHub lets an App
// have two while its key is rotated) and mints installation tokens to a
// JWT one of them verifies; 401 otherwise, as GitHub answers.
type appKeys struct {
	mu   sync.Mutex
	keys []*rsa.PublicKey
	URL  string
}

func newAppKeys(t testing.TB, keys ...*rsa.PublicKey) *appKeys {
	t.Helper()
	g := &appKeys{keys: keys}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		jwt, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		parts := strings.Split(jwt, ".")
		sig, err := base64.RawURLEncoding.DecodeString(parts[len(parts)-1])
		ok := false
		if len(parts) == 3 && err == nil {
			sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
			g.mu.Lock()
			for _, k := range g.keys {
				ok = ok || rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil
			}
			g.mu.Unlock()
		}
		if !ok || r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/access_tokens") {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"message":"A JSON web token could not be decoded"}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"token":"ghs_minted","expires_at":%q,"permissions":{"contents":"write","pull_requests":"write","metadata":"read"},"repositories":[{"name":"hello"}]}`,
			time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}))
	t.Cleanup(hs.Close)
	g.URL = hs.URL
	return g
}

func (g *appKeys) set(keys ...*rsa.PublicKey) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.keys = keys
}

// A GitHub App key the operator rotates (a second key made at GitHub, put
// in SSM, then the first deleted at GitHub) is taken up by a warm
// instance: its installation tokens are minted with the new key, not
// refused until the instance's cold start, which would fail every
// delivery's permission check and a running task's clone and push (its
// pull request lost). A key GitHub refuses costs no more than one read of
// SSM a minute.
func TestGitHubAppKeyRotatedOnAWarmInstance(t *testing.T) {
	const name = "/sandstep/github/app-key"
	oldKey, oldPub, err := githublocal.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	newKey, newPub, err := githublocal.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	ssm := fakeSSM(t, map[string]string{name: string(oldKey)})
	gh := newAppKeys(t, oldPub)
	env := gitHubEnv(ssm.URL, "")
	env["GITHUB_API_URL"] = gh.URL
	e, err := NewEnv(Options{Getenv: func(k string) string { return env[k] }, LogWriter: &syncBuffer{}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var at atomic.Int64
	e.now = func() time.Time { return start.Add(time.Duration(at.Load())) }
	ctx := context.Background()
	app, err := e.GitHubApp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		at      time.Duration
		rotate  func()
		ok      bool
		maxRead int32 // reads of SSM this step may make
	}{
		{"before the rotation", 0, nil, true, 0},
		{"a second key made at GitHub and put in SSM", time.Hour, func() { gh.set(oldPub, newPub); ssm.put(name, string(newKey)) }, true, 0},
		{"the old key deleted at GitHub", 2 * time.Hour, func() { gh.set(newPub) }, true, 1},
		{"then", 2*time.Hour + time.Second, nil, true, 0},
		{"every key deleted at GitHub", 3 * time.Hour, func() { gh.set() }, false, 1},
		{"a moment later, no read", 3*time.Hour + time.Second, nil, false, 0},
	}
	for _, s := range steps {
		at.Store(int64(s.at))
		if s.rotate != nil {
			s.rotate()
		}
		n := ssm.reads.Load()
		_, err := app.OwnToken(ctx, 7, "octo/hello", githubapp.PushAndPullRequest)
		if s.ok != (err == nil) {
			t.Errorf("%s: OwnToken = %v, want ok %v", s.name, err, s.ok)
		}
		if got := ssm.reads.Load() - n; got > s.maxRead {
			t.Errorf("%s: %d reads of SSM, want at most %d", s.name, got, s.maxRead)
		}
	}
}

// daytonaKeys is Daytona in front of the local server: it accepts the
// organisation's API keys it holds (two coexist while one is rotated),
// 401 to any other, as Daytona answers.
type daytonaKeys struct {
	mu   sync.Mutex
	keys []string
	URL  string
}

func newDaytonaKeys(t testing.TB, keys ...string) *daytonaKeys {
	t.Helper()
	dsrv, err := daytonalocal.New(daytonalocal.Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	d := &daytonaKeys{keys: keys}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		d.mu.Lock()
		ok := slices.Contains(d.keys, got)
		d.mu.Unlock()
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"statusCode":401,"message":"Invalid API key","error":"Unauthorized"}`)
			return
		}
		dsrv.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { hs.Close(); dsrv.Close() })
	d.URL = hs.URL
	return d
}

func (d *daytonaKeys) set(keys ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.keys = keys
}

// A Daytona API key the operator rotates (a second key made at Daytona,
// put in the parameter the functions read, then the first revoked) is
// taken up by a warm instance: its calls are not refused until its cold
// start, which would fail every create, exec and delete with a 500, and
// every step of a running task, for as long as the instance lives. A key
// Daytona refuses costs no more than one read of SSM a minute.
func TestDaytonaKeyRotatedOnAWarmInstance(t *testing.T) {
	const name = "/sandstep/daytona-api-key"
	ssm := fakeSSM(t, map[string]string{name: "old-daytona-key"})
	day := newDaytonaKeys(t, "old-daytona-key")
	env := gitHubEnv(ssm.URL, "")
	env["DAYTONA_API_URL"] = day.URL + "/api"
	e, err := NewEnv(Options{Getenv: func(k string) string { return env[k] }, LogWriter: &syncBuffer{}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var at atomic.Int64
	e.now = func() time.Time { return start.Add(time.Duration(at.Load())) }
	ctx := context.Background()
	dc, err := e.Daytona(ctx)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		at      time.Duration
		rotate  func()
		ok      bool
		maxRead int32 // reads of SSM this step may make
	}{
		{"before the rotation", 0, nil, true, 0},
		{"a second key made at Daytona and put in SSM", time.Hour, func() { day.set("old-daytona-key", "new-daytona-key"); ssm.put(name, "new-daytona-key") }, true, 0},
		{"the old key revoked at Daytona", 2 * time.Hour, func() { day.set("new-daytona-key") }, true, 1},
		{"then", 2*time.Hour + time.Second, nil, true, 0},
		{"every key revoked at Daytona", 3 * time.Hour, func() { day.set() }, false, 1},
		{"a moment later, no read", 3*time.Hour + time.Second, nil, false, 0},
	}
	for _, s := range steps {
		at.Store(int64(s.at))
		if s.rotate != nil {
			s.rotate()
		}
		n := ssm.reads.Load()
		_, err := dc.ListSandboxes(ctx, daytona.ListSandboxesOptions{})
		if s.ok != (err == nil) {
			t.Errorf("%s: ListSandboxes = %v, want ok %v", s.name, err, s.ok)
		}
		if got := ssm.reads.Load() - n; got > s.maxRead {
			t.Errorf("%s: %d reads of SSM, want at most %d", s.name, got, s.maxRead)
		}
	}
}
