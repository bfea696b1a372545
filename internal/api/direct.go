package api

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sandstep/sandstep/internal/logging"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// Caller names the user of a direct invocation. Direct callers (the state
// machine, an operator with `sam local invoke` or the Invoke API) are IAM
// principals trusted to act for any user; API Gateway callers can never
// reach this path.
type Caller struct {
	// UserID is required.
	UserID string `json:"userId"`
	// RequestID correlates log lines and audit events (a state machine
	// passes its execution name, say). Default: the Lambda request id.
	RequestID string `json:"requestId,omitempty"`
}

// DirectCreateInput is the create function's direct input: the fields of
// POST /sandboxes, flat, beside the caller's.
type DirectCreateInput struct {
	Caller
	// IdempotencyKey works as the Idempotency-Key header does.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	service.CreateSandboxInput
}

// DirectExecInput is the execute function's direct input when it has a
// "sandboxId": run a command in that sandbox. Answer: service.ExecResult.
type DirectExecInput struct {
	Caller
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	SandboxID      string `json:"sandboxId"`
	service.ExecInput
}

// DirectAgentExecuteInput is the execute function's direct input without a
// "sandboxId": the one-shot agent execute of POST /api/agent/execute.
// Answer: service.AgentExecuteResult.
type DirectAgentExecuteInput struct {
	Caller
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	service.AgentExecuteInput
}

// DirectStatusInput is the status function's direct input. With a
// "sandboxId" it answers that sandbox (sandstep.Sandbox); without, a page of
// the user's sandboxes (service.SandboxList), Limit (1-100, default 20)
// and Cursor as GET /sandboxes takes them.
type DirectStatusInput struct {
	Caller
	SandboxID string `json:"sandboxId,omitempty"`
	Limit     *int   `json:"limit,omitempty"`
	Cursor    string `json:"cursor,omitempty"`
}

// DirectDeleteInput is the delete function's direct input. Answer: the
// sandstep.Sandbox as deleted; deleting again is no error.
type DirectDeleteInput struct {
	Caller
	SandboxID string `json:"sandboxId"`
}

// direct serves a direct invocation of function. Errors are not yet
// converted for the runtime; see directFailure.
func (a *API) direct(ctx context.Context, function string, payload []byte) (context.Context, any, error) {
	if len(payload) > a.maxBody {
		return ctx, nil, a.tooLarge()
	}
	switch function {
	case FunctionCreate:
		var in DirectCreateInput
		if err := decodeStrict(payload, &in); err != nil {
			return ctx, nil, err
		}
		ctx, call, err := directCall(ctx, in.Caller, in.IdempotencyKey)
		if err != nil {
			return ctx, nil, err
		}
		sb, err := a.svc.CreateSandbox(ctx, call, in.CreateSandboxInput)
		if err == nil && sb != nil {
			ctx = logging.WithSandboxID(ctx, sb.ID)
		}
		return result(ctx, sb, err)

	case FunctionExecute:
		if !hasKey(payload, "sandboxId") {
			var in DirectAgentExecuteInput
			if err := decodeStrict(payload, &in); err != nil {
				return ctx, nil, err
			}
			ctx, call, err := directCall(ctx, in.Caller, in.IdempotencyKey)
			if err != nil {
				return ctx, nil, err
			}
			res, err := a.svc.AgentExecute(ctx, call, in.AgentExecuteInput)
			return result(ctx, res, err)
		}
		var in DirectExecInput
		if err := decodeStrict(payload, &in); err != nil {
			return ctx, nil, err
		}
		ctx, call, err := directCall(ctx, in.Caller, in.IdempotencyKey)
		if err != nil {
			return ctx, nil, err
		}
		if in.SandboxID == "" {
			return ctx, nil, sandstep.Invalid("sandboxId", "is required")
		}
		ctx = logging.WithSandboxID(ctx, in.SandboxID)
		res, err := a.svc.Exec(ctx, call, in.SandboxID, in.ExecInput)
		return result(ctx, res, err)

	case FunctionStatus:
		var in DirectStatusInput
		if err := decodeStrict(payload, &in); err != nil {
			return ctx, nil, err
		}
		ctx, call, err := directCall(ctx, in.Caller, "")
		if err != nil {
			return ctx, nil, err
		}
		if hasKey(payload, "sandboxId") {
			switch {
			case in.SandboxID == "":
				return ctx, nil, sandstep.Invalid("sandboxId", "must not be empty; leave it out to list sandboxes")
			case in.Limit != nil:
				return ctx, nil, sandstep.Invalid("limit", "applies only to a list, without sandboxId")
			case in.Cursor != "":
				return ctx, nil, sandstep.Invalid("cursor", "applies only to a list, without sandboxId")
			}
			ctx = logging.WithSandboxID(ctx, in.SandboxID)
			sb, err := a.svc.GetSandbox(ctx, call, in.SandboxID)
			return result(ctx, sb, err)
		}
		limit := service.DefaultListLimit
		if in.Limit != nil {
			if *in.Limit < 1 || *in.Limit > service.MaxListLimit {
				return ctx, nil, sandstep.Invalid("limit", "must be an integer from 1 to %d", service.MaxListLimit)
			}
			limit = *in.Limit
		}
		list, err := a.svc.ListSandboxes(ctx, call, limit, in.Cursor)
		return result(ctx, list, err)

	case FunctionDelete:
		var in DirectDeleteInput
		if err := decodeStrict(payload, &in); err != nil {
			return ctx, nil, err
		}
		ctx, call, err := directCall(ctx, in.Caller, "")
		if err != nil {
			return ctx, nil, err
		}
		if in.SandboxID == "" {
			return ctx, nil, sandstep.Invalid("sandboxId", "is required")
		}
		ctx = logging.WithSandboxID(ctx, in.SandboxID)
		sb, err := a.svc.DeleteSandbox(ctx, call, in.SandboxID)
		return result(ctx, sb, err)
	}
	return ctx, nil, sandstep.Errorf(sandstep.EINTERNAL, "unknown function %q", function)
}

