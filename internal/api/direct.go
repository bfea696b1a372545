package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sandstep/sandstep/internal/logging"
	"github.com/sandstep/sandstep/internal/metrics"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/strictjson"
)

// The actions of direct invocation, chosen by the input's "action" field.
const (
	ActionCreate       = "create"        // create
	ActionExec         = "exec"          // execute
	ActionAgentExecute = "agent-execute" // execute
	ActionGet          = "get"           // status
	ActionList         = "list"          // status
	ActionDelete       = "delete"        // delete
)

// Direct is what every direct input carries: the action and the user it
// acts for. Direct callers (the state machine, an operator with `sam local
// invoke` or the Invoke API) are IAM principals trusted to act for any
// user; API Gateway callers can never reach this path.
type Direct struct {
	// Action chooses the handler; it is required.
	Action string `json:"action,omitempty"`
	// UserID is required.
	UserID string `json:"userId"`
	// RequestID correlates log lines and audit events (a state machine
	// passes its execution name, say). Default: the Lambda request id.
	RequestID string `json:"requestId,omitempty"`
}

func (d Direct) direct() Direct { return d }

// Idempotent is carried by the inputs of actions that may be retried
// safely: IdempotencyKey works as the Idempotency-Key header does. A
// pointer: sent empty, it is refused as the empty header is, not taken
// for no key (the caller would think its retries safe).
type Idempotent struct {
	IdempotencyKey *string `json:"idempotencyKey,omitempty"`
}

func (i Idempotent) idempotencyKey() (string, bool) {
	if i.IdempotencyKey == nil {
		return "", false
	}
	return *i.IdempotencyKey, true
}

// SandboxRef names the sandbox an action is about.
type SandboxRef struct {
	SandboxID string `json:"sandboxId"`
}

func (r SandboxRef) sandboxID() string { return r.SandboxID }

// DirectCreateInput: the fields of POST /sandboxes, flat. Answer: the
// sandstep.Sandbox.
type DirectCreateInput struct {
	Direct
	Idempotent
	service.CreateSandboxInput
}

// DirectExecInput runs a command in a sandbox. Answer: service.ExecResult.
type DirectExecInput struct {
	Direct
	Idempotent
	SandboxRef
	service.ExecInput
}

// DirectAgentExecuteInput is the one-shot agent execute of POST
// /api/agent/execute. Answer: service.AgentExecuteResult.
type DirectAgentExecuteInput struct {
	Direct
	Idempotent
	service.AgentExecuteInput
}

// DirectGetInput asks for one sandbox. Answer: the sandstep.Sandbox.
type DirectGetInput struct {
	Direct
	SandboxRef
}

// DirectListInput asks for a page of the user's sandboxes, as GET
// /sandboxes does. Answer: service.SandboxList.
type DirectListInput struct {
	Direct
	service.SandboxListInput
}

// DirectDeleteInput deletes a sandbox; deleting again is no error.
// Answer: the sandstep.Sandbox as deleted.
type DirectDeleteInput struct {
	Direct
	SandboxRef
}

// action is one entry of the direct-invocation table: a typed handler
// behind the function and name that choose it.
type action struct {
	function, name string
	// serve decodes the payload into the handler's input and calls it.
	serve func(ctx context.Context, payload []byte) (context.Context, any, error)
}

// directInput is what every direct input type has: the Direct part.
type directInput interface{ direct() Direct }

// handle makes an action of a typed handler, aws-lambda-go's shape: the
// payload is decoded strictly into In, its user and keys are checked and
// put in the context's log fields before fn runs.
func handle[In directInput, Out any](function, name string, fn func(context.Context, In) (Out, error)) action {
	return action{function: function, name: name, serve: func(ctx context.Context, payload []byte) (context.Context, any, error) {
		var in In
		if err := decodeStrict(payload, &in); err != nil {
			return ctx, nil, err
		}
		ctx, err := directContext(ctx, in)
		if err != nil {
			return ctx, nil, err
		}
		out, err := fn(ctx, in)
		if err != nil {
			return ctx, nil, idNamed(err, "sandboxId")
		}
		if isNil(out) {
			return ctx, nil, errNoResult
		}
		return ctx, out, nil
	}}
}

