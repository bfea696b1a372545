// Package api is sandstep's Lambda edge. Each lifecycle function (create,
// execute, status, delete) serves two callers through one handler: API
// Gateway HTTP API events (payload 2.0), routed by the route table and
// answered with JSON bodies and HTTP statuses, the caller known only by the
// JWT's "sub" claim (and an administrator by the claim AdminOptions name); and direct invocations (the state machine, `sam local
// invoke`, the Invoke API), flat JSON naming the user, dispatched by the
// table of actions and answered with the result or a Lambda function error
// whose errorType is the Step Functions error name. Inputs are decoded
// strictly (decodeStrict); errors are classified and logged once, here, by
// the one table of codes (errors.go), and an internal error's text never
// reaches a caller.
package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// Service is what the edge calls; *service.Service implements it. It
// validates field values and returns *sandstep.Error with Field set.
type Service interface {
	Sandboxes
	Tasks
	Reaper
	Issues
	Admin
}

// Sandboxes is what the edge calls for sandboxes.
type Sandboxes interface {
	CreateSandbox(ctx context.Context, call service.Call, in service.CreateSandboxInput) (*sandstep.Sandbox, error)
	GetSandbox(ctx context.Context, call service.Call, id string) (*sandstep.Sandbox, error)
	ListSandboxes(ctx context.Context, call service.Call, in service.SandboxListInput) (*service.SandboxList, error)
	Exec(ctx context.Context, call service.Call, id string, in service.ExecInput) (*service.ExecResult, error)
	DeleteSandbox(ctx context.Context, call service.Call, id string) (*sandstep.Sandbox, error)
	AgentExecute(ctx context.Context, call service.Call, in service.AgentExecuteInput) (*service.AgentExecuteResult, error)
}

// MaxIdempotencyKeyLen is the longest Idempotency-Key accepted.
const MaxIdempotencyKeyLen = 128

// Options tune an API.
type Options struct {
	// MaxBodyBytes bounds a request body after base64 decoding, and a direct
	// invocation's payload. Required: config's MAX_BODY_BYTES is its home.
	MaxBodyBytes int
	// Logger receives one record per failed request, with the full error.
	// Nil discards.
	Logger *slog.Logger
	// HTTPTimeout bounds the work done for an API Gateway request. HTTP API
	// integrations give up after 30 s whatever the Lambda's own timeout,
	// so the default, DefaultHTTPTimeout, answers just before that: a
	// synchronous exec asked for more is cut to fit, and the caller gets
	// an answer rather than API Gateway's 503. A Lambda deadline that
	// comes first bounds it too, a second early (answerReserve), so the
	// answer leaves before Lambda ends the invocation. Direct invocations
	// (the state machine) are bounded by the Lambda's timeout alone.
	HTTPTimeout time.Duration
	// APIURL is API_URL, the API's base URL: on a custom domain whose API
	// mapping has a key, which no event shows, requests to its host are
	// taken to have come through it (the nudge's URL, Location).
	APIURL string
	// GitHub configures POST /webhooks/github; without a Secret the route
	// answers 404.
	GitHub GitHubOptions
	// Admin says who may use the /admin routes; the zero value: nobody.
	Admin AdminOptions
	// Metrics says where each invocation's metrics go; the zero value:
	// nowhere.
	Metrics MetricsOptions
	// LambdaMemoryMB is the function's allocated memory, which a task's
	// usage counts its invocations' time in; 0 is what Lambda says
	// (AWS_LAMBDA_FUNCTION_MEMORY_SIZE).
	LambdaMemoryMB int
}

// MetricsOptions say where metrics go: EMF lines (internal/metrics) in
// Namespace, one write per invocation to Writer (in Lambda, stdout, which
// CloudWatch Logs reads).
type MetricsOptions struct {
	Namespace string
	Writer    io.Writer
}

// DefaultHTTPTimeout is Options.HTTPTimeout's default: API Gateway HTTP
// API's integration timeout less the time to answer.
const DefaultHTTPTimeout = apiGatewayTimeout - answerReserve

// apiGatewayTimeout is when API Gateway HTTP API gives up on an
// integration, whatever the Lambda's own timeout.
const apiGatewayTimeout = 30 * time.Second

// API adapts Lambda events to a Service. It is safe for concurrent use.
type API struct {
	svc         Service
	table       []action
	maxBody     int
	logger      *slog.Logger
	httpTimeout time.Duration
	github      GitHubOptions
	admin       AdminOptions
	metrics     MetricsOptions
	memoryMB    int
	apiURL      string
	apiHost     string // apiURL's host (eventHost), "" without one
}

// New returns an API calling svc. It panics without a body limit: that is
// a wiring mistake, best seen at cold start.
func New(svc Service, opts Options) *API {
	if opts.MaxBodyBytes <= 0 {
		panic("api: Options.MaxBodyBytes must be positive")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HTTPTimeout <= 0 {
		opts.HTTPTimeout = DefaultHTTPTimeout
	}
	if opts.LambdaMemoryMB <= 0 {
		opts.LambdaMemoryMB = lambdacontext.MemoryLimitInMB
	}
	a := &API{svc: svc, maxBody: opts.MaxBodyBytes, logger: opts.Logger, httpTimeout: opts.HTTPTimeout, github: opts.GitHub,
		admin: opts.Admin, metrics: opts.Metrics, memoryMB: opts.LambdaMemoryMB, apiURL: strings.TrimSuffix(opts.APIURL, "/")}
	if u, err := url.Parse(a.apiURL); err == nil {
		a.apiHost = eventHost(u)
	}
	a.table = a.actions()
	return a
}

// eventHost is u's host as API Gateway's event names a domain: without
// the scheme's default port, which API_URL may spell out (":443") and an
// event's domainName never carries.
func eventHost(u *url.URL) string {
	if p := u.Port(); (p == "443" && u.Scheme == "https") || (p == "80" && u.Scheme == "http") {
		return u.Hostname()
	}
	return u.Host
}

// mustFunction panics unless function is one of Functions: an unknown name
// is a wiring mistake, best seen at cold start.
func mustFunction(function string) {
	if !slices.Contains(Functions(), function) {
		panic(fmt.Sprintf("api: unknown function %q (want one of %v)", function, Functions()))
	}
}

// logError logs err once, at the edge, with its full text: at error level
// for server-side failures (5xx), at warning level for the caller's.
func (a *API) logError(ctx context.Context, err error, attrs ...slog.Attr) {
	code := sandstep.ErrorCode(err)
	level := slog.LevelWarn
	if HTTPStatus(code) >= 500 && !expectedRefusal(err) {
		level = slog.LevelError
	}
	attrs = append(attrs, slog.String("code", string(code)), slog.String("error", err.Error()))
	a.logger.LogAttrs(ctx, level, "request failed", attrs...)
}
