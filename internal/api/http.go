package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sandstep/sandstep/internal/logging"
	"github.com/sandstep/sandstep/internal/metrics"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/strictjson"
	"github.com/sandstep/sandstep/internal/webhook"
)

// ErrorResponse is the body of every error answer to an HTTP caller.
type ErrorResponse struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes one error: Code is a sandstep.Code, Message is safe
// to show, Field names the input at fault (a JSON path, a query parameter,
// a header, "id" for the path, or "body"), RequestID is API Gateway's
// request id.
type ErrorDetail struct {
	Code      sandstep.Code `json:"code"`
	Message   string        `json:"message"`
	Field     string        `json:"field,omitempty"`
	RequestID string        `json:"requestId"`
	// SandboxID names a sandbox the failed request left behind (an
	// agent-execute whose delete failed), to look at or delete.
	SandboxID string `json:"sandboxId,omitempty"`
}

// request is one API Gateway request, past routing and identity.
type request struct {
	ctx  context.Context
	call service.Call
	// id is the {id} path parameter.
	id      string
	body    []byte
	query   map[string]string
	headers map[string]string
}

// response is a successful answer.
type response struct {
	status  int
	body    any
	headers map[string]string
}

// ServeEvent serves an API Gateway HTTP API (payload 2.0) event for any
// route of Routes, whichever function owns it: one entry point for every
// route, for tests and benchmarks that drive the whole API (the local
// stack routes each event to its function's HandlerFunc instead). It
// never fails: errors are answered as ErrorResponse bodies.
func (a *API) ServeEvent(ctx context.Context, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	return a.serve(ctx, "", ev)
}

// serve serves ev if its route belongs to function ("" serves all).
func (a *API) serve(ctx context.Context, function string, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	reqID := ev.RequestContext.RequestID
	ctx = logging.WithRequestID(ctx, reqID)
	ctx, cancel := httpContext(ctx, a.httpTimeout)
	defer cancel()
	logAttrs := []slog.Attr{slog.String("route", ev.RouteKey)}

	rt, ok := routes[ev.RouteKey]
	if id, _ := header(ev.Headers, webhook.DeliveryHeader); ok && rt.signed && id != "" {
		// How GitHub's Recent Deliveries names the delivery, refused ones
		// too: only logged, never acted on before the signature.
		logAttrs = append(logAttrs, slog.String("githubDelivery", sandstep.Clip(id, 100)))
	}
	if !ok || (function != "" && rt.function != function) {
		err := sandstep.Errorf(sandstep.ENOTFOUND, "no route for %s", sandstep.Clip(routeName(ev), 200))
		if ok {
			// A template wiring a route to the wrong function.
			logAttrs = append(logAttrs, slog.String("function", function), slog.String("routeFunction", rt.function))
		}
		return a.failHTTP(ctx, reqID, err, logAttrs)
	}

	r, err := a.newRequest(ctx, rt, ev)
	if err != nil {
		return a.failHTTP(ctx, reqID, err, logAttrs)
	}
	start := time.Now()
	res, err := rt.serve(a, r)
	if err != nil {
		return a.failHTTP(r.ctx, reqID, err, logAttrs)
	}
	out, err := jsonResponse(res.status, res.body, res.headers)
	if err != nil {
		return a.failHTTP(r.ctx, reqID, err, logAttrs)
	}
	a.logger.LogAttrs(answeredIDs(r.ctx, res.body), slog.LevelInfo, "request served",
		append(logAttrs, slog.Int("status", out.StatusCode), slog.Int64("durationMs", time.Since(start).Milliseconds()))...)
	return out
}

// answeredIDs is ctx with the ids of the sandbox or task an answer
// made or ran in, for the request's served line, where ctx lacks them.
func answeredIDs(ctx context.Context, body any) context.Context {
	sandboxID, taskID := "", ""
	switch b := body.(type) {
	case *sandstep.Sandbox:
		sandboxID = b.ID
	case *sandstep.Task:
		sandboxID, taskID = b.SandboxID, b.ID
	case *service.AgentExecuteResult:
		sandboxID = b.SandboxID
	case *service.TaskStep:
		sandboxID = b.SandboxID
	case *service.IssueOutcome:
		taskID = b.TaskID
	}
	if sandboxID != "" && logging.SandboxID(ctx) == "" {
		ctx = logging.WithSandboxID(ctx, sandboxID)
	}
	if taskID != "" && logging.TaskID(ctx) == "" {
		ctx = logging.WithTaskID(ctx, taskID)
	}
	return ctx
}