// actions is the table of direct actions. A state machine step is a row
// here calling a service method, chosen by the "action" its Parameters
// set.
func (a *API) actions() []action {
	svc := a.svc
	return append([]action{
		handle(FunctionCreate, ActionCreate, func(ctx context.Context, in DirectCreateInput) (*sandstep.Sandbox, error) {
			return svc.CreateSandbox(ctx, directServiceCall(ctx, in), in.CreateSandboxInput)
		}),
		handle(FunctionExecute, ActionExec, func(ctx context.Context, in DirectExecInput) (*service.ExecResult, error) {
			return svc.Exec(ctx, directServiceCall(ctx, in), in.SandboxID, in.ExecInput)
		}),
		handle(FunctionExecute, ActionAgentExecute, func(ctx context.Context, in DirectAgentExecuteInput) (*service.AgentExecuteResult, error) {
			return svc.AgentExecute(ctx, directServiceCall(ctx, in), in.AgentExecuteInput)
		}),
		handle(FunctionStatus, ActionGet, func(ctx context.Context, in DirectGetInput) (*sandstep.Sandbox, error) {
			return svc.GetSandbox(ctx, directServiceCall(ctx, in), in.SandboxID)
		}),
		handle(FunctionStatus, ActionList, func(ctx context.Context, in DirectListInput) (*service.SandboxList, error) {
			return svc.ListSandboxes(ctx, directServiceCall(ctx, in), in.SandboxListInput)
		}),
		handle(FunctionDelete, ActionDelete, func(ctx context.Context, in DirectDeleteInput) (*sandstep.Sandbox, error) {
			return svc.DeleteSandbox(ctx, directServiceCall(ctx, in), in.SandboxID)
		}),
	}, append(a.taskActions(), a.reaperActions()...)...)
}

// isNil reports whether v is nil or a nil pointer: a service that answered
// neither a result nor an error.
func isNil(v any) bool {
	rv := reflect.ValueOf(v)
	return !rv.IsValid() || (rv.Kind() == reflect.Pointer && rv.IsNil())
}

// Actions returns the direct actions of function, in table order.
func Actions(function string) []string {
	var names []string
	for _, act := range (&API{}).actions() {
		if act.function == function {
			names = append(names, act.name)
		}
	}
	return names
}

// direct serves a direct invocation of function: it picks the action the
// payload names (or the function's only one) and runs it. Errors are not
// yet converted for the runtime; see directFailure.
func (a *API) direct(ctx context.Context, function string, payload []byte) (context.Context, any, error) {
	if len(payload) > a.maxBody {
		return ctx, nil, a.tooLarge()
	}
	act, err := a.pick(function, payload)
	if err != nil {
		return ctx, nil, err
	}
	return act.serve(ctx, payload)
}

