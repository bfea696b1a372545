package githublocal

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TokenLifetime is how long an installation token lives, as on GitHub.
const TokenLifetime = time.Hour

// Permission levels, ordered: a token's level covers the ones below it.
var levels = map[string]int{"read": 1, "write": 2, "admin": 3}

// hasPermission reports whether perms grant name at level or above.
func hasPermission(perms map[string]string, name, level string) bool {
	have, ok := levels[perms[name]]
	return ok && have >= levels[level]
}

// TokenOptions narrow an installation token, as the body of POST
// /app/installations/{id}/access_tokens does.
type TokenOptions struct {
	// Repositories are names without the owner; RepositoryIDs ids. Both
	// empty: every repository of the installation.
	Repositories  []string `json:"repositories"`
	RepositoryIDs []int64  `json:"repository_ids"`
	// Permissions by GitHub's names (contents, issues, pull_requests, ...)
	// and levels (read, write, admin); nil: the installation's.
	Permissions map[string]string `json:"permissions"`
}

// issuedToken is what a token creation answers.
type issuedToken struct {
	token   string
	record  *tokenRecord
	inst    *installationRecord
	repos   []*repoRecord // nil unless the request named repositories
	granted string        // repository_selection
}

// issueLocked makes a token of inst narrowed by opts, after GitHub's
// checks: every permission within the installation's, every repository
// one the installation reaches.
func (s *Server) issueLocked(inst *installationRecord, opts TokenOptions) (*issuedToken, *apiError) {
	perms := maps.Clone(inst.Permissions)
	if opts.Permissions != nil {
		perms = map[string]string{}
		for name, level := range opts.Permissions {
			if _, ok := levels[level]; !ok {
				return nil, validationFailed(docsToken, fieldError{Resource: "Permission", Field: name, Code: "invalid",
					Message: fmt.Sprintf("%q is not a permission level (read, write or admin)", level)})
			}
			if !hasPermission(inst.Permissions, name, level) {
				return nil, &apiError{status: http.StatusUnprocessableEntity, message: "The permissions requested are not granted to this installation.", docs: docsToken}
			}
			perms[name] = level
		}
	}
	// Every token may read the metadata of its repositories.
	if !hasPermission(perms, "metadata", "read") {
		perms["metadata"] = "read"
	}

	var repos []*repoRecord
	refused := &apiError{status: http.StatusUnprocessableEntity,
		message: "There is at least one repository that does not exist or is not accessible to the parent installation.", docs: docsToken}
	for _, name := range opts.Repositories {
		r, ok := s.st.repo(inst.Account, name)
		if !ok || !inst.reaches(r) {
			return nil, refused
		}
		repos = append(repos, r)
	}
	for _, id := range opts.RepositoryIDs {
		r, ok := s.st.repoByID(id)
		if !ok || !inst.reaches(r) {
			return nil, refused
		}
		if !slices.Contains(repos, r) {
			repos = append(repos, r)
		}
	}

	rec := &tokenRecord{InstallationID: inst.ID, ExpiresAt: s.now().Add(TokenLifetime).UTC().Truncate(time.Second), Permissions: perms}
	selection := "all"
	if inst.Repositories != nil {
		selection = "selected"
	}
	if repos != nil {
		selection = "selected"
		for _, r := range repos {
			rec.Repositories = append(rec.Repositories, r.ID)
		}
	}
	tok := newToken()
	s.st.Tokens[tokenKey(tok)] = rec
	return &issuedToken{token: tok, record: rec, inst: inst, repos: repos, granted: selection}, nil
}

// newToken makes a token in the form of GitHub's installation tokens:
// ghs_ and 36 letters and digits.
func newToken() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 36)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "ghs_" + string(b)
}

func tokenKey(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// CreateToken issues an installation token as POST
// /app/installations/{id}/access_tokens does, without the App's JWT: for
// tests that need a token of their own. It returns the token and its
// expiry.
func (s *Server) CreateToken(installationID int64, opts TokenOptions) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, ok := s.st.Installations[installationID]
	if !ok {
		return "", time.Time{}, fmt.Errorf("githublocal: no installation %d", installationID)
	}
	it, aerr := s.issueLocked(inst, opts)
	if aerr != nil {
		return "", time.Time{}, fmt.Errorf("githublocal: installation %d: %s", installationID, aerr.message)
	}
	if err := s.saveLocked(); err != nil {
		return "", time.Time{}, err
	}
	return it.token, it.record.ExpiresAt, nil
}

// createToken is POST /app/installations/{id}/access_tokens.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	app, aerr := s.authApp(r)
	if aerr != nil {
		s.refuse(w, r, aerr)
		return
	}
	var opts TokenOptions
	if !s.decodeBody(w, r, &opts, docsToken) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.appInstallationLocked(w, r, app, docsToken)
	if inst == nil {
		return
	}
	it, aerr := s.issueLocked(inst, opts)
	if aerr != nil {
		s.refuse(w, r, aerr)
		return
	}
	if err := s.saveLocked(); err != nil {
		s.fail(w, r, err)
		return
	}
	base := baseURL(r)
	out := tokenJSON{Token: it.token, ExpiresAt: timestamp(it.record.ExpiresAt), Permissions: it.record.Permissions, RepositorySelection: it.granted}
	for _, repo := range it.repos {
		out.Repositories = append(out.Repositories, s.repoJSONLocked(base, repo))
	}
	writeJSON(w, http.StatusCreated, out)
}

