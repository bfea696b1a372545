package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sandstep/sandstep/internal/cost"
	"github.com/sandstep/sandstep/internal/logging"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/testutil"
	"github.com/sandstep/sandstep/internal/webhook"
)

// recorded is one call on fakeService.
type recorded struct {
	method string
	call   service.Call
	id     string
	// limit is the page size asked for, 0 when none was.
	limit  int
	cursor string
	in     any
	// What the context carried for the log lines.
	ctxRequestID, ctxUserID, ctxSandboxID string
	// meter is what the context's usage meter held (nil: no meter).
	meter *sandstep.TaskUsage
	// deadline is the context's deadline, zero if it had none.
	deadline time.Time
}

// fakeService records calls and answers canned results, or err (errFor
// overrides it per sandbox id).
type fakeService struct {
	mu     sync.Mutex
	calls  []recorded
	err    error
	errFor map[string]error
	// nilResult makes every method answer (nil, nil).
	nilResult bool
	stdout    string
	// outcomes makes CleanUpTask answer a failed task's outcome error.
	outcomes bool
}

var testTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (f *fakeService) record(ctx context.Context, r recorded) error {
	r.ctxRequestID = logging.RequestID(ctx)
	r.ctxUserID = logging.UserID(ctx)
	r.ctxSandboxID = logging.SandboxID(ctx)
	r.deadline, _ = ctx.Deadline()
	if m := cost.MeterFrom(ctx); m != nil {
		p := m.Pending()
		r.meter = &p
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r)
	if err, ok := f.errFor[r.id]; ok {
		return err
	}
	return f.err
}

func (f *fakeService) recordedCalls() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.calls...)
}

func (f *fakeService) sandbox(id, owner string) *sandstep.Sandbox {
	if f.nilResult {
		return nil
	}
	if id == "" {
		id = "sbx_created"
	}
	return &sandstep.Sandbox{ID: id, Owner: owner, State: sandstep.StateReady, CreatedAt: testTime, UpdatedAt: testTime}
}

func (f *fakeService) CreateSandbox(ctx context.Context, call service.Call, in service.CreateSandboxInput) (*sandstep.Sandbox, error) {
	if err := f.record(ctx, recorded{method: "CreateSandbox", call: call, in: in}); err != nil {
		return nil, err
	}
	return f.sandbox("", call.UserID), nil
}

func (f *fakeService) GetSandbox(ctx context.Context, call service.Call, id string) (*sandstep.Sandbox, error) {
	if err := f.record(ctx, recorded{method: "GetSandbox", call: call, id: id}); err != nil {
		return nil, err
	}
	return f.sandbox(id, call.UserID), nil
}

func (f *fakeService) ListSandboxes(ctx context.Context, call service.Call, in service.SandboxListInput) (*service.SandboxList, error) {
	r := recorded{method: "ListSandboxes", call: call, cursor: in.Cursor}
	if in.Limit != nil {
		r.limit = *in.Limit
	}
	if err := f.record(ctx, r); err != nil {
		return nil, err
	}
	if f.nilResult {
		return nil, nil
	}
	return &service.SandboxList{Items: []*sandstep.Sandbox{f.sandbox("sbx_one", call.UserID)}, NextCursor: "next"}, nil
}

func (f *fakeService) Exec(ctx context.Context, call service.Call, id string, in service.ExecInput) (*service.ExecResult, error) {
	if err := f.record(ctx, recorded{method: "Exec", call: call, id: id, in: in}); err != nil {
		return nil, err
	}
	if f.nilResult {
		return nil, nil
	}
	return &service.ExecResult{ExitCode: 3, Stdout: f.stdout, Stderr: "warn\n", DurationMs: 12}, nil
}

func (f *fakeService) DeleteSandbox(ctx context.Context, call service.Call, id string) (*sandstep.Sandbox, error) {
	if err := f.record(ctx, recorded{method: "DeleteSandbox", call: call, id: id}); err != nil {
		return nil, err
	}
	sb := f.sandbox(id, call.UserID)
	if sb != nil {
		sb.State = sandstep.StateDeleted
	}
	return sb, nil
}

func (f *fakeService) AgentExecute(ctx context.Context, call service.Call, in service.AgentExecuteInput) (*service.AgentExecuteResult, error) {
	if err := f.record(ctx, recorded{method: "AgentExecute", call: call, in: in}); err != nil {
		return nil, err
	}
	if f.nilResult {
		return nil, nil
	}
	return &service.AgentExecuteResult{ExecResult: service.ExecResult{Stdout: "agent\n"}, SandboxID: "sbx_agent", Deleted: true}, nil
}

var _ Service = (*fakeService)(nil)

// The lead's service must satisfy the interface this package consumes.
var _ Service = (*service.Service)(nil)

// testTaskID is the task id of test events.
const testTaskID = "tsk_aaaaaaaaaaaaaaaaaaaaaaaaaa"

// evOption changes a test event.
type evOption func(*events.APIGatewayV2HTTPRequest)

