package githubapp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// fakeGitHub is a hand-made GitHub for the App's calls. It checks what
// GitHub checks: the App's JWT (RS256 signature under the App's public
// key, iss, iat and exp) on the App endpoints, and on every other call that
// the installation token exists, has not expired, reaches the repository
// and carries the permission the endpoint needs. Bodies are decoded
// strictly, so a request of the wrong shape fails.
type fakeGitHub struct {
	srv   *httptest.Server
	appID int64
	pub   *rsa.PublicKey
	now   func() time.Time

	mu sync.Mutex
	// installations: id → the repositories ("owner/name") it may reach
	// and the permissions the owner granted the App.
	installations map[int64]fakeInstallation
	repos         map[string]*fakeRepo
	tokens        map[string]fakeToken
	minted        []tokenRequest // every token request, in order
	calls         []string       // "METHOD path", in order
	nextID        int64
	// fault, when set, answers a request instead of the fake.
	fault func(w http.ResponseWriter, r *http.Request) bool
}

type fakeInstallation struct {
	repos []string
	perms map[string]string
}

type fakeRepo struct {
	defaultBranch string
	// roles: login → {role_name, permission} as GitHub answers them.
	roles    map[string][2]string
	comments map[int64]string // id → body
	// commentIssue: comment id → the issue it is on.
	commentIssue map[int64]int
	pulls        []fakePull
	branches     map[string]bool
}

type fakePull struct {
	number     int
	head, base string
	open       bool
}

type fakeToken struct {
	installation int64
	repo         string
	perms        map[string]string
	expires      time.Time
}

type tokenRequest struct {
	Installation int64
	Repositories []string          `json:"repositories"`
	Permissions  map[string]string `json:"permissions"`
}

// githubBodyLimit is GitHub's limit on a comment's body, in characters.
const githubBodyLimit = 65536

// The fake's App, installation and repository, unless a test adds others.
const (
	testAppID        = 4242
	testInstallation = 77
	testRepo         = "octo-org/hello.world"
)

var (
	keyOnce sync.Once
	keyPEM  []byte
	testKey *rsa.PrivateKey
)

// appKey is the tests' App key, PEM as GitHub issues it (PKCS#1), made once.
func appKey() ([]byte, *rsa.PrivateKey) {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
		keyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	})
	return keyPEM, testKey
}

// otherKey is an App key GitHub does not hold for the fake's App (PEM,
// PKCS#1), made for one test.
func otherKey(t testing.TB) ([]byte, *rsa.PrivateKey) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), k
}

func newFake(t testing.TB) *fakeGitHub {
	f := startFake()
	t.Cleanup(f.srv.Close)
	return f
}

// startFake starts a fakeGitHub; the caller closes f.srv.
func startFake() *fakeGitHub {
	_, key := appKey()
	f := &fakeGitHub{
		appID: testAppID, pub: &key.PublicKey, now: time.Now,
		installations: map[int64]fakeInstallation{testInstallation: {
			repos: []string{testRepo, "octo-org/other"},
			perms: map[string]string{"contents": "write", "pull_requests": "write", "issues": "write", "metadata": "read"},
		}},
		repos: map[string]*fakeRepo{
			testRepo:         newFakeRepo(),
			"octo-org/other": newFakeRepo(),
		},
		tokens: map[string]fakeToken{},
		nextID: 1000,
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

func newFakeRepo() *fakeRepo {
	return &fakeRepo{
		defaultBranch: "trunk",
		roles: map[string][2]string{
			"ada": {"admin", "admin"}, "mo": {"maintain", "write"}, "wu": {"write", "write"},
			"tri": {"triage", "read"}, "rey": {"read", "read"}, "nobody": {"", "none"},
		},
		comments:     map[int64]string{},
		commentIssue: map[int64]int{},
		branches:     map[string]bool{"trunk": true, "sandstep/tsk_1": true},
	}
}

// client is a Client of f with the tests' App key.
func (f *fakeGitHub) client(t testing.TB) *Client {
	t.Helper()
	key, _ := appKey()
	c, err := New(Config{BaseURL: f.srv.URL, AppID: f.appID, PrivateKey: key, HTTPClient: f.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	c.now = f.now
	// The fake is GitHub with its tokens replicated at once; a test that
	// refuses a new token's first uses does not wait a second for each.
	c.replicationWait = time.Millisecond
	return c
}

func (f *fakeGitHub) mintedRequests() []tokenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]tokenRequest(nil), f.minted...)
}

func (f *fakeGitHub) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// ghError answers as GitHub does: a message, the documentation URL and,
// for 422s, the errors array.
func ghError(w http.ResponseWriter, status int, msg string, errs ...map[string]string) {
	body := map[string]any{"message": msg, "documentation_url": "https://docs.github.com/rest", "status": strconv.Itoa(status)}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body strictly: unknown fields and trailing data are
// a 400, as a shape the fake does not expect is a bug in the client.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		ghError(w, 415, "Content-Type must be application/json, not "+ct)
		return false
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		ghError(w, 400, "Problems parsing JSON: "+err.Error())
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		ghError(w, 400, "Problems parsing JSON: data after the object")
		return false
	}
	return true
}