// appInstallationLocked is the App's installation the path's id names,
// or nil when the request was answered not found: another App's
// installation is not found, as on GitHub.
func (s *Server) appInstallationLocked(w http.ResponseWriter, r *http.Request, app *appRecord, docs string) *installationRecord {
	n, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	inst, ok := s.st.Installations[n]
	if err != nil || !ok || inst.AppID != app.ID {
		s.refuse(w, r, notFound(docs))
		return nil
	}
	return inst
}

// getInstallation is GET /app/installations/{id}.
func (s *Server) getInstallation(w http.ResponseWriter, r *http.Request) {
	app, aerr := s.authApp(r)
	if aerr != nil {
		s.refuse(w, r, aerr)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.appInstallationLocked(w, r, app, docsInstall)
	if inst == nil {
		return
	}
	writeJSON(w, http.StatusOK, s.installationJSONLocked(baseURL(r), inst))
}

// getRepoInstallation is GET /repos/{owner}/{repo}/installation: the
// App's installation that reaches the repository.
func (s *Server) getRepoInstallation(w http.ResponseWriter, r *http.Request) {
	app, aerr := s.authApp(r)
	if aerr != nil {
		s.refuse(w, r, aerr)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.st.repo(r.PathValue("owner"), r.PathValue("repo"))
	if ok {
		for _, id := range slices.Sorted(maps.Keys(s.st.Installations)) {
			if inst := s.st.Installations[id]; inst.AppID == app.ID && inst.reaches(repo) {
				writeJSON(w, http.StatusOK, s.installationJSONLocked(baseURL(r), inst))
				return
			}
		}
	}
	s.refuse(w, r, notFound(docsRepoInst))
}

// revokeToken is DELETE /installation/token: the token revokes itself.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, aerr := s.authTokenLocked(r)
	if aerr != nil {
		s.refuse(w, r, aerr)
		return
	}
	if c == nil {
		s.refuse(w, r, &apiError{status: http.StatusUnauthorized, message: "Requires authentication", docs: docsRevoke})
		return
	}
	delete(s.st.Tokens, c.key)
	if err := s.saveLocked(); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// caller is an authenticated installation token; nil means anonymous.
type caller struct {
	key   string
	tok   *tokenRecord
	inst  *installationRecord
	app   *appRecord
	login string // the App's bot user
}

// bearerToken reads Authorization: token X, or Bearer X, as GitHub does.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "token") && !strings.EqualFold(scheme, "bearer") {
		return "", true
	}
	return strings.TrimSpace(tok), true
}

// authTokenLocked authenticates a REST request: nil for no credentials,
// 401 for credentials that are not a live token.
func (s *Server) authTokenLocked(r *http.Request) (*caller, *apiError) {
	tok, given := bearerToken(r)
	if !given {
		return nil, nil
	}
	return s.callerLocked(tok)
}

func (s *Server) callerLocked(tok string) (*caller, *apiError) {
	k := tokenKey(tok)
	rec, ok := s.st.Tokens[k]
	if !ok || tok == "" || !s.now().Before(rec.ExpiresAt) {
		return nil, badCredentials()
	}
	inst, ok := s.st.Installations[rec.InstallationID]
	if !ok {
		return nil, badCredentials()
	}
	app := s.st.Apps[inst.AppID]
	return &caller{key: k, tok: rec, inst: inst, app: app, login: botLogin(app)}, nil
}

// botLogin is the user an App acts as.
func botLogin(app *appRecord) string { return app.Slug + "[bot]" }

// covers reports whether the caller's token reaches repo.
func (c *caller) covers(repo *repoRecord) bool {
	if c == nil || !c.inst.reaches(repo) {
		return false
	}
	return c.tok.Repositories == nil || slices.Contains(c.tok.Repositories, repo.ID)
}

// need is one permission that suffices for a request.
type need struct{ name, level string }

// authorizeLocked decides a request on repo by the caller's token: any one
// of needs suffices. As on GitHub, a private repository the token does
// not reach is not found, a public one may be read by anyone, and what
// the token's permissions do not cover is 403.
func authorizeLocked(c *caller, repo *repoRecord, write bool, docs string, needs ...need) *apiError {
	if !c.covers(repo) {
		switch {
		case repo.Private:
			return notFound(docs)
		case !write:
			return nil
		case c == nil:
			return &apiError{status: http.StatusUnauthorized, message: "Requires authentication", docs: docs}
		default:
			return notAccessible(docs)
		}
	}
	if len(needs) == 0 {
		// The caller checks the permissions once it knows what it needs.
		return nil
	}
	for _, n := range needs {
		if hasPermission(c.tok.Permissions, n.name, n.level) {
			return nil
		}
	}
	if !write && !repo.Private {
		return nil
	}
	return notAccessible(docs)
}

// basicToken reads the token of git's basic auth: the password (GitHub's
// x-access-token:<token>), or a token given as the user name alone.
func basicToken(r *http.Request) (string, bool) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		if _, given := r.Header["Authorization"]; given {
			return "", true
		}
		return "", false
	}
	if pass == "" {
		return user, true
	}
	return pass, true
}
