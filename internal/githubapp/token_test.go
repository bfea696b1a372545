package githubapp

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

func TestNew(t *testing.T) {
	key, k := appKey()
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8PEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	tests := []struct {
		name  string
		cfg   Config
		field string // "" = accepted
		base  string
	}{
		{"defaults to api.github.com", Config{AppID: 1, PrivateKey: key}, "", "https://api.github.com/"},
		{"the local stand-in", Config{BaseURL: "http://127.0.0.1:3005", AppID: 1, PrivateKey: key}, "", "http://127.0.0.1:3005/"},
		{"enterprise path kept", Config{BaseURL: "https://ghe.example.com/api/v3", AppID: 1, PrivateKey: key}, "", "https://ghe.example.com/api/v3/"},
		{"PKCS#8 key", Config{AppID: 1, PrivateKey: pkcs8PEM}, "", "https://api.github.com/"},
		{"plain http elsewhere", Config{BaseURL: "http://ghe.example.com", AppID: 1, PrivateKey: key}, "BaseURL", ""},
		{"not http", Config{BaseURL: "ftp://api.github.com", AppID: 1, PrivateKey: key}, "BaseURL", ""},
		{"no host", Config{BaseURL: "https:///x", AppID: 1, PrivateKey: key}, "BaseURL", ""},
		{"credentials in the URL", Config{BaseURL: "https://u:p@api.github.com", AppID: 1, PrivateKey: key}, "BaseURL", ""},
		{"no App id", Config{PrivateKey: key}, "AppID", ""},
		{"no key", Config{AppID: 1}, "PrivateKey", ""},
		{"not a key", Config{AppID: 1, PrivateKey: []byte("-----BEGIN RSA PRIVATE KEY-----\nbm9wZQ==\n-----END RSA PRIVATE KEY-----\n")}, "PrivateKey", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.field != "" {
				if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != tt.field {
					t.Fatalf("New = %v, want EINVALID naming %s", err, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.base.String(); got != tt.base {
				t.Errorf("base %q, want %q", got, tt.base)
			}
		})
	}
}

func TestNothingPrintsTheKeyOrAToken(t *testing.T) {
	key, _ := appKey()
	cfg := Config{AppID: 7, PrivateKey: key}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok := Token{Value: "ghs_secretvalue123", ExpiresAt: time.Unix(1e9, 0)}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "cfg", cfg, "token", tok)
	js, err := json.Marshal(tok)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg),
		fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c),
		fmt.Sprint(tok), fmt.Sprintf("%+v", &tok), fmt.Sprintf("%#v", tok),
		logged.String(), string(js),
	} {
		if strings.Contains(s, "PRIVATE KEY") || strings.Contains(s, "MII") || strings.Contains(s, "ghs_secretvalue123") {
			t.Errorf("a secret is shown: %s", s)
		}
	}
}

// Each scope asks GitHub for the one repository and exactly its
// permissions, signed as the App.
func TestTokenScope(t *testing.T) {
	tests := []struct {
		name  string
		perms Permissions
		want  map[string]string
	}{
		{"the agent's clone", ReadContents, map[string]string{"contents": "read"}},
		{"the push and pull request", PushAndPullRequest, map[string]string{"contents": "write", "pull_requests": "write"}},
		{"the issue comment", WriteIssues, map[string]string{"issues": "write"}},
		{"metadata only", ReadMetadata, map[string]string{"metadata": "read"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			tok, err := f.client(t).Token(context.Background(), testInstallation, testRepo, tt.perms)
			if err != nil {
				t.Fatal(err)
			}
			want := []tokenRequest{{Installation: testInstallation, Repositories: []string{"hello.world"}, Permissions: tt.want}}
			if got := f.mintedRequests(); !reflect.DeepEqual(got, want) {
				t.Errorf("GitHub was asked %+v, want %+v", got, want)
			}
			if !strings.HasPrefix(tok.Value, "ghs_fake") || time.Until(tok.ExpiresAt) < 59*time.Minute {
				t.Errorf("token %v: not the fake's, or not its expiry", tok)
			}
		})
	}
}

