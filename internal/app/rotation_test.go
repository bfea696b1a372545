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
	var at atomic.Int64
	a := webhookAPI(t, ssm, &at)
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

// A key the operator rotates (a second key made at the service, put in
// SSM, then the first revoked there) is taken up by a warm instance, not
// refused until its cold start. A GitHub App key: its installation tokens
// are minted with the new key; refused, every delivery's permission check
// and a running task's clone and push fail (its pull request lost). A
// Daytona API key: its calls go on; refused, every create, exec and delete
// fails with a 500, and every step of a running task, for as long as the
// instance lives. A key the service refuses costs no more than one read of
// SSM a minute.
func TestKeyRotatedOnAWarmInstance(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, ssm *ssmFake, clock *atomic.Int64) keyRotation
	}{
		{"GitHub App key", appKeyRotation},
		{"Daytona key", daytonaKeyRotation},
	}
	steps := []struct {
		name    string
		at      time.Duration
		rotate  func(k keyRotation)
		ok      bool
		maxRead int32 // reads of SSM this step may make
	}{
		{"before the rotation", 0, nil, true, 0},
		{"a second key made at the service and put in SSM", time.Hour, func(k keyRotation) { k.accept("old", "new"); k.ssm.put(k.param, k.newValue) }, true, 0},
		{"the old key revoked at the service", 2 * time.Hour, func(k keyRotation) { k.accept("new") }, true, 1},
		{"then", 2*time.Hour + time.Second, nil, true, 0},
		{"every key revoked at the service", 3 * time.Hour, func(k keyRotation) { k.accept() }, false, 1},
		{"a moment later, no read", 3*time.Hour + time.Second, nil, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var at atomic.Int64
			k := tc.setup(t, fakeSSM(t, map[string]string{}), &at)
			for _, s := range steps {
				at.Store(int64(s.at))
				if s.rotate != nil {
					s.rotate(k)
				}
				n := k.ssm.reads.Load()
				err := k.use(context.Background())
				if s.ok != (err == nil) {
					t.Errorf("%s: %s = %v, want ok %v", s.name, k.call, err, s.ok)
				}
				if got := k.ssm.reads.Load() - n; got > s.maxRead {
					t.Errorf("%s: %d reads of SSM, want at most %d", s.name, got, s.maxRead)
				}
			}
		})
	}
}

// rotations are the deployment's three secrets an instance reads again
// when refused, each set up for a rotation test.
var rotations = []struct {
	name  string
	setup func(t *testing.T, ssm *ssmFake, clock *atomic.Int64) keyRotation
}{
	{"webhook secret", webhookSecretRotation},
	{"Daytona key", daytonaKeyRotation},
	{"GitHub App key", appKeyRotation},
}

// keyRotation is a secret the operator rotates: its old value in ssm's
// param and accepted by the service that checks it, read by an Env whose
// clock a test moves.
type keyRotation struct {
	ssm             *ssmFake
	param, newValue string
	// call names what use calls.
	call string
	// use makes a call that needs the secret: nil when it was accepted.
	use func(ctx context.Context) error
	// accept makes the service accept only these of the secret's values,
	// "old" and "new": GitHub and Daytona let two keys coexist while one
	// is rotated; GitHub signs a delivery with the last.
	accept func(values ...string)
}

// rotate puts the new value in SSM, and the service takes only that.
func (k keyRotation) rotate() {
	k.ssm.put(k.param, k.newValue)
	k.accept("new")
}

// appKeyRotation is the GitHub App's key, its client's installation tokens
// minted by a GitHub that knows the App's public keys.
func appKeyRotation(t *testing.T, ssm *ssmFake, clock *atomic.Int64) keyRotation {
	t.Helper()
	const name = "/sandstep/github/app-key"
	oldKey, oldPub, err := githublocal.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	newKey, newPub, err := githublocal.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	ssm.put(name, string(oldKey))
	gh := newAppKeys(t, oldPub)
	env := gitHubEnv(ssm.URL, "")
	env["GITHUB_API_URL"] = gh.URL
	e := rotationEnv(t, env, clock)
	app, err := e.GitHubApp(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pubs := map[string]*rsa.PublicKey{"old": oldPub, "new": newPub}
	return keyRotation{
		ssm: ssm, param: name, newValue: string(newKey), call: "OwnToken",
		use: func(ctx context.Context) error {
			_, err := app.OwnToken(ctx, 7, "octo/hello", githubapp.PushAndPullRequest)
			return err
		},
		accept: func(values ...string) {
			var keys []*rsa.PublicKey
			for _, v := range values {
				keys = append(keys, pubs[v])
			}
			gh.set(keys...)
		},
	}
}

// daytonaKeyRotation is the organisation's Daytona API key, its client's
// calls going to a Daytona that accepts the keys it holds.
func daytonaKeyRotation(t *testing.T, ssm *ssmFake, clock *atomic.Int64) keyRotation {
	t.Helper()
	const name = "/sandstep/daytona-api-key"
	ssm.put(name, "old-daytona-key")
	day := newDaytonaKeys(t, "old-daytona-key")
	env := gitHubEnv(ssm.URL, "")
	env["DAYTONA_API_URL"] = day.URL + "/api"
	e := rotationEnv(t, env, clock)
	dc, err := e.Daytona(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return keyRotation{
		ssm: ssm, param: name, newValue: "new-daytona-key", call: "ListSandboxes",
		use: func(ctx context.Context) error {
			_, err := dc.ListSandboxes(ctx, daytona.ListSandboxesOptions{})
			return err
		},
		accept: func(values ...string) {
			var keys []string
			for _, v := range values {
				keys = append(keys, v+"-daytona-key")
			}
			day.set(keys...)
		},
	}
}

// webhookSecretRotation is the GitHub webhook's secret, its deliveries
// pings signed as GitHub signs them.
func webhookSecretRotation(t *testing.T, ssm *ssmFake, clock *atomic.Int64) keyRotation {
	t.Helper()
	const name = "/sandstep/github/webhook-secret"
	ssm.put(name, "old-webhook-secret")
	a := webhookAPI(t, ssm, clock)
	signer := "old-webhook-secret"
	return keyRotation{
		ssm: ssm, param: name, newValue: "new-webhook-secret", call: "a delivery",
		use: func(ctx context.Context) error {
			if got := a.ServeEvent(ctx, signedDelivery(signer, `{"zen":"x","hook_id":1}`)).StatusCode; got != http.StatusOK {
				return fmt.Errorf("answered %d", got)
			}
			return nil
		},
		accept: func(values ...string) {
			signer = "forged"
			if len(values) > 0 {
				signer = values[len(values)-1] + "-webhook-secret"
			}
		},
	}
}

// rotationEnv is an Env of env whose clock is clock's offset from now.
func rotationEnv(t *testing.T, env map[string]string, clock *atomic.Int64) *Env {
	t.Helper()
	e, err := NewEnv(Options{Getenv: func(k string) string { return env[k] }, LogWriter: &syncBuffer{}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	e.now = func() time.Time { return start.Add(time.Duration(clock.Load())) }
	return e
}

// webhookAPI is the GitHub function's API on an Env (its clock clock)
// reading the webhook secret from ssm. A ping needs no service: the
// signature is all that is checked.
func webhookAPI(t *testing.T, ssm *ssmFake, clock *atomic.Int64) *api.API {
	t.Helper()
	e := rotationEnv(t, gitHubEnv(ssm.URL, ""), clock)
	return api.New(nil, api.Options{MaxBodyBytes: 1 << 20, Logger: e.Logger, GitHub: e.GitHubOptions()})
}
