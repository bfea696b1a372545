package githublocal

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/appjwt"

	"github.com/google/go-github/v88/github"

	"github.com/sandstep/sandstep/internal/githubapp"
)

func TestAppJWTIsCheckedAsGitHubChecksIt(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key, err := appjwt.ParseKey(f.key)
	must(t, err)
	other, err := appjwt.ParseKey(otherKey)
	must(t, err)
	now := f.clock.now()
	rs256 := map[string]any{"alg": "RS256", "typ": "JWT"}
	claims := func(iss any, iat, exp time.Duration) map[string]any {
		return map[string]any{"iss": iss, "iat": now.Add(iat).Unix(), "exp": now.Add(exp).Unix()}
	}
	sign := func(header, c map[string]any) string {
		tok, err := appjwt.Sign(key, header, c)
		must(t, err)
		return tok
	}

	cases := []struct {
		name string
		jwt  string
		path string // default: the test installation
		want int
	}{
		{"as GitHub advises: iat 60 s back, exp 10 min ahead", sign(rs256, claims(testAppID, -time.Minute, 10*time.Minute)), "", http.StatusOK},
		{"AppJWT's", mustJWT(t, f.key, now), "", http.StatusOK},
		{"iss as a string", sign(rs256, claims(strconv.Itoa(testAppID), 0, time.Minute)), "", http.StatusOK},
		{"iss as the client id", sign(rs256, claims("Iv1.testclient", 0, time.Minute)), "", http.StatusOK},
		{"iat a little ahead (clock drift)", sign(rs256, claims(testAppID, 20*time.Second, 5*time.Minute)), "", http.StatusOK},
		{"iat in the future", sign(rs256, claims(testAppID, 2*time.Minute, 5*time.Minute)), "", http.StatusUnauthorized},
		{"expired", sign(rs256, claims(testAppID, -10*time.Minute, -time.Second)), "", http.StatusUnauthorized},
		{"exp more than 10 minutes ahead", sign(rs256, claims(testAppID, 0, 11*time.Minute)), "", http.StatusUnauthorized},
		{"exp before iat", sign(rs256, map[string]any{"iss": testAppID, "iat": now.Add(time.Minute).Unix(), "exp": now.Add(10 * time.Second).Unix()}), "", http.StatusUnauthorized},
		{"fractional exp", sign(rs256, map[string]any{"iss": testAppID, "iat": now.Unix(), "exp": float64(now.Add(time.Minute).Unix()) + 0.5}), "", http.StatusUnauthorized},
		{"exp as a string", sign(rs256, map[string]any{"iss": testAppID, "iat": now.Unix(), "exp": strconv.FormatInt(now.Add(time.Minute).Unix(), 10)}), "", http.StatusUnauthorized},
		{"no iat", sign(rs256, map[string]any{"iss": testAppID, "exp": now.Add(time.Minute).Unix()}), "", http.StatusUnauthorized},
		{"unknown App", sign(rs256, claims(43, 0, time.Minute)), "", http.StatusUnauthorized},
		{"no iss", sign(rs256, map[string]any{"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}), "", http.StatusUnauthorized},
		{"signed by another key", func() string {
			tok, err := appjwt.Sign(other, rs256, claims(testAppID, 0, time.Minute))
			must(t, err)
			return tok
		}(), "", http.StatusUnauthorized},
		{"alg HS256", sign(map[string]any{"alg": "HS256"}, claims(testAppID, 0, time.Minute)), "", http.StatusUnauthorized},
		{"alg none, no signature", func() string {
			tok := sign(map[string]any{"alg": "none"}, claims(testAppID, 0, time.Minute))
			return tok[:strings.LastIndex(tok, ".")+1]
		}(), "", http.StatusUnauthorized},
		{"claims changed after signing", func() string {
			tok := sign(rs256, claims(testAppID, 0, time.Minute))
			parts := strings.Split(tok, ".")
			c, _ := json.Marshal(claims(testAppID, 0, 9*time.Minute))
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(c) + "." + parts[2]
		}(), "", http.StatusUnauthorized},
		{"not a JWT", "not-a-jwt", "", http.StatusUnauthorized},
		{"an installation token", f.token(TokenOptions{}), "", http.StatusUnauthorized},
		{"no credentials", "", "", http.StatusUnauthorized},
		{"an installation of nobody", sign(rs256, claims(testAppID, 0, time.Minute)), "/app/installations/999", http.StatusNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := c.path
			if path == "" {
				path = "/app/installations/" + strconv.Itoa(testInstall)
			}
			auth := ""
			if c.jwt != "" {
				auth = "Bearer " + c.jwt
			}
			res := f.do(http.MethodGet, path, auth, "")
			if res.StatusCode != c.want {
				b, _ := io.ReadAll(res.Body)
				t.Fatalf("status %d, want %d: %s", res.StatusCode, c.want, b)
			}
			if c.want != http.StatusOK {
				var e struct {
					Message string `json:"message"`
					Docs    string `json:"documentation_url"`
				}
				if err := json.NewDecoder(res.Body).Decode(&e); err != nil || e.Message == "" || e.Docs == "" {
					t.Errorf("error body %+v (%v), want GitHub's {message, documentation_url}", e, err)
				}
			}
		})
	}
}

func mustJWT(t *testing.T, key []byte, now time.Time) string {
	t.Helper()
	tok, err := AppJWT(key, testAppID, now)
	must(t, err)
	return tok
}

// appClient is go-github authenticated as the App: each request carries
// a fresh App JWT.
func (f *fixture) appClient() *github.Client {
	f.t.Helper()
	base := f.http.URL + "/"
	c, err := github.NewClient(github.WithHTTPClient(&http.Client{Transport: appTransport{f}}), github.WithURLs(&base, &base))
	must(f.t, err)
	return c
}

// appTransport signs the App's JWT for each request, as GitHub's App
// clients do.
type appTransport struct{ f *fixture }

func (a appTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	jwt, err := AppJWT(a.f.key, testAppID, a.f.clock.now())
	if err != nil {
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+jwt)
	return http.DefaultTransport.RoundTrip(req)
}

func TestInstallationTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	app := f.appClient()
	ids := map[string]int64{}
	for _, name := range []string{"widgets", "gadgets"} {
		r, _, err := f.client(f.token(TokenOptions{})).Repositories.Get(ctx(), testOrg, name)
		must(t, err)
		ids[name] = r.GetID()
	}
	umbrella, _, err := f.client("").Repositories.Get(ctx(), "umbrella", "secret")
	if err == nil {
		t.Fatalf("umbrella/secret is readable without a token: %v", umbrella)
	}

	cases := []struct {
		name      string
		opts      *github.InstallationTokenOptions
		want      int
		wantPerms map[string]string
		wantRepos []string
		selection string
	}{
		{
			name:      "no body: the installation's permissions and repositories",
			want:      http.StatusCreated,
			wantPerms: map[string]string{"contents": "write", "issues": "write", "pull_requests": "write", "metadata": "read"},
			selection: "all",
		},
		{
			name:      "one repository by name, read-only contents",
			opts:      &github.InstallationTokenOptions{Repositories: []string{"widgets"}, Permissions: &github.InstallationPermissions{Contents: github.Ptr("read")}},
			want:      http.StatusCreated,
			wantPerms: map[string]string{"contents": "read", "metadata": "read"},
			wantRepos: []string{"acme/widgets"},
			selection: "selected",
		},
		{
			name:      "by id, with names too",
			opts:      &github.InstallationTokenOptions{RepositoryIDs: []int64{ids["gadgets"]}, Repositories: []string{"widgets"}},
			want:      http.StatusCreated,
			wantPerms: map[string]string{"contents": "write", "issues": "write", "pull_requests": "write", "metadata": "read"},
			wantRepos: []string{"acme/widgets", "acme/gadgets"},
			selection: "selected",
		},
		{
			name:      "write to contents, issues and pulls",
			opts:      &github.InstallationTokenOptions{Permissions: &github.InstallationPermissions{Contents: github.Ptr("write"), Issues: github.Ptr("write"), PullRequests: github.Ptr("write")}},
			want:      http.StatusCreated,
			wantPerms: map[string]string{"contents": "write", "issues": "write", "pull_requests": "write", "metadata": "read"},
			selection: "all",
		},
		{
			name: "a permission the installation lacks",
			opts: &github.InstallationTokenOptions{Permissions: &github.InstallationPermissions{Administration: github.Ptr("write")}},
			want: http.StatusUnprocessableEntity,
		},
		{
			name: "a level above the installation's",
			opts: &github.InstallationTokenOptions{Permissions: &github.InstallationPermissions{Contents: github.Ptr("admin")}},
			want: http.StatusUnprocessableEntity,
		},
		{
			name: "a level that is none",
			opts: &github.InstallationTokenOptions{Permissions: &github.InstallationPermissions{Contents: github.Ptr("everything")}},
			want: http.StatusUnprocessableEntity,
		},
		{
			name: "a repository that does not exist",
			opts: &github.InstallationTokenOptions{Repositories: []string{"nothing"}},
			want: http.StatusUnprocessableEntity,
		},
		{
			name: "another account's repository, by id",
			opts: &github.InstallationTokenOptions{RepositoryIDs: []int64{ids["widgets"] + 1000}},
			want: http.StatusUnprocessableEntity,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := f.clock.now()
			tok, res, err := app.Apps.CreateInstallationToken(ctx(), testInstall, c.opts)
			if got := status(res, err); got != c.want {
				t.Fatalf("status %d, want %d (%v)", got, c.want, err)
			}
			if c.want != http.StatusCreated {
				return
			}
			if !strings.HasPrefix(tok.GetToken(), "ghs_") || len(tok.GetToken()) != 40 {
				t.Errorf("token %q is not in GitHub's installation token form", tok.GetToken())
			}
			if exp := tok.GetExpiresAt().Time; exp.Before(before.Add(TokenLifetime-time.Second)) || exp.After(before.Add(TokenLifetime+time.Second)) {
				t.Errorf("expires_at %s, want an hour after %s", exp, before)
			}
			b, _ := json.Marshal(tok.GetPermissions())
			var perms map[string]string
			must(t, json.Unmarshal(b, &perms))
			if !equalMaps(perms, c.wantPerms) {
				t.Errorf("permissions %v, want %v", perms, c.wantPerms)
			}
			var repos []string
			for _, r := range tok.Repositories {
				repos = append(repos, r.GetFullName())
			}
			if strings.Join(repos, ",") != strings.Join(c.wantRepos, ",") {
				t.Errorf("repositories %v, want %v", repos, c.wantRepos)
			}
			if sel := tokenSelection(t, f, c.opts); sel != c.selection {
				t.Errorf("repository_selection %q, want %q", sel, c.selection)
			}
		})
	}

	t.Run("an installation's selected repositories bound its tokens", func(t *testing.T) {
		must(t, f.srv.AddInstallation(Installation{ID: 8, AppID: testAppID, Account: testOrg, Repositories: []string{"gadgets"},
			Permissions: map[string]string{"contents": "read", "metadata": "read"}}))
		_, res, err := app.Apps.CreateInstallationToken(ctx(), 8, &github.InstallationTokenOptions{Repositories: []string{"widgets"}})
		if got := status(res, err); got != http.StatusUnprocessableEntity {
			t.Errorf("a repository outside the installation: %d, want 422", got)
		}
		tok, _, err := app.Apps.CreateInstallationToken(ctx(), 8, nil)
		must(t, err)
		if _, res, err := f.client(tok.GetToken()).Repositories.Get(ctx(), testOrg, "widgets"); status(res, err) != http.StatusNotFound {
			t.Errorf("the token reads a repository outside the installation: %d", status(res, err))
		}
		if _, _, err := f.client(tok.GetToken()).Repositories.Get(ctx(), testOrg, "gadgets"); err != nil {
			t.Errorf("the token cannot read the installation's repository: %v", err)
		}
	})

	t.Run("the installation, and the repository's installation", func(t *testing.T) {
		inst, _, err := app.Apps.GetInstallation(ctx(), testInstall)
		must(t, err)
		if inst.GetID() != testInstall || inst.GetAppID() != testAppID || inst.GetAccount().GetLogin() != testOrg ||
			inst.GetTargetType() != "Organization" || inst.GetPermissions().GetContents() != "write" || inst.GetRepositorySelection() != "all" {
			t.Errorf("installation %+v", inst)
		}
		got, _, err := app.Apps.GetRepositoryInstallation(ctx(), "ACME", "Widgets")
		must(t, err)
		if got.GetID() != testInstall {
			t.Errorf("the repository's installation is %d, want %d", got.GetID(), testInstall)
		}
		if _, res, err := app.Apps.GetRepositoryInstallation(ctx(), "umbrella", "secret"); status(res, err) != http.StatusNotFound {
			t.Errorf("a repository the App is not installed on: %d, want 404", status(res, err))
		}
	})
}

