package githublocal

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sandstep/sandstep/internal/dirlock"
)

// Options configure a Server.
type Options struct {
	// Dir holds the state (state.json) and the bare repositories
	// (repos/<owner>/<name>.git); it is made if missing and kept. One
	// server at a time may use a Dir.
	Dir string
	// Now is the clock of token expiry, JWT checks and timestamps; nil:
	// time.Now. Tests move it to expire tokens.
	Now func() time.Time
	// Logger receives a line per refused request and per git failure
	// (never a token); nil discards.
	Logger *slog.Logger
	// Git is the git binary; empty: git on PATH.
	Git string
}

// Server is the stand-in: an http.Handler for the REST API and git's
// smart HTTP, plus the helpers that set it up and read it back.
type Server struct {
	dir, statePath, reposDir string
	git                      string
	now                      func() time.Time
	log                      *slog.Logger
	mux                      *http.ServeMux
	lock                     *os.File

	mu sync.Mutex
	st *state
}

// New opens (or creates) the stand-in's state under opts.Dir.
func New(opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("githublocal: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("githublocal: %w", err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Git == "" {
		opts.Git = "git"
	}
	git, err := exec.LookPath(opts.Git)
	if err != nil {
		return nil, fmt.Errorf("githublocal: the repositories are served by git http-backend: %w", err)
	}
	s := &Server{
		dir: dir, statePath: filepath.Join(dir, "state.json"), reposDir: filepath.Join(dir, "repos"),
		git: git, now: opts.Now, log: opts.Logger, mux: http.NewServeMux(),
	}
	if err := os.MkdirAll(s.reposDir, 0o700); err != nil {
		return nil, fmt.Errorf("githublocal: %w", err)
	}
	if s.lock, err = dirlock.Lock(dir, "githublocal"); err != nil {
		return nil, fmt.Errorf("githublocal: %w", err)
	}
	if s.st, err = loadState(s.statePath); err != nil {
		s.lock.Close()
		return nil, fmt.Errorf("githublocal: %w", err)
	}
	// The hook is the stand-in's code, not state: written again at every
	// start so a kept repository gets the current one.
	for _, r := range s.st.Repos {
		if err := writeHooks(s.repoDir(r)); err != nil {
			s.lock.Close()
			return nil, fmt.Errorf("githublocal: repository %s: %w", r.fullName(), err)
		}
	}
	s.routes()
	return s, nil
}

// Close releases the directory; the state is already on disk. Requests
// still in flight belong to the http.Server serving them.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close()
	s.lock = nil
	return err
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("POST /app/installations/{id}/access_tokens", s.createToken)
	m.HandleFunc("GET /app/installations/{id}", s.getInstallation)
	m.HandleFunc("GET /repos/{owner}/{repo}/installation", s.getRepoInstallation)
	m.HandleFunc("DELETE /installation/token", s.revokeToken)
	m.HandleFunc("GET /repos/{owner}/{repo}", s.getRepo)
	m.HandleFunc("GET /repos/{owner}/{repo}/collaborators/{user}/permission", s.getPermission)
	m.HandleFunc("POST /repos/{owner}/{repo}/issues/{number}/comments", s.createComment)
	// One pattern for both GETs: .../issues/{number}/comments and
	// .../issues/comments/{id} overlap for ServeMux.
	m.HandleFunc("GET /repos/{owner}/{repo}/issues/{a}/{b}", s.getIssuePath)
	m.HandleFunc("PATCH /repos/{owner}/{repo}/issues/comments/{id}", s.updateComment)
	m.HandleFunc("POST /repos/{owner}/{repo}/pulls", s.createPull)
	m.HandleFunc("GET /repos/{owner}/{repo}/pulls", s.listPulls)
	m.HandleFunc("GET /repos/{owner}/{repo}/branches/{branch...}", s.getBranch)
}

// ServeHTTP serves git's smart HTTP under /<owner>/<repo>.git/ and the
// REST API at the root (also under /api/v3/, where GitHub Enterprise
// serves it and go-github's WithEnterpriseURLs points).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if owner, name, rest, ok := splitGitPath(r.URL.Path); ok {
		s.serveGit(w, r, owner, name, rest)
		return
	}
	if p, ok := strings.CutPrefix(r.URL.Path, "/api/v3/"); ok {
		r = r.Clone(r.Context())
		r.URL.Path = "/" + p
		r.URL.RawPath = strings.TrimPrefix(r.URL.RawPath, "/api/v3")
	}
	w.Header().Set("X-GitHub-Media-Type", "github.v3; format=json")
	w.Header().Set("X-GitHub-Request-Id", requestID())
	if _, pattern := s.mux.Handler(r); pattern == "" {
		notFound(docsREST).write(w)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func requestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// Documentation URLs of the error bodies, as GitHub links them.
const (
	docsREST     = "https://docs.github.com/rest"
	docsToken    = "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app"
	docsInstall  = "https://docs.github.com/rest/apps/apps#get-an-installation-for-the-authenticated-app"
	docsRepoInst = "https://docs.github.com/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app"
	docsRevoke   = "https://docs.github.com/rest/apps/installations#revoke-an-installation-access-token"
	docsRepo     = "https://docs.github.com/rest/repos/repos#get-a-repository"
	docsPerm     = "https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user"
	docsComments = "https://docs.github.com/rest/issues/comments"
	docsPulls    = "https://docs.github.com/rest/pulls/pulls"
	docsBranch   = "https://docs.github.com/rest/branches/branches#get-a-branch"
)

// apiError is an error answer in GitHub's shape.
type apiError struct {
	status  int
	message string
	docs    string
	errors  []fieldError
}

// fieldError is one entry of a 422's errors.
type fieldError struct {
	Resource string `json:"resource,omitempty"`
	Field    string `json:"field,omitempty"`
	Code     string `json:"code"`
	Message  string `json:"message,omitempty"`
}

func (e *apiError) write(w http.ResponseWriter) {
	body := struct {
		Message string       `json:"message"`
		Errors  []fieldError `json:"errors,omitempty"`
		Docs    string       `json:"documentation_url"`
		Status  string       `json:"status"`
	}{e.message, e.errors, e.docs, strconv.Itoa(e.status)}
	writeJSON(w, e.status, body)
}

func notFound(docs string) *apiError {
	return &apiError{status: http.StatusNotFound, message: "Not Found", docs: docs}
}

func badCredentials() *apiError {
	return &apiError{status: http.StatusUnauthorized, message: "Bad credentials", docs: docsREST}
}

func notAccessible(docs string) *apiError {
	return &apiError{status: http.StatusForbidden, message: "Resource not accessible by integration", docs: docs}
}

func validationFailed(docs string, errs ...fieldError) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, message: "Validation Failed", docs: docs, errors: errs}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decodeBody reads a JSON request body into v; false means it was not
// JSON, and was answered. GitHub ignores unknown fields, and so does this.
// No body leaves v as it is: the callers check what they require.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any, docs string) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		s.refuse(w, r, &apiError{status: http.StatusBadRequest, message: "Problems parsing JSON", docs: docs})
		return false
	}
	return true
}

// baseURL is the URL the client reached the server at: the stand-in
// serves the API and the repositories on one origin.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// timestamp formats t as GitHub does: UTC, whole seconds.
func timestamp(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}