// apiEvent returns an API Gateway event for routeKey as API Gateway sends
// it for an authenticated user "user-1", with path id "sbx_one" when the
// route has one; an administrators' route's for user-1 as an
// administrator, on testUserID.
func apiEvent(routeKey string, opts ...evOption) events.APIGatewayV2HTTPRequest {
	method, path, _ := strings.Cut(routeKey, " ")
	ev := events.APIGatewayV2HTTPRequest{
		Version:  "2.0",
		RouteKey: routeKey,
		Headers:  map[string]string{"content-type": "application/json"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:  routeKey,
			RequestID: "req-1",
			Stage:     "$default",
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
					Claims: map[string]string{"sub": "user-1", "iss": "https://issuer.example"},
				},
			},
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method},
		},
	}
	if strings.Contains(path, "{id}") {
		id := "sbx_one"
		if routes[routeKey].task {
			id = testTaskID
		}
		path = strings.ReplaceAll(path, "{id}", id)
		ev.PathParameters = map[string]string{"id": id}
	}
	if routes[routeKey].admin {
		path = strings.ReplaceAll(path, "{userId}", testUserID)
		ev.PathParameters = map[string]string{"userId": testUserID}
		ev.RequestContext.Authorizer.JWT.Claims[testAdminClaim] = "[" + testAdminGroup + "]"
	}
	ev.RawPath = path
	ev.RequestContext.HTTP.Path = path
	switch routeKey {
	case RouteExec:
		ev.Body = `{"command":"echo hi"}`
	case RouteAgentExecute:
		ev.Body = `{"command":"echo hi"}`
	case RouteCreateSandbox:
		ev.Body = `{"image":"alpine:3"}`
	case RouteStartTask:
		ev.Body = `{"sandbox":{"image":"alpine:3"},"command":"make test"}`
	case RouteSetUserLimit:
		ev.Body = `{"limit":1}`
	case RouteNudgeTask:
		ev.RequestContext.Authorizer = nil
		ev.Headers["authorization"] = "Bearer nudge-secret"
	case RouteGitHubWebhook:
		ev.RequestContext.Authorizer = nil
		ev.Body = `{"action":"labeled","label":{"name":"sandstep"},"issue":{"number":1,"title":"t"},` +
			`"repository":{"full_name":"o/r"},"sender":{"login":"u","type":"User"},"installation":{"id":1}}`
		mac := hmac.New(sha256.New, []byte(testWebhookSecret))
		mac.Write([]byte(ev.Body))
		ev.Headers["x-hub-signature-256"] = "sha256=" + hex.EncodeToString(mac.Sum(nil))
		ev.Headers["x-github-event"] = "issues"
		ev.Headers["x-github-delivery"] = "delivery-1"
	}
	for _, o := range opts {
		o(&ev)
	}
	return ev
}

func withBody(body string) evOption {
	return func(ev *events.APIGatewayV2HTTPRequest) { ev.Body = body }
}

func withHeader(k, v string) evOption {
	return func(ev *events.APIGatewayV2HTTPRequest) { ev.Headers[k] = v }
}

func withQuery(k, v string) evOption {
	return func(ev *events.APIGatewayV2HTTPRequest) {
		if ev.QueryStringParameters == nil {
			ev.QueryStringParameters = map[string]string{}
		}
		ev.QueryStringParameters[k] = v
	}
}

func withClaims(claims map[string]string) evOption {
	return func(ev *events.APIGatewayV2HTTPRequest) {
		ev.RequestContext.Authorizer.JWT.Claims = claims
	}
}

// decodeError parses an error answer.
func decodeErrorBody(t *testing.T, res events.APIGatewayV2HTTPResponse) ErrorDetail {
	t.Helper()
	var body ErrorResponse
	dec := json.NewDecoder(strings.NewReader(res.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("error body %q: %v", res.Body, err)
	}
	return body.Error
}

// logBuffer collects JSON log records.
type logBuffer struct{ testutil.Buffer }

func (l *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// newTestAPI returns an API over svc logging into the returned buffer.
// testMaxBody is config's MAX_BODY_BYTES default.
const testMaxBody = 4 << 20

// testWebhookSecret signs events/github-api.json (make local's secret).
const testWebhookSecret = "local-webhook-secret"

func newTestAPI(svc Service, opts Options) (*API, *logBuffer) {
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = testMaxBody
	}
	if opts.GitHub.Secret == nil {
		opts.GitHub = GitHubOptions{Secret: func(context.Context) ([]byte, error) { return []byte(testWebhookSecret), nil },
			Triggers: webhook.Triggers{Label: "sandstep", Command: "/sandstep"}}
	}
	if opts.Admin == (AdminOptions{}) {
		opts.Admin = AdminOptions{Claim: testAdminClaim, Group: testAdminGroup}
	}
	logs := &logBuffer{}
	opts.Logger = logging.New(logs, logging.Options{Level: slog.LevelDebug})
	return New(svc, opts), logs
}