// tokenSelection asks for a token with opts by hand, for the field
// go-github's InstallationToken lacks.
func tokenSelection(t *testing.T, f *fixture, opts *github.InstallationTokenOptions) string {
	t.Helper()
	body := ""
	if opts != nil {
		b, _ := json.Marshal(opts)
		body = string(b)
	}
	res := f.do(http.MethodPost, "/app/installations/"+strconv.Itoa(testInstall)+"/access_tokens", "Bearer "+mustJWT(t, f.key, f.clock.now()), body)
	var out struct {
		Selection string `json:"repository_selection"`
	}
	must(t, json.NewDecoder(res.Body).Decode(&out))
	return out.Selection
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// sandstep's App client end to end: it mints a token narrowed to one
// repository and read-only contents through the App's JWT, and the token
// works as narrowed.
func TestSandstepAppClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	app, err := githubapp.New(githubapp.Config{BaseURL: f.http.URL, AppID: testAppID, PrivateKey: f.key})
	must(t, err)
	minted, err := app.Token(ctx(), testInstall, testOrg+"/widgets", githubapp.ReadContents)
	must(t, err)
	tok := minted.Value
	c := f.client(tok)
	repo, _, err := c.Repositories.Get(ctx(), testOrg, "widgets")
	must(t, err)
	if repo.GetDefaultBranch() != "main" || !repo.GetPrivate() {
		t.Errorf("repository %+v", repo)
	}
	if _, res, err := c.Repositories.Get(ctx(), testOrg, "gadgets"); status(res, err) != http.StatusNotFound {
		t.Errorf("the narrowed token reads another repository: %d", status(res, err))
	}
	// The read-only token clones, and cannot push.
	dir, out, err := f.clone("acme/widgets", tok)
	if err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	commit(t, dir, "sandstep/tsk_1", "x.txt", "x\n")
	if out, err := runGit(t, dir, "push", "origin", "sandstep/tsk_1"); err == nil || !strings.Contains(out, "403") {
		t.Errorf("a read-only token pushed (%v):\n%s", err, out)
	}
}

