package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/githublocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// A repositories document that is absent, or named but not there, makes
// the GitHub function answer every delivery ignored, saying why: an error
// would fail each delivery, and GitHub can only send it again.
func TestGitHubDepsWithoutDocument(t *testing.T) {
	key, _, err := githublocal.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	ssm := fakeSSM(t, map[string]string{
		"/sandstep/github/app-key": string(key),
		"/sandstep/github/config":  `{"repositories": {"octo/hello": {"task": {"command": "./agent.sh"}}}}`,
	})
	tests := []struct {
		name    string
		ref     string
		allowed bool
		why     string
	}{
		{"a document", "ssm:/sandstep/github/config", true, ""},
		{"no document", "", false, "has no repositories document"},
		{"a document not there", "ssm:/sandstep/github/missing", false, "repositories document (GITHUB_CONFIG_REF) is not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := gitHubEnv(ssm.URL, tt.ref)
			e, err := NewEnv(Options{Getenv: func(k string) string { return env[k] }, LogWriter: &syncBuffer{}})
			if err != nil {
				t.Fatal(err)
			}
			var deps service.Deps
			if err := e.gitHubDeps(context.Background(), &deps); err != nil {
				t.Fatalf("gitHubDeps: %v", err)
			}
			if deps.Repositories == nil || deps.Collaborators == nil {
				t.Fatal("no repositories policy: every delivery would fail")
			}
			_, err = deps.Repositories.Task(context.Background(), "octo/hello", 7)
			if tt.allowed {
				if err != nil {
					t.Errorf("Task = %v, want the document's task", err)
				}
				return
			}
			// The service answers not_found "ignored", with its message.
			if sandstep.ErrorCode(err) != sandstep.ENOTFOUND || !strings.Contains(sandstep.ErrorMessage(err), tt.why) {
				t.Errorf("Task = %v, want not_found saying %q", err, tt.why)
			}
		})
	}
}

// A document that cannot be read stops the cold start, naming what is
// wrong by its path in the document.
func TestABadRepositoriesDocumentNamesItsPath(t *testing.T) {
	tests := []struct {
		name, doc, says string
	}{
		{"an unknown field", `{"repositories": {"octo/hello": {"task": {"command": "x", "sandbox": {"imagee": "y"}}}}}`,
			"GITHUB_CONFIG_REF: repositories.octo/hello.task.sandbox.imagee: unknown field"},
		{"a task without a command", `{"repositories": {"octo/hello": {"task": {}}}}`, "GITHUB_CONFIG_REF: repositories.octo/hello.task.command: is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ssm := fakeSSM(t, map[string]string{"/sandstep/github/config": tt.doc})
			env := gitHubEnv(ssm.URL, "ssm:/sandstep/github/config")
			e, err := NewEnv(Options{Getenv: func(k string) string { return env[k] }, LogWriter: &syncBuffer{}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Repositories(context.Background()); err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("Repositories = %v, want an error saying %q", err, tt.says)
			}
		})
	}
}

// A repositories document put after the deployment takes effect within
// docRetry on an instance that found none, with no read per delivery
// before that.
func TestRepositoriesDocumentPutLater(t *testing.T) {
	e, put, reads := documentPutLater(t, `{"repositories": {"octo/hello": {"task": {"command": "./agent.sh"}}}}`)
	start := time.Now()
	var at atomic.Int64
	e.now = func() time.Time { return start.Add(time.Duration(at.Load())) }
	ctx := context.Background()
	var deps service.Deps
	if err := e.gitHubDeps(ctx, &deps); err != nil {
		t.Fatalf("gitHubDeps: %v", err)
	}
	put.Store(true)
	steps := []struct {
		name    string
		at      time.Duration
		allowed bool
		reads   int32 // of SSM, by this step
	}{
		{"just after the start", time.Second, false, 0},
		{"a moment before docRetry", docRetry - time.Second, false, 0},
		{"at docRetry: read again, found", docRetry, true, 1},
		{"then kept", 2 * docRetry, true, 0},
	}
	for _, s := range steps {
		at.Store(int64(s.at))
		n := reads.Load()
		_, err := deps.Repositories.Task(ctx, "octo/hello", 7)
		if s.allowed != (err == nil) {
			t.Fatalf("%s: Task = %v, want allowed %v", s.name, err, s.allowed)
		}
		if got := reads.Load() - n; got != s.reads {
			t.Fatalf("%s: %d reads of SSM, want %d", s.name, got, s.reads)
		}
	}
}