func (f *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	fault := f.fault
	f.mu.Unlock()
	if fault != nil && fault(w, r) {
		return
	}
	// What GitHub asks every call to send (its media type, and the API
	// version the client is written against).
	if accept := r.Header.Get("Accept"); (accept != "application/vnd.github+json" && !strings.HasPrefix(accept, "application/vnd.github.")) ||
		r.Header.Get("X-GitHub-Api-Version") != "2022-11-28" {
		ghError(w, 415, fmt.Sprintf("unexpected Accept %q or API version %q", r.Header.Get("Accept"), r.Header.Get("X-GitHub-Api-Version")))
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == "POST" && len(parts) == 4 && parts[0] == "app" && parts[1] == "installations" && parts[3] == "access_tokens":
		f.mintToken(w, r, parts[2])
	case r.Method == "GET" && len(parts) == 4 && parts[0] == "repos" && parts[3] == "installation":
		f.repoInstallation(w, r, parts[1]+"/"+parts[2])
	case r.Method == "DELETE" && r.URL.Path == "/installation/token":
		value := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		_, known := f.tokens[value]
		delete(f.tokens, value)
		f.mu.Unlock()
		if !known {
			ghError(w, 401, "Bad credentials")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case len(parts) >= 3 && parts[0] == "repos":
		f.repoCall(w, r, parts[1]+"/"+parts[2], parts[3:])
	default:
		ghError(w, 404, "Not Found")
	}
}

// checkJWT checks the App's JWT as GitHub does, by hand (not with the
// library that signed it): RS256 over header.claims under the App's
// public key, iss the App id, iat and exp integers with iat not in the
// future, exp in the future and at most 10 minutes away.
func (f *fakeGitHub) checkJWT(w http.ResponseWriter, r *http.Request) bool {
	fail := func(msg string) bool { ghError(w, 401, msg); return false }
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	parts := strings.Split(tok, ".")
	if !ok || len(parts) != 3 {
		return fail("A JSON web token could not be decoded")
	}
	var header struct{ Alg, Typ string }
	var claims map[string]any
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return fail("A JSON web token could not be decoded")
	}
	if header.Alg != "RS256" {
		return fail("A JSON web token could not be decoded (alg " + header.Alg + ")")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(f.pub, crypto.SHA256, digest[:], sig) != nil {
		return fail("A JSON web token could not be decoded (signature)")
	}
	if fmt.Sprint(claims["iss"]) != strconv.FormatInt(f.appID, 10) {
		return fail(fmt.Sprintf("'Issuer' claim ('iss') must be an Integer: %v is not this App", claims["iss"]))
	}
	now := f.now().Unix()
	iat, okI := integer(claims["iat"])
	exp, okE := integer(claims["exp"])
	switch {
	case !okI || iat > now:
		return fail("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued")
	case !okE || exp <= now:
		return fail("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")
	case exp > now+600:
		return fail("'Expiration time' claim ('exp') is too far in the future")
	}
	return true
}

// integer accepts a JSON number without a fraction, as GitHub does.
func integer(v any) (int64, bool) {
	n, ok := v.(float64)
	if !ok || n != float64(int64(n)) {
		return 0, false
	}
	return int64(n), true
}

func (f *fakeGitHub) mintToken(w http.ResponseWriter, r *http.Request, idStr string) {
	if !f.checkJWT(w, r) {
		return
	}
	id, _ := strconv.ParseInt(idStr, 10, 64)
	var req tokenRequest
	if !decode(w, r, &req) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	req.Installation = id
	f.minted = append(f.minted, req)
	inst, ok := f.installations[id]
	if !ok {
		ghError(w, 404, "Not Found")
		return
	}
	var full []string
	for _, name := range req.Repositories {
		found := ""
		for _, rp := range inst.repos {
			if strings.HasSuffix(rp, "/"+name) {
				found = rp
			}
		}
		if found == "" {
			ghError(w, 422, "There is at least one repository that does not exist or is not accessible to the parent installation.")
			return
		}
		full = append(full, found)
	}
	if len(full) != 1 {
		// GitHub would mint a token for every repository: sandstep never asks that.
		ghError(w, 422, fmt.Sprintf("the fake mints only single-repository tokens, asked %d", len(full)))
		return
	}
	perms := req.Permissions
	if len(perms) == 0 {
		perms = inst.perms // GitHub's default: everything granted
	}
	for k, v := range perms {
		if g := inst.perms[k]; g == "" || (v == "write" && g != "write") {
			ghError(w, 422, "The permissions requested are not granted to this installation.")
			return
		}
	}
	granted := map[string]string{"metadata": "read"}
	for k, v := range perms {
		granted[k] = v
	}
	f.nextID++
	value := fmt.Sprintf("ghs_fake%dx%s", f.nextID, strings.Repeat("0", 24))
	exp := f.now().Add(time.Hour).Truncate(time.Second)
	f.tokens[value] = fakeToken{installation: id, repo: full[0], perms: granted, expires: exp}
	reply(w, 201, map[string]any{
		"token": value, "expires_at": exp.UTC().Format(time.RFC3339), "permissions": granted,
		"repository_selection": "selected",
		"repositories":         []map[string]any{{"name": strings.SplitN(full[0], "/", 2)[1], "full_name": full[0]}},
	})
}

func (f *fakeGitHub) repoInstallation(w http.ResponseWriter, r *http.Request, repo string) {
	if !f.checkJWT(w, r) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, inst := range f.installations {
		for _, rp := range inst.repos {
			if strings.EqualFold(rp, repo) {
				reply(w, 200, map[string]any{"id": id, "app_id": f.appID, "target_type": "Organization"})
				return
			}
		}
	}
	ghError(w, 404, "Not Found")
}

// need says which permission each repository endpoint needs.
func need(method string, rest []string) (perm, level string) {
	switch {
	case len(rest) == 0 && method == "GET":
		return "metadata", "read"
	case len(rest) == 3 && rest[0] == "collaborators" && rest[2] == "permission" && method == "GET":
		return "metadata", "read"
	case len(rest) == 3 && rest[0] == "issues" && rest[2] == "comments" && method == "POST",
		len(rest) == 3 && rest[0] == "issues" && rest[1] == "comments" && method == "PATCH":
		return "issues", "write"
	case len(rest) == 3 && rest[0] == "issues" && rest[2] == "comments" && method == "GET":
		return "issues", "read"
	case len(rest) == 1 && rest[0] == "pulls" && method == "POST":
		return "pull_requests", "write"
	case len(rest) == 1 && rest[0] == "pulls" && method == "GET":
		return "pull_requests", "read"
	}
	return "", ""
}

func (f *fakeGitHub) repoCall(w http.ResponseWriter, r *http.Request, repo string, rest []string) {
	perm, level := need(r.Method, rest)
	if perm == "" {
		ghError(w, 404, "Not Found")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	value, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	tok, known := f.tokens[value]
	if !ok || !known || !f.now().Before(tok.expires) {
		ghError(w, 401, "Bad credentials")
		return
	}
	rp := f.repos[strings.ToLower(repo)]
	if !strings.EqualFold(tok.repo, repo) || rp == nil {
		ghError(w, 404, "Not Found") // a repository outside the token does not exist for it
		return
	}
	if g := tok.perms[perm]; g == "" || (level == "write" && g != "write") {
		ghError(w, 403, "Resource not accessible by integration")
		return
	}
	switch {
	case len(rest) == 0:
		reply(w, 200, map[string]any{"full_name": repo, "default_branch": rp.defaultBranch})
	case rest[0] == "collaborators":
		role, ok := rp.roles[rest[1]]
		if !ok {
			ghError(w, 404, "Not Found")
			return
		}
		body := map[string]any{"permission": role[1], "user": map[string]any{"login": rest[1]}}
		if role[0] != "" {
			body["role_name"] = role[0]
		}
		reply(w, 200, body)
	case rest[0] == "issues" && r.Method == "GET":
		f.listComments(w, rp, rest)
	case rest[0] == "issues":
		f.comment(w, r, rp, rest)
	case r.Method == "POST":
		f.openPull(w, r, repo, rp)
	default:
		f.listPulls(w, r, repo, rp)
	}
}

func (f *fakeGitHub) comment(w http.ResponseWriter, r *http.Request, rp *fakeRepo, rest []string) {
	var req struct {
		Body *string `json:"body"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.Body == nil {
		ghError(w, 422, "Invalid request.\n\n\"body\" wasn't supplied.")
		return
	}
	if n := utf8.RuneCountInString(*req.Body); n > githubBodyLimit {
		ghError(w, 422, "Validation Failed", map[string]string{"resource": "IssueComment", "code": "custom", "field": "body", "message": "body is too long (maximum is 65536 characters)"})
		return
	}
	if r.Method == "PATCH" {
		id, _ := strconv.ParseInt(rest[2], 10, 64)
		if _, ok := rp.comments[id]; !ok {
			ghError(w, 404, "Not Found")
			return
		}
		rp.comments[id] = *req.Body
		reply(w, 200, map[string]any{"id": id, "body": *req.Body})
		return
	}
	f.nextID++
	rp.comments[f.nextID] = *req.Body
	rp.commentIssue[f.nextID], _ = strconv.Atoi(rest[1])
	reply(w, 201, map[string]any{"id": f.nextID, "body": *req.Body})
}

// listComments answers an issue's comments, oldest first, each written
// by the App's bot (the only writer here).
func (f *fakeGitHub) listComments(w http.ResponseWriter, rp *fakeRepo, rest []string) {
	issue, _ := strconv.Atoi(rest[1])
	out := []map[string]any{}
	for id := int64(0); id <= f.nextID; id++ {
		if body, ok := rp.comments[id]; ok && rp.commentIssue[id] == issue {
			out = append(out, map[string]any{"id": id, "body": body, "user": map[string]any{"login": "sandstep[bot]", "type": "Bot"}})
		}
	}
	reply(w, 200, out)
}

func (f *fakeGitHub) openPull(w http.ResponseWriter, r *http.Request, repo string, rp *fakeRepo) {
	var req struct {
		Title, Head, Base, Body *string
	}
	if !decode(w, r, &req) {
		return
	}
	if req.Title == nil || req.Head == nil || req.Base == nil {
		ghError(w, 422, "Validation Failed", map[string]string{"resource": "PullRequest", "code": "missing_field", "field": "title"})
		return
	}
	if !rp.branches[*req.Head] {
		ghError(w, 422, "Validation Failed", map[string]string{"resource": "PullRequest", "code": "invalid", "field": "head"})
		return
	}
	if *req.Head == *req.Base {
		ghError(w, 422, "Validation Failed", map[string]string{"resource": "PullRequest", "code": "custom", "message": "No commits between " + *req.Base + " and " + *req.Head})
		return
	}
	owner := strings.SplitN(repo, "/", 2)[0]
	for _, p := range rp.pulls {
		if p.open && p.head == *req.Head && p.base == *req.Base {
			ghError(w, 422, "Validation Failed", map[string]string{"resource": "PullRequest", "code": "custom", "message": "A pull request already exists for " + owner + ":" + p.head + "."})
			return
		}
	}
	n := len(rp.pulls) + 1
	rp.pulls = append(rp.pulls, fakePull{number: n, head: *req.Head, base: *req.Base, open: true})
	reply(w, 201, map[string]any{"number": n, "html_url": fmt.Sprintf("https://github.com/%s/pull/%d", repo, n)})
}

func (f *fakeGitHub) listPulls(w http.ResponseWriter, r *http.Request, repo string, rp *fakeRepo) {
	q := r.URL.Query()
	owner := strings.SplitN(repo, "/", 2)[0]
	out := []map[string]any{}
	for _, p := range rp.pulls {
		if (q.Get("state") == "open") != p.open || (q.Get("head") != "" && q.Get("head") != owner+":"+p.head) || (q.Get("base") != "" && q.Get("base") != p.base) {
			continue
		}
		out = append(out, map[string]any{"number": p.number, "html_url": fmt.Sprintf("https://github.com/%s/pull/%d", repo, p.number)})
	}
	reply(w, 200, out)
}

// clock is a settable time for cache and expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
