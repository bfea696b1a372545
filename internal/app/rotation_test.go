package app

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/githubapp"
	"github.com/sandstep/sandstep/internal/githublocal"
)

// rotatingSSM is an SSM whose parameters an operator changes while the
// functions run; reads counts its GetParameter calls.
type rotatingSSM struct {
	mu     sync.Mutex
	params map[string]string
	reads  atomic.Int32
	URL    string
}

func newRotatingSSM(t testing.TB, params map[string]string) *rotatingSSM {
	t.Helper()
	s := &rotatingSSM{params: params}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.reads.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		var in struct{ Name string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			w.WriteHeader(400)
			return
		}
		s.mu.Lock()
		v, ok := s.params[in.Name]
		s.mu.Unlock()
		if !ok {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"__type":"ParameterNotFound","message":"parameter not found"}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"Parameter": map[string]any{"Name": in.Name, "Type": "SecureString", "Value": v, "Version": 1}})
	}))
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

func (s *rotatingSSM) put(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.params[name] = value
}

// A webhook secret the operator rotates (SSM first, then the App's
// settings; GitHub signs with the new secret at once, and never sends a
// failed delivery again by itself) is taken up by a warm instance of the
// GitHub function, not only at its next cold start: until then every
// delivery would be answered 401 and lost. A forged delivery costs no
// more than one read of SSM a minute.
func TestWebhookSecretRotatedOnAWarmInstance(t *testing.T) {
	const name = "/sandstep/github/webhook-secret"
	ssm := newRotatingSSM(t, map[string]string{name: "old-webhook-secret"})
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
		body := `{"zen":"Keep it logically awesome.","hook_id":1}`
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(body))
		var ev events.APIGatewayV2HTTPRequest
		ev.RouteKey = api.RouteGitHubWebhook
		ev.RawPath = "/webhooks/github"
		ev.RequestContext.HTTP.Method = http.MethodPost
		ev.RequestContext.HTTP.Path = "/webhooks/github"
		ev.RequestContext.RequestID = "req-1"
		ev.Headers = map[string]string{
			"content-type":        "application/json",
			"x-hub-signature-256": "sha256=" + hex.EncodeToString(mac.Sum(nil)),
			"x-github-event":      "ping",
			"x-github-delivery":   fmt.Sprintf("delivery-%s-%d", secret, at.Load()),
		}
		ev.Body = body
		return a.ServeEvent(context.Background(), ev).StatusCode
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
	ssm := newRotatingSSM(t, map[string]string{name: string(oldKey)})
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
	ssm := newRotatingSSM(t, map[string]string{name: "old-daytona-key"})
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

// deniedSSM answers every GetParameter with the AWS error code given.
func deniedSSM(t testing.TB, code string) string {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":%q,"message":"User: arn:aws:sts::123456789012:assumed-role/sandstep-GitHubRole/x is not authorized"}`, code)
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

// A webhook secret the GitHub function cannot read (its grant lost, its
// KMS key disabled, the parameter deleted) is the deployment's fault: the
// delivery is answered 500, counted as a fault (the alarm an operator
// watches), with the cause in the log under GITHUB_WEBHOOK_SECRET_REF, not
// a 400 invalid_input (no fault counted, every delivery lost in silence)
// that tells an unauthenticated caller the deployment's parameter name.
func TestUnreadableWebhookSecretIsAFault(t *testing.T) {
	for _, code := range []string{"AccessDeniedException", "KMSDisabledException", "ParameterNotFound"} {
		t.Run(code, func(t *testing.T) {
			env := gitHubEnv(deniedSSM(t, code), "")
			logs := &syncBuffer{}
			e, err := NewEnv(Options{Getenv: func(k string) string { return env[k] }, LogWriter: logs})
			if err != nil {
				t.Fatal(err)
			}
			a := api.New(nil, api.Options{MaxBodyBytes: 1 << 20, Logger: e.Logger, GitHub: e.GitHubOptions()})
			body := `{"zen":"x","hook_id":1}`
			mac := hmac.New(sha256.New, []byte("whatever"))
			mac.Write([]byte(body))
			var ev events.APIGatewayV2HTTPRequest
			ev.RouteKey = api.RouteGitHubWebhook
			ev.RawPath = "/webhooks/github"
			ev.RequestContext.HTTP.Method = http.MethodPost
			ev.RequestContext.HTTP.Path = "/webhooks/github"
			ev.RequestContext.RequestID = "req-1"
			ev.Headers = map[string]string{"content-type": "application/json", "x-hub-signature-256": "sha256=" + hex.EncodeToString(mac.Sum(nil)),
				"x-github-event": "ping", "x-github-delivery": "d-1"}
			ev.Body = body
			res := a.ServeEvent(context.Background(), ev)
			if res.StatusCode != http.StatusInternalServerError {
				t.Errorf("answered %d %s, want 500", res.StatusCode, res.Body)
			}
			if strings.Contains(res.Body, "webhook-secret") {
				t.Errorf("the answer names the deployment's parameter: %s", res.Body)
			}
			if !strings.Contains(logs.String(), "GITHUB_WEBHOOK_SECRET_REF") {
				t.Errorf("no log line names GITHUB_WEBHOOK_SECRET_REF:\n%s", logs.String())
			}
		})
	}
}