func TestRevokedTokenIsBadCredentials(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := f.token(TokenOptions{})
	c := f.client(tok)
	if _, err := c.Apps.RevokeInstallationToken(ctx()); err != nil {
		t.Fatal(err)
	}
	if _, res, err := c.Repositories.Get(ctx(), testOrg, "widgets"); status(res, err) != http.StatusUnauthorized {
		t.Errorf("a revoked token: %d, want 401", status(res, err))
	}
}

// A token dies at expires_at even when nothing was saved since: the
// check is the token's own, not the pruning of the state file.
func TestTokenExpiresAfterAnHour(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok, exp, err := f.srv.CreateToken(testInstall, TokenOptions{})
	must(t, err)
	if d := exp.Sub(f.clock.now()); d < TokenLifetime-time.Second || d > TokenLifetime {
		t.Errorf("expires in %s, want %s", d, TokenLifetime)
	}
	c := f.client(tok)
	f.clock.advance(TokenLifetime - 2*time.Second)
	if _, _, err := c.Repositories.Get(ctx(), testOrg, "widgets"); err != nil {
		t.Errorf("just before it expires: %v", err)
	}
	f.clock.advance(2 * time.Second)
	_, res, err := c.Repositories.Get(ctx(), testOrg, "widgets")
	if status(res, err) != http.StatusUnauthorized {
		t.Fatalf("once expired: %d, want 401", status(res, err))
	}
	if ge := err.(*github.ErrorResponse); ge.Message != "Bad credentials" {
		t.Errorf("message %q, want Bad credentials", ge.Message)
	}
	if _, out, err := f.clone("acme/widgets", tok); err == nil {
		t.Errorf("git accepts the expired token:\n%s", out)
	}
}