// answerReserve is kept back from the Lambda's own deadline for an HTTP
// request's answer: Lambda ends the invocation at its deadline, and an
// answer made then never leaves (API Gateway answers its own 500, and no
// log line of ours says why), and from API Gateway's (DefaultHTTPTimeout).
const answerReserve = time.Second

// httpContext bounds the work of an HTTP request: timeout from now, and
// answerReserve before the invocation's deadline when that comes first (a
// function whose Lambda timeout is under API Gateway's 30 s, as the
// github function's 10 s).
func httpContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	end := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Add(-answerReserve).Before(end) {
		end = d.Add(-answerReserve)
	}
	return context.WithDeadline(ctx, end)
}

// routeName is what a caller asked for, for a 404 message.
func routeName(ev events.APIGatewayV2HTTPRequest) string {
	if m, p := ev.RequestContext.HTTP.Method, ev.RawPath; m != "" && p != "" {
		return m + " " + p
	}
	return ev.RouteKey
}

// newRequest checks identity, headers, query, path and body of ev.
func (a *API) newRequest(ctx context.Context, rt route, ev events.APIGatewayV2HTTPRequest) (*request, error) {
	r := &request{
		ctx:     ctx,
		call:    service.Call{RequestID: ev.RequestContext.RequestID, APIURL: a.baseURL(ev)},
		query:   ev.QueryStringParameters,
		headers: ev.Headers,
	}
	if !rt.public {
		user, err := identity(ev)
		if err != nil {
			return nil, err
		}
		r.ctx, r.call.UserID = logging.WithUserID(ctx, user), user
	}
	if rt.admin {
		// Before anything of the request is read: to anyone else the route
		// does not exist, whatever they send.
		if r.call.Admin = a.admin.isAdmin(ev); !r.call.Admin {
			// The service's guard is never reached: the denied line, for
			// the operator's alarm, is written here.
			a.logger.WarnContext(r.ctx, "denied", "reason", service.DeniedNotAdmin, "userId", r.call.UserID,
				"target", sandstep.Clip(ev.PathParameters["userId"], 200))
			return nil, sandstep.Errorf(sandstep.ENOTFOUND, "no route for %s", sandstep.Clip(routeName(ev), 200))
		}
		r.id = ev.PathParameters["userId"]
		if !utf8.ValidString(r.id) {
			return nil, sandstep.Invalid("userId", strictjson.NotUTF8)
		}
	}
	if rt.idempotent {
		if key, ok := header(ev.Headers, "Idempotency-Key"); ok {
			if err := validIdempotencyKey("Idempotency-Key", key); err != nil {
				return nil, err
			}
			r.call.IdempotencyKey = key
		}
	}
	if rt.signed && a.github.Secret == nil {
		// No webhook in this deployment: the route is not there, whatever
		// is sent.
		return nil, sandstep.Errorf(sandstep.ENOTFOUND, "this deployment has no GitHub webhook")
	}
	// A signed route's query is its signer's business (GitHub allows one).
	if !rt.signed {
		for _, name := range slices.Sorted(maps.Keys(ev.QueryStringParameters)) {
			if !slices.Contains(rt.query, name) {
				return nil, sandstep.Invalid(strictjson.Printable(name), "unknown query parameter")
			}
			if !utf8.ValidString(ev.QueryStringParameters[name]) {
				return nil, sandstep.Invalid(name, strictjson.NotUTF8)
			}
		}
	}
	if rt.pathID {
		r.id = ev.PathParameters["id"]
		if r.id == "" {
			return nil, sandstep.Invalid("id", "is required")
		}
		if !utf8.ValidString(r.id) {
			return nil, sandstep.Invalid("id", strictjson.NotUTF8)
		}
		if rt.task {
			r.ctx = logging.WithTaskID(r.ctx, r.id)
		} else {
			r.ctx = logging.WithSandboxID(r.ctx, r.id)
		}
	}
	if rt.body != "" {
		body, err := a.readBody(ev)
		if err != nil {
			return nil, err
		}
		if rt.body == bodyRequired && len(bytes.TrimSpace(body)) == 0 {
			return nil, sandstep.Invalid(bodyField, "a JSON object is required")
		}
		r.body = body
	}
	return r, nil
}