func TestTokenRefusesBadArguments(t *testing.T) {
	tests := []struct {
		name   string
		inst   int64
		repo   string
		perms  Permissions
		field  string
		reason string
	}{
		{"no permissions would mean all of them", testInstallation, testRepo, Permissions{}, "perms", ""},
		{"a level GitHub has not", testInstallation, testRepo, Permissions{Contents: "admin"}, "perms", ""},
		{"metadata write", testInstallation, testRepo, Permissions{Metadata: Write}, "perms", ""},
		{"no installation", 0, testRepo, ReadContents, "installationID", ""},
		{"no owner", testInstallation, "hello", ReadContents, "repo", ""},
		{"a path", testInstallation, "octo-org/hello/../x", ReadContents, "repo", ""},
		{"dot dot", testInstallation, "octo-org/..", ReadContents, "repo", ""},
		{"a query", testInstallation, "octo-org/x?y", ReadContents, "repo", ""},
		{"empty name", testInstallation, "octo-org/", ReadContents, "repo", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			_, err := f.client(t).Token(context.Background(), tt.inst, tt.repo, tt.perms)
			if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != tt.field {
				t.Fatalf("Token = %v, want EINVALID naming %s", err, tt.field)
			}
			if calls := f.callLog(); len(calls) != 0 {
				t.Errorf("GitHub was called: %v", calls)
			}
		})
	}
}

// A token of the same scope is reused while it has MinTokenLife left;
// another scope, repository or installation gets its own.
func TestTokenCache(t *testing.T) {
	clk := &clock{t: time.Now().Truncate(time.Second)}
	f := newFake(t)
	f.now = clk.Now
	f.installations[testInstallation+1] = fakeInstallation{repos: []string{testRepo}, perms: map[string]string{"contents": "read"}}
	c := f.client(t)
	ctx := context.Background()
	mint := func(inst int64, repo string, p Permissions) string {
		t.Helper()
		tok, err := c.Token(ctx, inst, repo, p)
		if err != nil {
			t.Fatal(err)
		}
		return tok.Value
	}
	first := mint(testInstallation, testRepo, ReadContents)
	steps := []struct {
		name    string
		advance time.Duration
		inst    int64
		repo    string
		perms   Permissions
		same    bool // the first token again
	}{
		{"same scope", 0, testInstallation, testRepo, ReadContents, true},
		{"name in another case", 0, testInstallation, "Octo-Org/Hello.World", ReadContents, true},
		{"other permissions", 0, testInstallation, testRepo, WriteIssues, false},
		{"other repository", 0, testInstallation, "octo-org/other", ReadContents, false},
		{"other installation", 0, testInstallation + 1, testRepo, ReadContents, false},
		{"exactly 10 minutes left", 50 * time.Minute, testInstallation, testRepo, ReadContents, true},
		{"under 10 minutes left", time.Second, testInstallation, testRepo, ReadContents, false},
	}
	for _, s := range steps {
		clk.Add(s.advance)
		before := len(f.mintedRequests())
		got := mint(s.inst, s.repo, s.perms)
		minted := len(f.mintedRequests()) > before
		if (got == first) != s.same || minted == s.same {
			t.Errorf("%s: same token %v, minted %v; want same %v", s.name, got == first, minted, s.same)
		}
	}
}

// A token GitHub refuses (revoked, the App reinstalled) is not handed out
// again.
func TestRefusedTokenIsForgotten(t *testing.T) {
	f := newFake(t)
	c := f.client(t)
	ctx := context.Background()
	if _, err := c.DefaultBranch(ctx, testInstallation, testRepo); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	clear(f.tokens) // GitHub revoked them
	f.mu.Unlock()
	_, err := c.DefaultBranch(ctx, testInstallation, testRepo)
	if sandstep.ErrorCode(err) != sandstep.EUNAUTHENTICATED {
		t.Fatalf("with a revoked token: %v, want EUNAUTHENTICATED", err)
	}
	if _, err := c.DefaultBranch(ctx, testInstallation, testRepo); err != nil {
		t.Fatalf("the next call should mint a new token: %v", err)
	}
	if n := len(f.mintedRequests()); n != 2 {
		t.Errorf("%d tokens minted, want 2", n)
	}
}

