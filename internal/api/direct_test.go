package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

func TestDirectInputs(t *testing.T) {
	tests := []struct {
		name     string
		function string
		payload  string
		method   string
		check    func(t *testing.T, c recorded)
		// out is a substring of the JSON answer.
		out string
	}{
		{
			name: "create", function: FunctionCreate, method: "CreateSandbox",
			payload: `{"action":"create","userId":"u1","idempotencyKey":"k1","requestId":"exec-7","image":"alpine:3","ttlMinutes":30,"files":[{"path":"a","contentBase64":"eA=="}]}`,
			check: func(t *testing.T, c recorded) {
				ttl := 30
				want := service.CreateSandboxInput{Image: "alpine:3", TTLMinutes: &ttl, Files: []service.File{{Path: "a", ContentBase64: "eA=="}}}
				if !reflect.DeepEqual(c.in, want) {
					t.Errorf("input %+v", c.in)
				}
				if c.call != (service.Call{UserID: "u1", RequestID: "exec-7", IdempotencyKey: "k1"}) {
					t.Errorf("call %+v", c.call)
				}
			},
			out: `"id":"sbx_created"`,
		},
		{
			name: "create, minimal", function: FunctionCreate, method: "CreateSandbox",
			payload: `{"action":"create","userId":"u1"}`,
			check: func(t *testing.T, c recorded) {
				if !reflect.DeepEqual(c.in, service.CreateSandboxInput{}) || c.call.RequestID != "lambda-req" {
					t.Errorf("recorded %+v", c)
				}
			},
			out: `"state":"ready"`,
		},
		{
			name: "exec", function: FunctionExecute, method: "Exec",
			payload: `{"action":"exec","userId":"u1","sandboxId":"sbx_one","command":"ls","cwd":"src","env":{"A":"b"},"timeoutSeconds":9}`,
			check: func(t *testing.T, c recorded) {
				want := service.ExecInput{Command: "ls", Cwd: "src", Env: map[string]string{"A": "b"}, TimeoutSeconds: intp(9)}
				if !reflect.DeepEqual(c.in, want) || c.id != "sbx_one" || c.ctxSandboxID != "sbx_one" {
					t.Errorf("recorded %+v", c)
				}
			},
			out: `"exitCode":3`,
		},
		{
			name: "agent execute", function: FunctionExecute, method: "AgentExecute",
			payload: `{"action":"agent-execute","userId":"u1","command":"make","keepSandbox":true,"labels":{"a":"b"}}`,
			check: func(t *testing.T, c recorded) {
				in := c.in.(service.AgentExecuteInput)
				if in.Command != "make" || !in.KeepSandbox || in.Labels["a"] != "b" {
					t.Errorf("input %+v", in)
				}
			},
			out: `"sandboxId":"sbx_agent"`,
		},
		{
			name: "status of one", function: FunctionStatus, method: "GetSandbox",
			payload: `{"action":"get","userId":"u1","sandboxId":"sbx_one"}`,
			check: func(t *testing.T, c recorded) {
				if c.id != "sbx_one" || c.call.UserID != "u1" || c.ctxSandboxID != "sbx_one" {
					t.Errorf("recorded %+v", c)
				}
			},
			out: `"id":"sbx_one"`,
		},
		{
			name: "status list default", function: FunctionStatus, method: "ListSandboxes",
			payload: `{"action":"list","userId":"u1"}`,
			check: func(t *testing.T, c recorded) {
				if c.limit != 0 || c.cursor != "" { // the service applies its default
					t.Errorf("recorded %+v", c)
				}
			},
			out: `"nextCursor":"next"`,
		},
		{
			name: "status list page", function: FunctionStatus, method: "ListSandboxes",
			payload: `{"action":"list","userId":"u1","limit":1,"cursor":"c"}`,
			check: func(t *testing.T, c recorded) {
				if c.limit != 1 || c.cursor != "c" {
					t.Errorf("recorded %+v", c)
				}
			},
			out: `"items":[`,
		},
		{
			name: "delete", function: FunctionDelete, method: "DeleteSandbox",
			payload: `{"action":"delete","userId":"u1","sandboxId":"sbx_one"}`,
			check: func(t *testing.T, c recorded) {
				if c.id != "sbx_one" || c.call.IdempotencyKey != "" {
					t.Errorf("recorded %+v", c)
				}
			},
			out: `"state":"deleted"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			a, _ := newTestAPI(svc, Options{})
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req"})
			out, err := a.Handler(tt.function).Invoke(ctx, []byte(tt.payload))
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			if !strings.Contains(string(out), tt.out) {
				t.Errorf("answer %s, want it to contain %s", out, tt.out)
			}
			calls := svc.recordedCalls()
			if len(calls) != 1 || calls[0].method != tt.method {
				t.Fatalf("calls %+v, want one %s", calls, tt.method)
			}
			if calls[0].call.UserID != "u1" || calls[0].ctxUserID != "u1" || calls[0].ctxRequestID == "" {
				t.Errorf("recorded %+v", calls[0])
			}
			tt.check(t, calls[0])
		})
	}
}

// invokeError invokes function's handler with payload and returns the
// error exactly as the Lambda runtime sees it.
func invokeError(t *testing.T, a *API, function, payload string) messages.InvokeResponse_Error {
	t.Helper()
	out, err := a.Handler(function).Invoke(context.Background(), []byte(payload))
	if err == nil {
		t.Fatalf("Invoke answered %s, want an error", out)
	}
	// The runtime (lambdaErrorResponse) uses exactly this type assertion:
	// anything else is reported under its Go type name.
	ive, ok := err.(messages.InvokeResponse_Error)
	if !ok {
		t.Fatalf("error %T %v is not a messages.InvokeResponse_Error value", err, err)
	}
	return ive
}

func TestDirectBadInput(t *testing.T) {
	tests := []struct {
		name     string
		function string
		payload  string
		message  string // prefix: the field
	}{
		{"create without userId", FunctionCreate, `{"action":"create","image":"x"}`, "userId: is required"},
		{"blank userId", FunctionDelete, `{"action":"delete","userId":"  ","sandboxId":"sbx_one"}`, "userId: is required"},
		{"control char in userId", FunctionStatus, `{"action":"list","userId":"a\u0000b"}`, "userId: "},
		{"unknown field", FunctionCreate, `{"action":"create","userId":"u","imag":"x"}`, "imag: unknown field"},
		{"case-mismatched field", FunctionDelete, `{"action":"delete","UserId":"u","sandboxId":"sbx_one"}`, "UserId: unknown field"},
		{"API-only field in direct input", FunctionStatus, `{"action":"list","userId":"u","version":"2.0"}`, "version: unknown field"},
		{"wrong type", FunctionExecute, `{"action":"exec","userId":"u","sandboxId":"sbx_one","command":["ls"]}`, "command: must be a string"},
		{"agent execute takes its fields only", FunctionExecute, `{"action":"agent-execute","userId":"u","command":"ls","sandboxID":"x"}`, "sandboxID: unknown field"},
		{"exec with empty sandboxId", FunctionExecute, `{"action":"exec","userId":"u","sandboxId":"","command":"ls"}`, "sandboxId: is required"},
		{"exec without sandboxId", FunctionExecute, `{"action":"exec","userId":"u","command":"ls"}`, "sandboxId: is required"},
		{"exec with agent-only field", FunctionExecute, `{"action":"exec","userId":"u","sandboxId":"sbx_one","command":"ls","keepSandbox":true}`, "keepSandbox: unknown field"},
		{"delete without sandboxId", FunctionDelete, `{"action":"delete","userId":"u"}`, "sandboxId: is required"},
		{"get with empty sandboxId", FunctionStatus, `{"action":"get","userId":"u","sandboxId":""}`, "sandboxId: is required"},
		{"get with limit", FunctionStatus, `{"action":"get","userId":"u","sandboxId":"sbx_one","limit":5}`, "limit: unknown field"},
		{"get with cursor", FunctionStatus, `{"action":"get","userId":"u","sandboxId":"sbx_one","cursor":"c"}`, "cursor: unknown field"},
		{"list with a sandboxId", FunctionStatus, `{"action":"list","userId":"u","sandboxId":"sbx_one"}`, "sandboxId: unknown field"},
		{"limit not an integer", FunctionStatus, `{"action":"list","userId":"u","limit":1.5}`, "limit: must be an integer"},
		{"missing action", FunctionExecute, `{"userId":"u","sandboxId":"sbx_one","command":"ls"}`, "action: is required: the execute function has the actions exec, agent-execute"},
		{"missing action for status", FunctionStatus, `{"userId":"u"}`, "action: is required: the status function has the actions get, list"},
		{"unknown action", FunctionStatus, `{"action":"stat","userId":"u"}`, `action: unknown action "stat" for the status function; one of get, list`},
		{"another function's action", FunctionDelete, `{"action":"exec","userId":"u","sandboxId":"sbx_one"}`, `action: unknown action "exec" for the delete function; one of delete`},
		{"action not a string", FunctionStatus, `{"action":1,"userId":"u"}`, "action: must be a string"},
		{"action not a string", FunctionCreate, `{"action":true,"userId":"u"}`, "action: must be a string"},
		// The delete's last write keeps it in its audit event: refused
		// after the provider's sandbox was gone, it left the record
		// deleting and the slot held.
		{"requestId with a space", FunctionDelete, `{"action":"delete","userId":"u","sandboxId":"sbx_one","requestId":"run 1"}`, "requestId: must not contain white space"},
		{"requestId with a control character", FunctionCreate, `{"action":"create","userId":"u","requestId":"r\u0007"}`, "requestId: must not contain white space"},
		{"bad idempotency key", FunctionCreate, `{"action":"create","userId":"u","idempotencyKey":"` + strings.Repeat("k", 129) + `"}`, "idempotencyKey: must be 1 to 128"},
		// (Data after the payload's JSON value never arrives: Lambda refuses
		// a payload that is not JSON, and the runtime decodes one value.)
		{"not an object", FunctionDelete, `["u"]`, "body: must be a JSON object"},
		{"too large", FunctionCreate, `{"action":"create","userId":"u","image":"` + strings.Repeat("x", 300) + `"}`, "body: must not be larger than 256 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			a, logs := newTestAPI(svc, Options{MaxBodyBytes: 256})
			ive := invokeError(t, a, tt.function, tt.payload)
			if ive.Type != "Sandbox.InvalidInput" || !strings.HasPrefix(ive.Message, tt.message) {
				t.Errorf("error %+v, want Sandbox.InvalidInput %q...", ive, tt.message)
			}
			if calls := svc.recordedCalls(); len(calls) != 0 {
				t.Errorf("service called: %+v", calls)
			}
			if recs := logs.records(t); len(recs) != 1 || recs[0]["function"] != tt.function {
				t.Errorf("log records %v, want one", recs)
			}
		})
	}
}

func TestDirectErrorMapping(t *testing.T) {
	const secretish = "table arn:aws:dynamodb:eu-west-1:1:table/t"
	tests := []struct {
		name    string
		err     error
		typ     string
		message string
	}{
		{"invalid", sandstep.Invalid("command", "must not be empty"), "Sandbox.InvalidInput", "command: must not be empty"},
		{"invalid id is named as sent", sandstep.Invalid("id", "is not a sandbox id"), "Sandbox.InvalidInput", "sandboxId: is not a sandbox id"},
		{"too large", &sandstep.Error{Code: sandstep.ETOOLARGE, Field: "files", Message: "too big"}, "Sandbox.InvalidInput", "files: too big"},
		{"unauthenticated", sandstep.Errorf(sandstep.EUNAUTHENTICATED, "no caller identity"), "Sandbox.NotFound", "no caller identity"},
		{"not found", fmt.Errorf("x: %w", sandstep.Errorf(sandstep.ENOTFOUND, "gone")), "Sandbox.NotFound", "gone"},
		{"conflict", sandstep.Errorf(sandstep.ECONFLICT, "busy"), "Sandbox.Conflict", "busy"},
		{"quota", sandstep.Errorf(sandstep.EQUOTA, "limit 2 reached"), "Sandbox.QuotaExceeded", "limit 2 reached"},
		{"transient", sandstep.Wrap(errors.New(secretish), sandstep.ETRANSIENT, "daytona unavailable"), "Sandbox.Transient", "daytona unavailable"},
		{"timeout", sandstep.Errorf(sandstep.ETIMEOUT, "command timed out"), "Sandbox.Timeout", "command timed out"},
		{"deadline", fmt.Errorf("%s: %w", secretish, context.DeadlineExceeded), "Sandbox.Timeout", "the operation timed out"},
		{"internal", sandstep.Wrap(errors.New(secretish), sandstep.EINTERNAL, "%s", secretish), "Sandbox.Internal", "internal error"},
		{"plain", errors.New(secretish), "Sandbox.Internal", "internal error"},
	}
	payloads := map[string]string{
		FunctionCreate:  `{"action":"create","userId":"u"}`,
		FunctionExecute: `{"action":"exec","userId":"u","sandboxId":"sbx_one","command":"ls"}`,
		FunctionStatus:  `{"action":"get","userId":"u","sandboxId":"sbx_one"}`,
		FunctionDelete:  `{"action":"delete","userId":"u","sandboxId":"sbx_one"}`,
	}
	for _, tt := range tests {
		for fn, payload := range payloads {
			t.Run(tt.name+" "+fn, func(t *testing.T) {
				a, logs := newTestAPI(&fakeService{err: tt.err}, Options{})
				ive := invokeError(t, a, fn, payload)
				want := messages.InvokeResponse_Error{Type: tt.typ, Message: tt.message}
				if !reflect.DeepEqual(ive, want) {
					t.Errorf("error %+v, want %+v", ive, want)
				}
				recs := logs.records(t)
				if len(recs) != 1 || !strings.Contains(fmt.Sprint(recs[0]["error"]), tt.err.Error()) || recs[0]["userId"] != "u" {
					t.Errorf("log records %v, want one with the full error", recs)
				}
			})
		}
	}
	t.Run("no result", func(t *testing.T) {
		for fn, payload := range payloads {
			a, _ := newTestAPI(&fakeService{nilResult: true}, Options{})
			if ive := invokeError(t, a, fn, payload); ive.Type != "Sandbox.Internal" {
				t.Errorf("%s: %+v", fn, ive)
			}
		}
	})
}

// TestEventDetection: an API Gateway event goes to the HTTP path, anything
// else is direct.
func TestEventDetection(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		api     bool
	}{
		{"v2 event", `{"version":"2.0","routeKey":"GET /sandboxes","requestContext":{"requestId":"r"}}`, true},
		{"v1 event", `{"version":"1.0","routeKey":"GET /sandboxes","requestContext":{}}`, false},
		{"no routeKey", `{"version":"2.0","requestContext":{}}`, false},
		{"requestContext not an object", `{"version":"2.0","routeKey":"x","requestContext":"x"}`, false},
		{"direct", `{"userId":"u"}`, false},
		{"not JSON", `nope`, false},
		{"array", `[]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isAPIGatewayEvent([]byte(tt.payload)); got != tt.api {
				t.Errorf("isAPIGatewayEvent = %v, want %v", got, tt.api)
			}
		})
	}
	t.Run("API event without identity is answered over HTTP, not as an error", func(t *testing.T) {
		a, _ := newTestAPI(&fakeService{}, Options{})
		out, err := a.Handler(FunctionStatus).Invoke(context.Background(),
			[]byte(`{"version":"2.0","routeKey":"GET /sandboxes","requestContext":{"requestId":"r"}}`))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), `"statusCode":401`) {
			t.Fatalf("answer %s", out)
		}
	})
	t.Run("unreadable API event", func(t *testing.T) {
		a, _ := newTestAPI(&fakeService{}, Options{})
		out, err := a.Handler(FunctionStatus).Invoke(context.Background(),
			[]byte(`{"version":"2.0","routeKey":"GET /sandboxes","requestContext":{"timeEpoch":"soon"}}`))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), `"statusCode":500`) || strings.Contains(string(out), "soon") {
			t.Fatalf("answer %s", out)
		}
	})
}

