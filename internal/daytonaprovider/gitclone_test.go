package daytonaprovider

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"

	"github.com/sandstep/sandstep/internal/daytonalocal"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// A failed clone is the caller's fault (their URL, token or branch) only
// when git said so, in the codes or words Daytona reports git's failures
// with. The proxy's 401/403/404 (our key, a sandbox it cannot reach) and
// Daytona's own failures are not: blamed on the URL, a task would fail
// for good where a retry would have cloned.
func TestGitCloneBlamesTheRepositoryOnlyForGitsOwnFailures(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		want      sandstep.Code
		wantField string
	}{
		{name: "repository not found", status: 404,
			body: `{"statusCode":404,"message":"repository not found","code":"GIT_REPO_NOT_FOUND","source":"DAYTONA_DAEMON"}`,
			want: sandstep.EINVALID, wantField: "git.url"},
		{name: "authentication failed", status: 401,
			body: `{"statusCode":401,"message":"authentication required","code":"GIT_AUTH_FAILED","source":"DAYTONA_DAEMON"}`,
			want: sandstep.EINVALID, wantField: "git.url"},
		{name: "branch not found", status: 404,
			body: `{"statusCode":404,"message":"couldn't find remote ref refs/heads/nope","code":"GIT_BRANCH_NOT_FOUND"}`,
			want: sandstep.EINVALID, wantField: "git.branch"},
		{name: "an older daemon's git message without a code", status: 400,
			body: `{"statusCode":400,"message":"repository not found"}`,
			want: sandstep.EINVALID, wantField: "git.url"},
		{name: "go-git: an empty repository", status: 404,
			body: `{"statusCode":404,"message":"not found: remote repository is empty","code":"NOT_FOUND","source":"DAYTONA_DAEMON"}`,
			want: sandstep.EINVALID, wantField: "git.url"},
		{name: "go-git: no such repository", status: 404,
			body: `{"statusCode":404,"message":"not found: repository does not exist","code":"NOT_FOUND","source":"DAYTONA_DAEMON"}`,
			want: sandstep.EINVALID, wantField: "git.url"},
		{name: "go-git: no such branch", status: 404,
			body: `{"statusCode":404,"message":"not found: branch not found","code":"NOT_FOUND","source":"DAYTONA_DAEMON"}`,
			want: sandstep.EINVALID, wantField: "git.branch"},
		{name: "the proxy does not reach the sandbox", status: 404,
			body: `{"statusCode":404,"message":"sandbox not found","code":"NOT_FOUND","source":"DAYTONA_PROXY"}`,
			want: sandstep.ETRANSIENT},
		{name: "the proxy refuses our key", status: 401,
			body: `{"statusCode":401,"message":"Unauthorized","source":"DAYTONA_PROXY"}`,
			want: sandstep.EINTERNAL},
		{name: "forbidden without git's code", status: 403,
			body: `{"statusCode":403,"message":"Forbidden","code":"FORBIDDEN"}`,
			want: sandstep.EINTERNAL},
		{name: "a bad request that is not git's", status: 400,
			body: `{"statusCode":400,"message":"invalid request body","code":"INVALID_REQUEST_BODY"}`,
			want: sandstep.EINTERNAL},
		{name: "git transport failed", status: 502,
			body: `{"statusCode":502,"message":"early EOF","code":"GIT_TRANSPORT_FAILED"}`,
			want: sandstep.ETRANSIENT},
		{name: "empty 502 from the proxy", status: 502, want: sandstep.ETRANSIENT},
		{name: "daemon failure", status: 500,
			body: `{"statusCode":500,"message":"internal error","code":"INTERNAL_SERVER_ERROR"}`,
			want: sandstep.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/toolbox/sb-1/git/clone":
					if tt.body != "" {
						w.Header().Set("Content-Type", "application/json")
					}
					w.WriteHeader(tt.status)
					io.WriteString(w, tt.body)
				case "/api/sandbox/sb-1":
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, `{"id":"sb-1","name":"sb-1","state":"started","desiredState":"started"}`)
				default:
					http.NotFound(w, r)
				}
			}))
			p := providerBehind(t, hs, Options{})
			err := p.GitClone(context.Background(), "sb-1", service.GitCloneSpec{URL: "https://example.com/o/r.git", Branch: "main", Path: "r"})
			if code, field := sandstep.ErrorCode(err), sandstep.ErrorField(err); code != tt.want || field != tt.wantField {
				t.Errorf("err = %v: %s, field %q; want %s, field %q", err, code, field, tt.want, tt.wantField)
			}
		})
	}
}

// git refuses to clone into a directory that exists and is not empty (a
// git.path the image has): the caller's input, not an internal error.
func TestCloneIntoAnExistingDirectoryIsTheCallers(t *testing.T) {
	repo := t.TempDir()
	if out, err := exec.Command("git", "init", "-q", "--bare", repo).CombinedOutput(); err != nil {
		t.Skipf("git: %v %s", err, out)
	}
	p, _ := newProviderOn(t, Options{}, daytonalocal.Options{})
	ctx := context.Background()
	id := create(t, p, "sbx-clone")
	if err := p.Upload(ctx, id, []service.UploadFile{{Path: "work/README", Content: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	err := p.GitClone(ctx, id, service.GitCloneSpec{URL: "file://" + repo, Path: "work"})
	if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != "git.path" {
		t.Errorf("clone into an existing directory: %v, want invalid_input naming git.path", err)
	}
}
