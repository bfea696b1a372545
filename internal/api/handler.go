package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sandstep/sandstep/internal/logging"
	"github.com/sandstep/sandstep/internal/metrics"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// HandlerFunc is the Lambda handler of one function, in the form
// lambda.Start takes: it answers an API Gateway event with an
// events.APIGatewayV2HTTPResponse (and a nil error, whatever the outcome)
// and a direct input with its result or a messages.InvokeResponse_Error. It
// panics on an unknown function name, as Handler does.
func (a *API) HandlerFunc(function string) func(ctx context.Context, payload json.RawMessage) (any, error) {
	mustFunction(function)
	return func(ctx context.Context, payload json.RawMessage) (out any, err error) {
		set, start := &metrics.Set{}, time.Now()
		ctx = metrics.NewContext(ctx, set)
		// After the panic's answer below, before the answer leaves.
		defer func() { a.emit(ctx, set, function, start, err != nil) }()
		isAPI := isAPIGatewayEvent(payload)
		var reqID string // API Gateway's, once the event is read
		defer func() {
			// A panic is a bug: answer as an internal error, in the shape
			// the caller expects, and log it once with its stack.
			if p := recover(); p != nil {
				a.logger.ErrorContext(ctx, "handler panicked", "function", function, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				perr := sandstep.Errorf(sandstep.EINTERNAL, "handler panicked: %v", p)
				if isAPI {
					out, err = a.failHTTP(ctx, reqID, perr, []slog.Attr{slog.String("function", function)}), nil
				} else {
					out, err = nil, a.directFailure(ctx, function, perr)
				}
			}
		}()
		if isAPI {
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(payload, &ev); err != nil {
				// Only a broken gateway or emulator sends this; answer in
				// the shape it expects.
				err = sandstep.Wrap(err, sandstep.EINTERNAL, "unreadable API Gateway event")
				return a.failHTTP(ctx, "", err, []slog.Attr{slog.String("function", function)}), nil
			}
			exactInput(payload, &ev)
			reqID = ev.RequestContext.RequestID
			ctx = logging.WithRequestID(ctx, reqID)
			return a.serve(ctx, function, ev), nil
		}
		ctx, out, err = a.direct(ctx, function, payload)
		if err != nil {
			return nil, a.directFailure(ctx, function, err)
		}
		a.logger.InfoContext(answeredIDs(ctx, out), "invocation served", "function", function, "durationMs", time.Since(start).Milliseconds())
		return out, nil
	}
}

// Handler returns HandlerFunc(function) as a *Handler: a lambda.Handler
// for invoking in-process (the local Lambda Invoke API, tests), whose
// Invoke returns the JSON answer, or the messages.InvokeResponse_Error as
// the error; and, by its Runtime, what the Lambda runtime is handed.
func (a *API) Handler(function string) *Handler {
	return &Handler{fn: a.HandlerFunc(function)}
}

// Handler is a function's handler. Its Invokes may run at once, each
// answer staying as it was: aws-lambda-go's Invoke answers the bytes of a
// buffer it has already given back to its handler's pool, for the next
// invoke to write over. The runtime sends them first, but the local stack
// invokes a function many times at once and reads each answer later, so
// each Invoke has a handler of its own (a few allocations).
type Handler struct {
	fn func(ctx context.Context, payload json.RawMessage) (any, error)
}

// Invoke runs the handler on payload.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return lambda.NewHandler(h.fn).Invoke(ctx, payload)
}

// Runtime is what to hand the Lambda runtime (lambda.Start): the function
// itself, which it runs an invoke at a time, answering with JSON's content
// type (a lambda.Handler's answers go out as octet-stream).
func (h *Handler) Runtime() any { return h.fn }

// isAPIGatewayEvent reports whether payload is an API Gateway HTTP API
// payload 2.0 event: "version" "2.0" with a "routeKey" and a
// "requestContext" object.
func isAPIGatewayEvent(payload []byte) bool {
	var probe struct {
		Version        string          `json:"version"`
		RouteKey       *string         `json:"routeKey"`
		RequestContext json.RawMessage `json:"requestContext"`
	}
	if json.Unmarshal(payload, &probe) != nil {
		return false
	}
	return probe.Version == "2.0" && probe.RouteKey != nil &&
		len(probe.RequestContext) > 0 && probe.RequestContext[0] == '{'
}

// emit writes the metrics of an invocation that began at start with its
// outcome: a request of function, its failure by code when it failed, and
// whether Lambda sees its answer as an error. They are stamped with its
// start, as Lambda stamps its Errors, which the crash alarms compare them
// with. A write that fails is logged, never the answer's concern.
func (a *API) emit(ctx context.Context, set *metrics.Set, function string, start time.Time, lambdaError bool) {
	if a.metrics.Writer == nil {
		return
	}
	fn := metrics.Dim("Function", function)
	set.Add(metrics.Requests, metrics.Count, 1, fn)
	if lambdaError {
		set.Add(metrics.FunctionErrors, metrics.Count, 1, fn)
	}
	if code := set.Code(); code != "" {
		set.Add(metrics.Failures, metrics.Count, 1, fn, metrics.Dim("Code", code))
		if set.Fault() {
			set.Add(metrics.Faults, metrics.Count, 1, fn)
		}
		if sandstep.Code(code) == sandstep.EQUOTA {
			set.Add(metrics.QuotaRejections, metrics.Count, 1)
		}
	}
	if err := set.WriteTo(a.metrics.Writer, a.metrics.Namespace, start); err != nil {
		a.logger.WarnContext(ctx, "metrics not written", "error", err.Error())
	}
}