// baseURL is the API's base URL as the caller reached it: API_URL when the
// request came to its host (a mapping key is in its path, which no event
// shows), else eventURL's.
func (a *API) baseURL(ev events.APIGatewayV2HTTPRequest) string {
	if a.apiHost != "" && strings.EqualFold(ev.RequestContext.DomainName, a.apiHost) {
		return a.apiURL
	}
	return eventURL(ev)
}

// eventURL is the API's base URL as the event shows it: API Gateway's
// domain, under the stage unless it is $default on the API's own
// execute-api domain. A custom domain's API mapping picks the stage, whose
// name is never in its paths; a mapping key is, but the event does not
// say it (README: API_URL).
func eventURL(ev events.APIGatewayV2HTTPRequest) string {
	rc := ev.RequestContext
	if rc.DomainName == "" {
		return ""
	}
	scheme, _ := header(ev.Headers, "X-Forwarded-Proto")
	if scheme != "http" {
		scheme = "https"
	}
	u := scheme + "://" + rc.DomainName
	if rc.Stage != "" && rc.Stage != "$default" && rc.APIID != "" && strings.HasPrefix(rc.DomainName, rc.APIID+".execute-api.") {
		u += "/" + url.PathEscape(rc.Stage)
	}
	return u
}

// location is the Location of what a POST to collection made: a path from
// the root, under base's (baseURL's) path: a named stage on the API's own
// domain, API_URL's mapping key on a custom domain.
func location(base, collection, id string) string {
	stage := ""
	if u, err := url.Parse(base); err == nil {
		stage = u.EscapedPath()
	}
	return stage + "/" + collection + "/" + url.PathEscape(id)
}

// identity returns the caller's user id: the "sub" claim the JWT authorizer
// put in the request context. Nothing the caller sends (no header, no body
// field) is consulted.
func identity(ev events.APIGatewayV2HTTPRequest) (string, error) {
	var sub string
	if az := ev.RequestContext.Authorizer; az != nil && az.JWT != nil {
		sub = az.JWT.Claims["sub"]
	}
	if strings.TrimSpace(sub) == "" {
		return "", sandstep.Errorf(sandstep.EUNAUTHENTICATED, "authentication required")
	}
	if err := sandstep.ValidateCallerID("sub", sub); err != nil {
		return "", sandstep.Wrap(err, sandstep.EUNAUTHENTICATED, "the token's subject is not usable as a sandstep user id: %s", sandstep.ErrorMessage(err))
	}
	return sub, nil
}