// A revoked token is gone at GitHub and from the cache: the next call
// mints a new one. Revoking it again is no error.
func TestRevoke(t *testing.T) {
	f := newFake(t)
	c := f.client(t)
	ctx := context.Background()
	tok, err := c.Token(ctx, testInstallation, testRepo, PushAndPullRequest)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"first", "again"} {
		if err := c.Revoke(ctx, tok.Value); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	f.mu.Lock()
	_, alive := f.tokens[tok.Value]
	f.mu.Unlock()
	if alive {
		t.Error("GitHub still knows the revoked token")
	}
	next, err := c.Token(ctx, testInstallation, testRepo, PushAndPullRequest)
	if err != nil {
		t.Fatal(err)
	}
	if next.Value == tok.Value {
		t.Error("the revoked token was handed out again")
	}
	if err := c.Revoke(ctx, ""); sandstep.ErrorCode(err) != sandstep.EINVALID {
		t.Errorf("empty token: %v, want EINVALID", err)
	}
}

// GitHub checks the App's JWT: a token asked with a JWT of another key,
// another App, or outside its time window is refused, and that is the
// App's misconfiguration, not the caller's.
func TestAppJWT(t *testing.T) {
	otherPEM, _ := otherKey(t)
	key, _ := appKey()
	now := time.Now()
	tests := []struct {
		name  string
		key   []byte
		appID int64
		clock func() time.Time // the client's
		code  sandstep.Code
	}{
		{"accepted", key, testAppID, time.Now, ""},
		{"clock 50 s ahead of GitHub's", key, testAppID, func() time.Time { return time.Now().Add(50 * time.Second) }, ""},
		{"another key", otherPEM, testAppID, time.Now, sandstep.EINTERNAL},
		{"another App", key, testAppID + 1, time.Now, sandstep.EINTERNAL},
		{"expired: clock 10 min behind", key, testAppID, func() time.Time { return now.Add(-10 * time.Minute) }, sandstep.EINTERNAL},
		{"issued in the future: clock 2 min ahead", key, testAppID, func() time.Time { return now.Add(2 * time.Minute) }, sandstep.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			c, err := New(Config{BaseURL: f.srv.URL, AppID: tt.appID, PrivateKey: tt.key, HTTPClient: f.srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			c.now = tt.clock
			_, err = c.Token(context.Background(), testInstallation, testRepo, ReadContents)
			if got := sandstep.ErrorCode(err); got != tt.code {
				t.Fatalf("Token = %v, want code %q", err, tt.code)
			}
			if tt.code != "" && !strings.Contains(err.Error(), "App id and its private key") {
				t.Errorf("the error does not point at the App's configuration: %v", err)
			}
			_, err = c.Installation(context.Background(), testRepo)
			if got := sandstep.ErrorCode(err); got != tt.code {
				t.Fatalf("Installation = %v, want code %q", err, tt.code)
			}
		})
	}
}

// The JWT's claims as GitHub's docs ask: iat 60 s back, exp within 10 min.
func TestAppJWTClaims(t *testing.T) {
	f := newFake(t)
	c := f.client(t)
	at := time.Unix(1_800_000_000, 0)
	c.now = func() time.Time { return at }
	s, _, err := c.signedJWT()
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Iss      string
		Iat, Exp int64
	}
	raw := strings.Split(s, ".")[1]
	if err := json.Unmarshal(mustB64(t, raw), &claims); err != nil {
		t.Fatal(err)
	}
	want := struct {
		Iss      string
		Iat, Exp int64
	}{"4242", at.Unix() - 60, at.Unix() + 540}
	if claims != want {
		t.Errorf("claims %+v, want %+v", claims, want)
	}
}