// pick returns the action of function that payload's "action" names.
func (a *API) pick(function string, payload []byte) (action, error) {
	var mine []action
	for _, act := range a.table {
		if act.function == function {
			mine = append(mine, act)
		}
	}
	var probe struct {
		Action json.RawMessage `json:"action"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		// Not a JSON object: the strict decode names what is wrong.
		return action{}, decodeStrict(payload, &probe)
	}
	names := make([]string, len(mine))
	for i, act := range mine {
		names[i] = act.name
	}
	var name string
	switch {
	case probe.Action == nil:
		return action{}, sandstep.Invalid("action", "is required: the %s function has the actions %s", function, strings.Join(names, ", "))
	case probe.Action[0] == '"' && !strictjson.ValidLiteral(probe.Action):
		return action{}, sandstep.Invalid("action", strictjson.NotUTF8)
	case json.Unmarshal(probe.Action, &name) != nil:
		return action{}, sandstep.Invalid("action", "must be a string: one of %s", strings.Join(names, ", "))
	}
	if i := slices.Index(names, name); i >= 0 {
		return mine[i], nil
	}
	return action{}, sandstep.Invalid("action", "unknown action %q for the %s function; one of %s",
		sandstep.Clip(name, 64), function, strings.Join(names, ", "))
}

// directContext checks the user and the keys of a direct input and returns
// the context its log lines carry.
func directContext(ctx context.Context, in directInput) (context.Context, error) {
	d := in.direct()
	if err := sandstep.ValidateCallerID("userId", d.UserID); err != nil {
		return ctx, err
	}
	if d.RequestID != "" {
		if err := sandstep.ValidateRequestID("requestId", d.RequestID); err != nil {
			return ctx, err
		}
	}
	ctx = logging.WithUserID(logging.WithRequestID(ctx, directRequestID(ctx, d)), d.UserID)
	if k, ok := in.(interface{ idempotencyKey() (string, bool) }); ok {
		if key, sent := k.idempotencyKey(); sent {
			if err := validIdempotencyKey("idempotencyKey", key); err != nil {
				return ctx, err
			}
		}
	}
	if r, ok := in.(interface{ sandboxID() string }); ok {
		if r.sandboxID() == "" {
			return ctx, sandstep.Invalid("sandboxId", "is required")
		}
		ctx = logging.WithSandboxID(ctx, r.sandboxID())
	}
	return ctx, nil
}

// directRequestID is the request id of a direct invocation: the caller's,
// else the Lambda's.
func directRequestID(ctx context.Context, d Direct) string {
	if d.RequestID != "" {
		return d.RequestID
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc != nil {
		return lc.AwsRequestID
	}
	return ""
}

// directServiceCall is the service.Call of a direct input that
// directContext has checked.
func directServiceCall(ctx context.Context, in directInput) service.Call {
	d := in.direct()
	call := service.Call{UserID: d.UserID, RequestID: directRequestID(ctx, d)}
	if k, ok := in.(interface{ idempotencyKey() (string, bool) }); ok {
		call.IdempotencyKey, _ = k.idempotencyKey()
	}
	return call
}

// directFailure logs err once and converts it to what the Lambda runtime
// reports verbatim: errorType is the Step Functions error name of its code
// ("Sandbox.Transient", ...), errorMessage the caller-safe message, led by
// the field at fault. The value, not a pointer, must be returned: the
// runtime (aws-lambda-go lambdaErrorResponse) type-asserts exactly
// messages.InvokeResponse_Error and otherwise reports the Go type name.
func (a *API) directFailure(ctx context.Context, function string, err error) messages.InvokeResponse_Error {
	if o, ok := errors.AsType[outcome](err); ok {
		// Not a failure of ours: the task's own outcome, logged by the
		// service when it happened.
		return messages.InvokeResponse_Error{Type: o.e.Name(), Message: sandstep.Clip(o.e.Cause(), maxFailureMessage)}
	}
	a.logError(ctx, err, slog.String("function", function))
	code := sandstep.ErrorCode(err)
	metrics.Failed(ctx, string(code), faultOf(err))
	msg := sandstep.ErrorMessage(err)
	if code == sandstep.EINVALID || code == sandstep.ETOOLARGE {
		if field := sandstep.ErrorField(err); field != "" {
			// A field is a path the caller wrote: one of any length
			// is still named by its start.
			msg = sandstep.Clip(field, maxFailureField) + ": " + msg
		}
	}
	msg = sandstep.Clip(msg, maxFailureMessage)
	if id := sandstep.ErrorSandboxID(err); id != "" {
		msg += " (sandbox " + id + " was left; delete it or let the reaper)"
	}
	return messages.InvokeResponse_Error{Type: StepFunctionsName(code), Message: msg}
}

// maxFailureMessage bounds the message of a direct invocation's error. A
// state machine's Catch carries the error payload as a JSON string in the
// state's data, which may weigh 256 KiB (States.DataLimitExceeded, which
// no Catch takes, past it): a message quoting the caller (a console
// start's unknown field, named in full) grows up to 7 times on the way
// ("<" is \u003c in the payload, \\u003c in the Catch's output).
const (
	maxFailureMessage = 4 << 10
	maxFailureField   = 256
)

// idNamed names the id a service refused as "id" (after the HTTP path,
// /sandboxes/{id}, /tasks/{id}) as a direct action's input does: name.
func idNamed(err error, name string) error {
	var e *sandstep.Error
	if name == "" || !errors.As(err, &e) || e.Field != "id" {
		return err
	}
	named := *e
	named.Field, named.Err = name, err
	return &named
}