// Installations, Issues and NextNumber read back what was set up, also
// after a restart: the local stack finishes its demo by them.
func TestInstallationsAndIssuesReadBack(t *testing.T) {
	f := newFixture(t)
	must(t, f.srv.AddInstallation(Installation{ID: testInstall + 1, AppID: testAppID, Account: "umbrella", AccountType: "User",
		Permissions: map[string]string{"contents": "read"}, Repositories: []string{"secret"}}))
	n, err := f.srv.CreateIssue(testOrg+"/open", "Title", "Body", "alice")
	must(t, err)
	f.restart()

	want := []Installation{
		{ID: testInstall, AppID: testAppID, Account: testOrg, AccountType: "Organization", Permissions: DefaultPermissions()},
		{ID: testInstall + 1, AppID: testAppID, Account: "umbrella", AccountType: "User", Permissions: map[string]string{"contents": "read"},
			Repositories: []string{"secret"}},
	}
	if got := f.srv.Installations(); !reflect.DeepEqual(got, want) {
		t.Errorf("Installations() = %+v, want %+v", got, want)
	}
	issues, err := f.srv.Issues(testOrg + "/open")
	if err != nil || len(issues) != 1 || issues[0].Number != n || issues[0].Title != "Title" || issues[0].User != "alice" {
		t.Errorf("Issues() = %+v, %v", issues, err)
	}
	if next, err := f.srv.NextNumber(testOrg + "/open"); err != nil || next != n+1 {
		t.Errorf("NextNumber() = %d, %v; want %d", next, err, n+1)
	}
	if _, err := f.srv.Issues(testOrg + "/missing"); err == nil {
		t.Error("Issues of a missing repository: no error")
	}
	if _, err := f.srv.NextNumber(testOrg + "/missing"); err == nil {
		t.Error("NextNumber of a missing repository: no error")
	}
}