// A token broader than asked is refused: it could reach the sandbox.
func TestTokenBroaderThanAsked(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"write for read", `{"token":"ghs_x","expires_at":"2099-01-01T00:00:00Z","permissions":{"contents":"write","metadata":"read"}}`},
		{"an extra permission", `{"token":"ghs_x","expires_at":"2099-01-01T00:00:00Z","permissions":{"contents":"read","issues":"write"}}`},
		{"another repository", `{"token":"ghs_x","expires_at":"2099-01-01T00:00:00Z","repositories":[{"name":"other"}]}`},
		{"every repository", `{"token":"ghs_x","expires_at":"2099-01-01T00:00:00Z","repositories":[{"name":"hello.world"},{"name":"other"}]}`},
		{"no token", `{"expires_at":"2099-01-01T00:00:00Z"}`},
		{"no expiry", `{"token":"ghs_x"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.fault = func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(201)
				fmt.Fprint(w, tt.body)
				return true
			}
			_, err := f.client(t).Token(context.Background(), testInstallation, testRepo, ReadContents)
			if sandstep.ErrorCode(err) != sandstep.EINTERNAL {
				t.Fatalf("Token = %v, want EINTERNAL", err)
			}
			if strings.Contains(err.Error(), "ghs_x") {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
}

// What the installation has not granted, GitHub refuses with a 422.
func TestTokenNotGranted(t *testing.T) {
	f := newFake(t)
	f.installations[testInstallation] = fakeInstallation{repos: []string{testRepo}, perms: map[string]string{"contents": "read", "metadata": "read"}}
	c := f.client(t)
	ctx := context.Background()
	if _, err := c.Token(ctx, testInstallation, testRepo, ReadContents); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		inst  int64
		repo  string
		perms Permissions
		code  sandstep.Code
	}{
		{"write not granted", testInstallation, testRepo, PushAndPullRequest, sandstep.EINVALID},
		{"a repository outside the installation", testInstallation, "octo-org/elsewhere", ReadContents, sandstep.EINVALID},
		{"an installation that is gone", 999, testRepo, ReadContents, sandstep.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Token(ctx, tt.inst, tt.repo, tt.perms)
			if sandstep.ErrorCode(err) != tt.code {
				t.Fatalf("Token = %v, want %s", err, tt.code)
			}
		})
	}
}

// A token of its own is never the cache's: two are two, and revoking one
// leaves the shared token (and the other) working; it settles
// replicationLag after its minting.
func TestOwnToken(t *testing.T) {
	f := newFake(t)
	c := f.client(t)
	ctx := context.Background()
	shared, err := c.Token(ctx, testInstallation, testRepo, ReadContents)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	a, err := c.OwnToken(ctx, testInstallation, testRepo, ReadContents)
	if err != nil {
		t.Fatal(err)
	}
	// GitHub may refuse it for a moment after: its users ask again until
	// then.
	if s := a.Settled(); s.Before(before.Add(replicationLag)) || s.After(time.Now().Add(replicationLag)) {
		t.Errorf("a token minted after %s settles at %s, want %s after its minting", before, s, replicationLag)
	}
	b, err := c.OwnToken(ctx, testInstallation, testRepo, ReadContents)
	if err != nil {
		t.Fatal(err)
	}
	if a.Value == b.Value || a.Value == shared.Value || b.Value == shared.Value {
		t.Fatal("an own token was handed out twice, or was the shared one")
	}
	if err := c.Revoke(ctx, a.Value); err != nil {
		t.Fatal(err)
	}
	again, err := c.Token(ctx, testInstallation, testRepo, ReadContents)
	if err != nil || again.Value != shared.Value {
		t.Errorf("the shared token after revoking an own one: %v, %v", again, err)
	}
	f.mu.Lock()
	_, sharedAlive := f.tokens[shared.Value]
	_, bAlive := f.tokens[b.Value]
	f.mu.Unlock()
	if !sharedAlive || !bAlive {
		t.Errorf("revoking one token ended another (shared alive %v, other own alive %v)", sharedAlive, bAlive)
	}
}
