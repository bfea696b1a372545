// Package api is sandstep's Lambda edge: it turns Lambda events into calls on
// the service (internal/service) and the service's results and errors into
// responses.
//
// Each of the four lifecycle functions (create, execute, status, delete)
// serves two callers through one handler (API.Handler):
//
//   - API Gateway HTTP API, payload format 2.0 (events.APIGatewayV2HTTPRequest):
//     routed by RouteKey (see Routes), the caller identified only by the JWT
//     authorizer's "sub" claim, answered with an events.APIGatewayV2HTTPResponse
//     whose body is JSON; errors are {"error": {"code", "message", "field"?,
//     "requestId"}} with the status of sandstep.HTTPStatus.
//   - Direct invocation (the state machine, `sam local invoke`, the Lambda
//     Invoke API): a flat JSON object (DirectCreateInput, DirectExecInput,
//     DirectAgentExecuteInput, DirectStatusInput, DirectDeleteInput) naming the
//     user in "userId" (these callers are trusted IAM principals), answered
//     with the result itself; errors are returned as a
//     messages.InvokeResponse_Error whose Type is sandstep.StepFunctionsName of
//     the error's code ("Sandbox.Transient", ...), which the Lambda runtime
//     reports verbatim as errorType, so that ASL Retry and Catch match it.
//
// A payload is an API Gateway event when its "version" is "2.0" and it has a
// "routeKey" and a "requestContext" object; anything else is direct.
//
// Input handling (both callers): JSON bodies are decoded strictly. Object keys
// must match a field name exactly (case included); unknown and duplicate keys,
// wrong types, malformed JSON, anything after the top-level object and
// bodies that are not a JSON object are invalid_input (400) naming the field
// ("resources.cpux", "files[0].path", or "body" with the byte offset).
// A body larger than Options.MaxBodyBytes after base64 decoding (default
// DefaultMaxBodyBytes, 4 MiB, so that a base64-encoded body and its event
// still fit Lambda's 6 MB invocation payload) is payload_too_large (413,
// field "body"). POST /sandboxes accepts an empty body (every field is
// optional); the other POST routes require one. Unknown query parameters are
// rejected like unknown fields; GET /sandboxes takes "limit" (1-100, default
// 20) and "cursor". The Idempotency-Key header (any case; 1-128 printable
// ASCII characters) is honoured on POST routes and ignored on others.
//
// Every error is logged once, here, with its full text; the service's
// messages reach the caller through sandstep.ErrorMessage, so an internal
// error's text never does.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// Service is what the edge calls; *service.Service implements it. It
// validates field values and returns *sandstep.Error with Field set.
type Service interface {
	CreateSandbox(ctx context.Context, call service.Call, in service.CreateSandboxInput) (*sandstep.Sandbox, error)
	GetSandbox(ctx context.Context, call service.Call, id string) (*sandstep.Sandbox, error)
	ListSandboxes(ctx context.Context, call service.Call, limit int, cursor string) (*service.SandboxList, error)
	Exec(ctx context.Context, call service.Call, id string, in service.ExecInput) (*service.ExecResult, error)
	DeleteSandbox(ctx context.Context, call service.Call, id string) (*sandstep.Sandbox, error)
	AgentExecute(ctx context.Context, call service.Call, in service.AgentExecuteInput) (*service.AgentExecuteResult, error)
}

// DefaultMaxBodyBytes is the default Options.MaxBodyBytes: 4 MiB. Base64
// encoded (as API Gateway sends binary bodies) that is 5.6 MB, which with the
// event around it still fits Lambda's 6 MB synchronous payload limit.
const DefaultMaxBodyBytes = 4 << 20

// MaxIdempotencyKeyLen is the longest Idempotency-Key accepted.
const MaxIdempotencyKeyLen = 128

// Options tune an API; zero values take the documented defaults.
type Options struct {
	// MaxBodyBytes bounds a request body after base64 decoding, and a direct
	// invocation's payload. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int
	// Logger receives one record per failed request, with the full error.
	// Nil discards.
	Logger *slog.Logger
	// HTTPTimeout bounds the work done for an API Gateway request. HTTP API
	// integrations give up after 30 s whatever the Lambda's own timeout,
	// so the default, DefaultHTTPTimeout, answers just before that: a
	// synchronous exec asked for more is cut to fit, and the caller gets
	// an answer rather than API Gateway's 503. Direct invocations (the
	// state machine) are bounded by the Lambda's timeout alone.
	HTTPTimeout time.Duration
}

// DefaultHTTPTimeout is Options.HTTPTimeout's default: API Gateway HTTP
// API's 30 s integration timeout less a second to answer.
const DefaultHTTPTimeout = 29 * time.Second

// API adapts Lambda events to a Service. It is safe for concurrent use.
type API struct {
	svc         Service
	maxBody     int
	logger      *slog.Logger
	httpTimeout time.Duration
}

// New returns an API calling svc.
func New(svc Service, opts Options) *API {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HTTPTimeout <= 0 {
		opts.HTTPTimeout = DefaultHTTPTimeout
	}
	return &API{svc: svc, maxBody: opts.MaxBodyBytes, logger: opts.Logger, httpTimeout: opts.HTTPTimeout}
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
	if sandstep.HTTPStatus(code) >= 500 {
		level = slog.LevelError
	}
	attrs = append(attrs, slog.String("code", string(code)), slog.String("error", err.Error()))
	a.logger.LogAttrs(ctx, level, "request failed", attrs...)
}