// header returns the value of the header called name, in any case. API
// Gateway lower-cases header names and joins repeated headers with commas.
func header(h map[string]string, name string) (string, bool) {
	if v, ok := h[strings.ToLower(name)]; ok {
		return v, true
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// validIdempotencyKey checks an idempotency key: 1 to 128 printable ASCII
// characters, no space (the store keys no white space).
func validIdempotencyKey(field, key string) error {
	if key == "" || len(key) > MaxIdempotencyKeyLen {
		return sandstep.Invalid(field, "must be 1 to %d characters long", MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= 0x20 || key[i] > 0x7e {
			return sandstep.Invalid(field, "must be printable ASCII characters only, without spaces")
		}
	}
	return nil
}

// readBody returns ev's body, base64-decoded if API Gateway encoded it,
// within the size limit.
func (a *API) readBody(ev events.APIGatewayV2HTTPRequest) ([]byte, error) {
	if !ev.IsBase64Encoded {
		if len(ev.Body) > a.maxBody {
			return nil, a.tooLarge()
		}
		return []byte(ev.Body), nil
	}
	// Refuse before decoding what cannot fit.
	if base64.StdEncoding.DecodedLen(len(ev.Body)) > a.maxBody+2 {
		return nil, a.tooLarge()
	}
	body, err := base64.StdEncoding.DecodeString(ev.Body)
	if err != nil {
		return nil, &sandstep.Error{Code: sandstep.EINVALID, Field: bodyField, Message: "is marked base64-encoded but is not valid base64", Err: err}
	}
	if len(body) > a.maxBody {
		return nil, a.tooLarge()
	}
	return body, nil
}

func (a *API) tooLarge() error {
	return &sandstep.Error{Code: sandstep.ETOOLARGE, Field: bodyField, Message: fmt.Sprintf("must not be larger than %d bytes", a.maxBody)}
}

func (a *API) serveCreate(r *request) (response, error) {
	var in service.CreateSandboxInput
	if len(bytes.TrimSpace(r.body)) > 0 {
		if err := decodeStrict(r.body, &in); err != nil {
			return response{}, err
		}
	}
	sb, err := a.svc.CreateSandbox(r.ctx, r.call, in)
	if err != nil {
		return response{}, err
	}
	if sb == nil {
		return response{}, errNoResult
	}
	return response{status: 201, body: sb, headers: map[string]string{"Location": location(r.call.APIURL, "sandboxes", sb.ID)}}, nil
}

func (a *API) serveList(r *request) (response, error) {
	in := service.SandboxListInput{ListInput: service.ListInput{Cursor: r.query["cursor"]}, State: r.query["state"]}
	if s, ok := r.query["limit"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil {
			return response{}, sandstep.Invalid("limit", "must be an integer from 1 to %d", service.MaxListLimit)
		}
		in.Limit = &n // the service checks the range
	}
	list, err := a.svc.ListSandboxes(r.ctx, r.call, in)
	return ok200(list, err)
}

func (a *API) serveGet(r *request) (response, error) {
	sb, err := a.svc.GetSandbox(r.ctx, r.call, r.id)
	return ok200(sb, err)
}

func (a *API) serveExec(r *request) (response, error) {
	var in service.ExecInput
	if err := decodeStrict(r.body, &in); err != nil {
		return response{}, err
	}
	res, err := a.svc.Exec(r.ctx, r.call, r.id, in)
	return ok200(res, err)
}

func (a *API) serveDelete(r *request) (response, error) {
	sb, err := a.svc.DeleteSandbox(r.ctx, r.call, r.id)
	return ok200(sb, err)
}

func (a *API) serveAgentExecute(r *request) (response, error) {
	var in service.AgentExecuteInput
	if err := decodeStrict(r.body, &in); err != nil {
		return response{}, err
	}
	res, err := a.svc.AgentExecute(r.ctx, r.call, in)
	return ok200(res, err)
}

// errNoResult is a service that answered neither a result nor an error.
var errNoResult = sandstep.Errorf(sandstep.EINTERNAL, "the service returned no result")

// ok200 answers 200 with v, or err.
func ok200[T any](v *T, err error) (response, error) {
	if err != nil {
		return response{}, err
	}
	if v == nil {
		return response{}, errNoResult
	}
	return response{status: 200, body: v}, nil
}

// marshal encodes an answer (service.EncodeJSON, by which the service
// bounds its size).
func marshal(v any) ([]byte, error) {
	b, err := service.EncodeJSON(v)
	if err != nil {
		return nil, sandstep.Wrap(err, sandstep.EINTERNAL, "encode response")
	}
	return b, nil
}

func jsonResponse(status int, v any, extra map[string]string) (events.APIGatewayV2HTTPResponse, error) {
	body, err := marshal(v)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	h := map[string]string{
		"Content-Type":  "application/json",
		"Cache-Control": "no-store",
	}
	maps.Copy(h, extra)
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: h, Body: string(body)}, nil
}

// failHTTP logs err once and answers it as an ErrorResponse.
func (a *API) failHTTP(ctx context.Context, reqID string, err error, attrs []slog.Attr) events.APIGatewayV2HTTPResponse {
	code := sandstep.ErrorCode(err)
	status := HTTPStatus(code)
	metrics.Failed(ctx, string(code), faultOf(err))
	a.logError(ctx, err, append(attrs, slog.Int("status", status))...)
	detail := ErrorDetail{Code: code, Message: sandstep.ErrorMessage(err), RequestID: reqID, SandboxID: sandstep.ErrorSandboxID(err)}
	if code == sandstep.EINVALID || code == sandstep.ETOOLARGE {
		detail.Field = sandstep.ErrorField(err)
	}
	extra := map[string]string{}
	if code == sandstep.EUNAUTHENTICATED {
		extra["WWW-Authenticate"] = "Bearer"
	}
	if ra := retryAfter(err); ra != "" {
		extra["Retry-After"] = ra
	}
	res, merr := jsonResponse(status, ErrorResponse{Error: detail}, extra)
	if merr != nil { // an ErrorResponse always encodes; keep the answer well-formed anyway
		return events.APIGatewayV2HTTPResponse{StatusCode: 500, Headers: map[string]string{"Content-Type": "application/json"},
			Body: `{"error":{"code":"internal","message":"internal error"}}`}
	}
	return res
}