// A repositories document found after the cold start whose task no issue
// could start is not acted on: each delivery is ignored, saying which
// field, as the service would have refused it at the cold start.
func TestRepositoriesDocumentPutLaterWithABadTask(t *testing.T) {
	e, put, _ := documentPutLater(t, `{"repositories": {"octo/hello": {"task": {"command": "./agent.sh", "sandbox": {"snapshot": "s", "resources": {"cpu": 4}}}}}}`)
	start := time.Now()
	e.now = func() time.Time {
		if put.Load() {
			return start.Add(docRetry)
		}
		return start
	}
	ctx := context.Background()
	var deps service.Deps
	if err := e.gitHubDeps(ctx, &deps); err != nil {
		t.Fatalf("gitHubDeps: %v", err)
	}
	// As service.New does.
	if err := deps.Repositories.CheckTasks(func(_ string, task service.TaskInput) error {
		if task.Sandbox.Resources != nil && task.Sandbox.Image == "" {
			return sandstep.Invalid("sandbox.resources", "can only be set together with image")
		}
		return nil
	}); err != nil {
		t.Fatalf("CheckTasks before the document is found = %v", err)
	}
	put.Store(true)
	_, err := deps.Repositories.Task(ctx, "octo/hello", 7)
	if want := "repositories.octo/hello.task.sandbox.resources: can only be set together with image"; sandstep.ErrorCode(err) != sandstep.ENOTFOUND || !strings.Contains(sandstep.ErrorMessage(err), want) {
		t.Errorf("Task = %v, want not_found saying %q", err, want)
	}
}

// documentPutLater is a GitHub function's Env whose repositories document
// doc is in SSM only once put is set; reads counts the requests to SSM.
func documentPutLater(t *testing.T, doc string) (e *Env, put *atomic.Bool, reads *atomic.Int32) {
	t.Helper()
	key, _, err := githublocal.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]string{"/sandstep/github/app-key": string(key)}
	before := fakeSSM(t, params)
	params = maps.Clone(params)
	params["/sandstep/github/config"] = doc
	after := fakeSSM(t, params)
	put, reads = &atomic.Bool{}, &atomic.Int32{}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reads.Add(1)
		to := before
		if put.Load() {
			to = after
		}
		u, _ := url.Parse(to.URL)
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	env := gitHubEnv(front.URL, "ssm:/sandstep/github/config")
	if e, err = NewEnv(Options{Getenv: func(k string) string { return env[k] }, LogWriter: &syncBuffer{}}); err != nil {
		t.Fatal(err)
	}
	return e, put, reads
}

// gitHubEnv is the environment of a GitHub function in AWS whose
// parameters are kept in the SSM at ssmURL, its document at ref.
func gitHubEnv(ssmURL, ref string) map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL_SSM":      ssmURL,
		"TABLE_NAME":                "sandstep",
		"DAYTONA_API_KEY_REF":       "ssm:/sandstep/daytona-api-key",
		"AWS_REGION":                "eu-west-1",
		"AWS_ACCESS_KEY_ID":         "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY":     "dummy-secret-access-key",
		"GITHUB_APP_ID":             "1",
		"GITHUB_APP_KEY_REF":        "ssm:/sandstep/github/app-key",
		"GITHUB_WEBHOOK_SECRET_REF": "ssm:/sandstep/github/webhook-secret",
		"GITHUB_CONFIG_REF":         ref,
	}
}

// deliveries numbers signedDelivery's deliveries, each its own.
var deliveries atomic.Int64

// signedDelivery is GitHub's ping delivery of body signed with secret,
// as API Gateway hands it to the GitHub function.
func signedDelivery(secret, body string) events.APIGatewayV2HTTPRequest {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	n := deliveries.Add(1)
	var ev events.APIGatewayV2HTTPRequest
	ev.RouteKey = api.RouteGitHubWebhook
	ev.RawPath = "/webhooks/github"
	ev.RequestContext.HTTP.Method = http.MethodPost
	ev.RequestContext.HTTP.Path = "/webhooks/github"
	ev.RequestContext.RequestID = fmt.Sprintf("req-%d", n)
	ev.Headers = map[string]string{"content-type": "application/json", "x-hub-signature-256": "sha256=" + hex.EncodeToString(mac.Sum(nil)),
		"x-github-event": "ping", "x-github-delivery": fmt.Sprintf("d-%d", n)}
	ev.Body = body
	return ev
}