func TestDirectUsesLambdaRequestID(t *testing.T) {
	svc := &fakeService{}
	a, logs := newTestAPI(svc, Options{})
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "aws-req-9"})
	if _, err := a.Handler(FunctionStatus).Invoke(ctx, []byte(`{"action":"get","userId":"u","sandboxId":"sbx_one"}`)); err != nil {
		t.Fatal(err)
	}
	if c := svc.recordedCalls()[0]; c.call.RequestID != "aws-req-9" || c.ctxRequestID != "aws-req-9" {
		t.Errorf("recorded %+v", c)
	}
	svc.err = sandstep.Errorf(sandstep.ENOTFOUND, "gone")
	if _, err := a.Handler(FunctionStatus).Invoke(ctx, []byte(`{"action":"get","userId":"u","sandboxId":"sbx_one"}`)); err == nil {
		t.Fatal("want an error")
	}
	recs := logs.records(t)
	if len(recs) != 2 {
		t.Fatalf("log records %v, want one for the success and one for the failure", recs)
	}
	for _, rec := range recs {
		if rec["requestId"] != "aws-req-9" || rec["sandboxId"] != "sbx_one" || rec["userId"] != "u" {
			t.Errorf("log record without its context: %v", rec)
		}
	}
}

func TestDirectOutputIsTheResult(t *testing.T) {
	a, _ := newTestAPI(&fakeService{}, Options{})
	out, err := a.Handler(FunctionExecute).Invoke(context.Background(), []byte(`{"action":"exec","userId":"u","sandboxId":"sbx_one","command":"ls"}`))
	if err != nil {
		t.Fatal(err)
	}
	var res service.ExecResult
	dec := json.NewDecoder(strings.NewReader(string(out)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil || res.ExitCode != 3 || res.Stderr != "warn\n" {
		t.Fatalf("answer %s: %v", out, err)
	}
}