// result returns v, or err, or errNoResult for a nil v without an error.
func result[T any](ctx context.Context, v *T, err error) (context.Context, any, error) {
	if err != nil {
		return ctx, nil, err
	}
	if v == nil {
		return ctx, nil, errNoResult
	}
	return ctx, v, nil
}

// hasKey reports whether the JSON object payload has the key, exactly.
func hasKey(payload []byte, key string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(payload, &m) != nil {
		return false
	}
	_, ok := m[key]
	return ok
}

// directCall builds the service.Call of a direct invocation and the
// context its log lines carry.
func directCall(ctx context.Context, c Caller, idempotencyKey string) (context.Context, service.Call, error) {
	if err := sandstep.ValidateUserID("userId", c.UserID); err != nil {
		return ctx, service.Call{}, err
	}
	reqID := c.RequestID
	if reqID == "" {
		if lc, ok := lambdacontext.FromContext(ctx); ok && lc != nil {
			reqID = lc.AwsRequestID
		}
	}
	ctx = logging.WithUserID(logging.WithRequestID(ctx, reqID), c.UserID)
	call := service.Call{UserID: c.UserID, RequestID: reqID}
	if idempotencyKey != "" {
		if err := validIdempotencyKey("idempotencyKey", idempotencyKey); err != nil {
			return ctx, service.Call{}, err
		}
		call.IdempotencyKey = idempotencyKey
	}
	return ctx, call, nil
}

// directFailure logs err once and converts it to what the Lambda runtime
// reports verbatim: errorType is the Step Functions error name of its code
// ("Sandbox.Transient", ...), errorMessage the caller-safe message, led by
// the field at fault. The value, not a pointer, must be returned: the
// runtime (aws-lambda-go lambdaErrorResponse) type-asserts exactly
// messages.InvokeResponse_Error and otherwise reports the Go type name.
func (a *API) directFailure(ctx context.Context, function string, err error) messages.InvokeResponse_Error {
	a.logError(ctx, err, slog.String("function", function))
	code := sandstep.ErrorCode(err)
	msg := sandstep.ErrorMessage(err)
	if code == sandstep.EINVALID || code == sandstep.ETOOLARGE {
		if field := sandstep.ErrorField(err); field != "" {
			// The service names the sandbox id "id", after the HTTP path;
			// direct callers send it as "sandboxId".
			if field == "id" {
				field = "sandboxId"
			}
			msg = field + ": " + msg
		}
	}
	return messages.InvokeResponse_Error{Type: sandstep.StepFunctionsName(code), Message: msg}
}
