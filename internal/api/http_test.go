package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// routeMethod is the service method each route calls.
var routeMethod = map[string]string{
	RouteCreateSandbox:  "CreateSandbox",
	RouteListSandboxes:  "ListSandboxes",
	RouteGetSandbox:     "GetSandbox",
	RouteExec:           "Exec",
	RouteDeleteSandbox:  "DeleteSandbox",
	RouteAgentExecute:   "AgentExecute",
	RouteStartTask:      "StartTask",
	RouteListTasks:      "ListTasks",
	RouteGetTask:        "GetTask",
	RouteTaskLogs:       "ReadTaskLogs",
	RouteTaskArtifacts:  "TaskArtifacts",
	RouteCancelTask:     "CancelTask",
	RouteNudgeTask:      "NudgeTask",
	RouteGitHubWebhook:  "HandleIssue",
	RouteSandboxEvents:  "SandboxEvents",
	RouteTaskEvents:     "TaskEvents",
	RouteUserUsage:      "UserUsage",
	RouteSetUserLimit:   "SetUserLimit",
	RouteClearUserLimit: "ClearUserLimit",
}

func TestRoutesTable(t *testing.T) {
	want := map[string][]string{
		FunctionCreate:  {"POST /sandboxes", "POST /tasks"},
		FunctionExecute: {"POST /api/agent/execute", "POST /sandboxes/{id}/exec"},
		FunctionStatus: {"DELETE /admin/users/{userId}/quota", "GET /admin/users/{userId}/quota",
			"GET /sandboxes", "GET /sandboxes/{id}", "GET /sandboxes/{id}/events", "GET /tasks", "GET /tasks/{id}",
			"GET /tasks/{id}/artifacts", "GET /tasks/{id}/events", "GET /tasks/{id}/logs", "POST /tasks/{id}/nudge",
			"PUT /admin/users/{userId}/quota"},
		FunctionDelete: {"DELETE /sandboxes/{id}", "DELETE /tasks/{id}"},
		FunctionGitHub: {"POST /webhooks/github"},
	}
	got := Routes()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Routes() = %v, want %v", got, want)
	}
	got[FunctionCreate][0] = "changed"
	if Routes()[FunctionCreate][0] != "POST /sandboxes" {
		t.Error("Routes() must return a copy")
	}
	// The reaper serves no route.
	if fns := slices.Sorted(maps.Keys(want)); !slices.Equal(Functions(), slices.Sorted(slices.Values(append(fns, FunctionReaper)))) {
		t.Errorf("Functions() = %v, want %v", Functions(), fns)
	}
	for fn, keys := range want {
		for _, k := range keys {
			if got, ok := RouteFunction(k); !ok || got != fn {
				t.Errorf("RouteFunction(%q) = %q, %v; want %q", k, got, ok, fn)
			}
		}
	}
	if _, ok := RouteFunction("GET /nope"); ok {
		t.Error("RouteFunction of an unknown route must say so")
	}
	if len(routeMethod) != len(routes) {
		t.Fatalf("test table covers %d routes, package has %d", len(routeMethod), len(routes))
	}
}

// TestRouting serves every route through ServeEvent and through each
// function's handler: the owning function serves it, the others answer 404
// without calling the service.
func TestRouting(t *testing.T) {
	for key, method := range routeMethod {
		owner, _ := RouteFunction(key)
		t.Run(key+" via ServeEvent", func(t *testing.T) {
			svc := &fakeService{}
			a, _ := newTestAPI(svc, Options{})
			res := a.ServeEvent(context.Background(), apiEvent(key))
			wantStatus := http.StatusOK
			switch key {
			case RouteCreateSandbox:
				wantStatus = http.StatusCreated
			case RouteStartTask, RouteNudgeTask, RouteGitHubWebhook:
				wantStatus = http.StatusAccepted
			}
			if res.StatusCode != wantStatus {
				t.Fatalf("status %d, want %d; body %s", res.StatusCode, wantStatus, res.Body)
			}
			calls := svc.recordedCalls()
			if len(calls) != 1 || calls[0].method != method {
				t.Fatalf("calls %+v, want one %s", calls, method)
			}
		})
		for _, fn := range Functions() {
			t.Run(key+" via "+fn, func(t *testing.T) {
				svc := &fakeService{}
				a, _ := newTestAPI(svc, Options{})
				res := invokeAPI(t, a, fn, apiEvent(key))
				calls := svc.recordedCalls()
				if fn == owner {
					if res.StatusCode >= 300 || len(calls) != 1 || calls[0].method != method {
						t.Fatalf("owner: status %d, calls %+v", res.StatusCode, calls)
					}
					return
				}
				if res.StatusCode != http.StatusNotFound || len(calls) != 0 {
					t.Fatalf("not the owner: status %d, calls %+v; want 404 and no call", res.StatusCode, calls)
				}
				if d := decodeErrorBody(t, res); d.Code != sandstep.ENOTFOUND || d.RequestID != "req-1" {
					t.Errorf("error %+v", d)
				}
			})
		}
	}
	for _, key := range []string{"GET /nope", "PUT /sandboxes/{id}", "$default", "", "get /sandboxes"} {
		t.Run("unknown "+key, func(t *testing.T) {
			svc := &fakeService{}
			a, _ := newTestAPI(svc, Options{})
			ev := apiEvent(RouteListSandboxes)
			ev.RouteKey = key
			res := a.ServeEvent(context.Background(), ev)
			if res.StatusCode != http.StatusNotFound || len(svc.recordedCalls()) != 0 {
				t.Fatalf("status %d, calls %v", res.StatusCode, svc.recordedCalls())
			}
			if d := decodeErrorBody(t, res); d.Code != sandstep.ENOTFOUND || !strings.Contains(d.Message, "GET /sandboxes") {
				t.Errorf("error %+v", d)
			}
		})
	}
}

// invokeAPI sends ev to function's Lambda handler as the runtime would.
func invokeAPI(t *testing.T, a *API, function string, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	payload, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.Handler(function).Invoke(context.Background(), payload)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	var res events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	return res
}

func TestIdentity(t *testing.T) {
	tests := []struct {
		name     string
		opts     []evOption
		noAuth   bool
		wantUser string // "" means 401
	}{
		{name: "sub claim", wantUser: "user-1"},
		{name: "header is ignored", opts: []evOption{withHeader("x-user-id", "mallory"), withHeader("X-User-Id", "mallory")}, wantUser: "user-1"},
		{name: "no authorizer", noAuth: true},
		{name: "no authorizer, header set", noAuth: true, opts: []evOption{withHeader("x-user-id", "mallory")}},
		{name: "claims without sub", opts: []evOption{withClaims(map[string]string{"iss": "x"})}},
		{name: "empty sub", opts: []evOption{withClaims(map[string]string{"sub": " "})}},
		{name: "nil claims", opts: []evOption{withClaims(nil)}},
		{name: "control character in sub", opts: []evOption{withClaims(map[string]string{"sub": "a\nb"})}},
		{name: "overlong sub", opts: []evOption{withClaims(map[string]string{"sub": strings.Repeat("a", 129)})}},
		{name: "sub with a key separator", opts: []evOption{withClaims(map[string]string{"sub": "a#b"})}},
		{name: "sub with a space", opts: []evOption{withClaims(map[string]string{"sub": "a b"})}},
		{name: "sub of a provider with a pipe", opts: []evOption{withClaims(map[string]string{"sub": "auth0|5f3a"})}, wantUser: "auth0|5f3a"},
	}
	for _, tt := range tests {
		for _, key := range []string{RouteGetSandbox, RouteCreateSandbox} {
			t.Run(tt.name+" "+key, func(t *testing.T) {
				svc := &fakeService{}
				a, _ := newTestAPI(svc, Options{})
				ev := apiEvent(key, tt.opts...)
				if tt.noAuth {
					ev.RequestContext.Authorizer = nil
				}
				res := a.ServeEvent(context.Background(), ev)
				calls := svc.recordedCalls()
				if tt.wantUser == "" {
					if res.StatusCode != http.StatusUnauthorized || len(calls) != 0 {
						t.Fatalf("status %d, calls %+v; want 401, no call", res.StatusCode, calls)
					}
					if d := decodeErrorBody(t, res); d.Code != sandstep.EUNAUTHENTICATED || d.RequestID != "req-1" {
						t.Errorf("error %+v", d)
					}
					if res.Headers["WWW-Authenticate"] != "Bearer" {
						t.Errorf("headers %v", res.Headers)
					}
					return
				}
				if len(calls) != 1 || calls[0].call.UserID != tt.wantUser || calls[0].call.RequestID != "req-1" {
					t.Fatalf("calls %+v, want user %q", calls, tt.wantUser)
				}
			})
		}
	}
	t.Run("authorizer without JWT", func(t *testing.T) {
		svc := &fakeService{}
		a, _ := newTestAPI(svc, Options{})
		ev := apiEvent(RouteListSandboxes)
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			Lambda: map[string]any{"sub": "user-1"},
		}
		if res := a.ServeEvent(context.Background(), ev); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d", res.StatusCode)
		}
	})
}

func TestBadInput(t *testing.T) {
	b64 := func(s string) evOption {
		return func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Body = base64.StdEncoding.EncodeToString([]byte(s))
			ev.IsBase64Encoded = true
		}
	}
	tests := []struct {
		name    string
		route   string
		opts    []evOption
		status  int
		field   string
		message string // a substring
	}{
		{"malformed JSON", RouteExec, []evOption{withBody(`{"command": "x",`)}, 400, "body", "byte offset"},
		{"missing colon", RouteExec, []evOption{withBody(`{"command" "x"}`)}, 400, "body", "byte offset 11"},
		{"trailing comma", RouteExec, []evOption{withBody(`{"command":"x",}`)}, 400, "body", "byte offset"},
		{"unknown field", RouteExec, []evOption{withBody(`{"command":"x","comand":"y"}`)}, 400, "comand", "unknown field"},
		{"unknown nested field", RouteCreateSandbox, []evOption{withBody(`{"resources":{"cpux":1}}`)}, 400, "resources.cpux", "unknown field"},
		{"unknown field in array element", RouteCreateSandbox, []evOption{withBody(`{"files":[{"path":"a","contentBase64":""},{"path":"b","mode":"0755"}]}`)}, 400, "files[1].mode", "unknown field"},
		{"unknown field in git", RouteAgentExecute, []evOption{withBody(`{"command":"x","git":{"url":"u","token":"t"}}`)}, 400, "git.token", "unknown field"},
		{"field name in another case", RouteExec, []evOption{withBody(`{"Command":"x"}`)}, 400, "Command", "unknown field"},
		{"duplicate field", RouteExec, []evOption{withBody(`{"command":"a","command":"b"}`)}, 400, "command", "duplicate"},
		{"duplicate map key", RouteExec, []evOption{withBody(`{"command":"a","env":{"A":"1","A":"2"}}`)}, 400, "env.A", "duplicate"},
		{"wrong type", RouteExec, []evOption{withBody(`{"command":5}`)}, 400, "command", "must be a string"},
		{"wrong nested type", RouteCreateSandbox, []evOption{withBody(`{"resources":{"cpu":"two"}}`)}, 400, "resources.cpu", "must be an integer"},
		{"fraction for integer", RouteExec, []evOption{withBody(`{"command":"x","timeoutSeconds":1.5}`)}, 400, "timeoutSeconds", "must be an integer"},
		{"wrong type in embedded struct", RouteAgentExecute, []evOption{withBody(`{"command":"x","ttlMinutes":"5"}`)}, 400, "ttlMinutes", "must be an integer"},
		{"wrong map value type", RouteExec, []evOption{withBody(`{"command":"x","env":{"A":1}}`)}, 400, "env.A", "must be a string, not number 1"},
		{"wrong type in array element", RouteCreateSandbox, []evOption{withBody(`{"files":[{"path":"a"},{"path":true}]}`)}, 400, "files[1].path", "must be a string, not true or false"},
		{"integer overflow", RouteExec, []evOption{withBody(`{"command":"x","timeoutSeconds":99999999999999999999}`)}, 400, "timeoutSeconds", "must be an integer"},
		{"object for string", RouteExec, []evOption{withBody(`{"command":{"a":1}}`)}, 400, "command", "must be a string, not an object"},
		{"array for object", RouteCreateSandbox, []evOption{withBody(`{"labels":["a"]}`)}, 400, "labels", "must be an object"},
		{"empty body", RouteExec, []evOption{withBody(``)}, 400, "body", "required"},
		{"blank body", RouteAgentExecute, []evOption{withBody(" \n\t")}, 400, "body", "required"},
		{"trailing garbage", RouteExec, []evOption{withBody(`{"command":"x"} xyz`)}, 400, "body", "after the JSON object at byte offset 15"},
		{"second object", RouteExec, []evOption{withBody(`{"command":"x"}{}`)}, 400, "body", "after the JSON object"},
		{"array body", RouteExec, []evOption{withBody(`[]`)}, 400, "body", "JSON object"},
		{"null body", RouteExec, []evOption{withBody(`null`)}, 400, "body", "JSON object"},
		{"string body", RouteCreateSandbox, []evOption{withBody(`"x"`)}, 400, "body", "JSON object"},
		{"base64 body, unknown field", RouteExec, []evOption{b64(`{"command":"x","nope":1}`)}, 400, "nope", "unknown field"},
		{"base64 body, not base64", RouteExec, []evOption{withBody("%%%"), func(ev *events.APIGatewayV2HTTPRequest) { ev.IsBase64Encoded = true }}, 400, "body", "base64"},
		{"oversized body", RouteExec, []evOption{withBody(`{"command":"` + strings.Repeat("x", 200) + `"}`)}, 413, "body", "128 bytes"},
		{"oversized base64 body", RouteExec, []evOption{b64(`{"command":"` + strings.Repeat("x", 200) + `"}`)}, 413, "body", "128 bytes"},
		{"oversized create", RouteCreateSandbox, []evOption{withBody(`{"image":"` + strings.Repeat("x", 200) + `"}`)}, 413, "body", "128 bytes"},
		{"limit not a number", RouteListSandboxes, []evOption{withQuery("limit", "ten")}, 400, "limit", "1 to 100"},
		{"limit repeated", RouteListSandboxes, []evOption{withQuery("limit", "5,6")}, 400, "limit", "1 to 100"},
		{"limit empty", RouteListSandboxes, []evOption{withQuery("limit", "")}, 400, "limit", "1 to 100"},
		{"unknown query parameter", RouteListSandboxes, []evOption{withQuery("limt", "5")}, 400, "limt", "unknown query parameter"},
		{"query on a route without", RouteGetSandbox, []evOption{withQuery("verbose", "1")}, 400, "verbose", "unknown query parameter"},
		{"idempotency key empty", RouteCreateSandbox, []evOption{withHeader("idempotency-key", "")}, 400, "Idempotency-Key", "1 to 128"},
		{"idempotency key too long", RouteExec, []evOption{withHeader("idempotency-key", strings.Repeat("k", 129))}, 400, "Idempotency-Key", "1 to 128"},
		{"idempotency key not ASCII", RouteAgentExecute, []evOption{withHeader("Idempotency-Key", "clé")}, 400, "Idempotency-Key", "printable ASCII"},
		{"idempotency key control char", RouteCreateSandbox, []evOption{withHeader("IDEMPOTENCY-KEY", "a\tb")}, 400, "Idempotency-Key", "printable ASCII"},
		{"idempotency key with a space", RouteCreateSandbox, []evOption{withHeader("Idempotency-Key", "order 42")}, 400, "Idempotency-Key", "without spaces"},
		{"missing path id", RouteGetSandbox, []evOption{func(ev *events.APIGatewayV2HTTPRequest) { ev.PathParameters = nil }}, 400, "id", "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			a, _ := newTestAPI(svc, Options{MaxBodyBytes: 128})
			res := a.ServeEvent(context.Background(), apiEvent(tt.route, tt.opts...))
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", res.StatusCode, tt.status, res.Body)
			}
			if calls := svc.recordedCalls(); len(calls) != 0 {
				t.Fatalf("service called: %+v", calls)
			}
			d := decodeErrorBody(t, res)
			wantCode := sandstep.EINVALID
			if tt.status == 413 {
				wantCode = sandstep.ETOOLARGE
			}
			if d.Code != wantCode || d.Field != tt.field || !strings.Contains(d.Message, tt.message) || d.RequestID != "req-1" {
				t.Errorf("error %+v, want code %s field %q message containing %q", d, wantCode, tt.field, tt.message)
			}
		})
	}
}

func TestServeSuccess(t *testing.T) {
	tests := []struct {
		name   string
		ev     events.APIGatewayV2HTTPRequest
		status int
		check  func(t *testing.T, c recorded, res events.APIGatewayV2HTTPResponse)
	}{
		{
			name:   "create with key, Location",
			ev:     apiEvent(RouteCreateSandbox, withHeader("Idempotency-Key", "key-1"), withBody(`{"image":"alpine:3","env":{"A":"1"},"files":[{"path":"a.sh","contentBase64":"ZWNobw=="}],"metadata":{"repo":"o/r"}}`)),
			status: 201,
			check: func(t *testing.T, c recorded, res events.APIGatewayV2HTTPResponse) {
				want := service.CreateSandboxInput{Image: "alpine:3", Env: map[string]string{"A": "1"},
					Files: []service.File{{Path: "a.sh", ContentBase64: "ZWNobw=="}}, Metadata: sandstep.Metadata{Repo: "o/r"}}
				if !reflect.DeepEqual(c.in, want) {
					t.Errorf("input %+v, want %+v", c.in, want)
				}
				if c.call != (service.Call{UserID: "user-1", RequestID: "req-1", IdempotencyKey: "key-1"}) {
					t.Errorf("call %+v", c.call)
				}
				if res.Headers["Location"] != "/sandboxes/sbx_created" {
					t.Errorf("headers %v", res.Headers)
				}
				var sb sandstep.Sandbox
				if err := json.Unmarshal([]byte(res.Body), &sb); err != nil || sb.ID != "sbx_created" || sb.State != sandstep.StateReady {
					t.Errorf("body %s: %v", res.Body, err)
				}
			},
		},
		{
			name:   "create with empty body",
			ev:     apiEvent(RouteCreateSandbox, withBody("")),
			status: 201,
			check: func(t *testing.T, c recorded, _ events.APIGatewayV2HTTPResponse) {
				if !reflect.DeepEqual(c.in, service.CreateSandboxInput{}) || c.call.IdempotencyKey != "" {
					t.Errorf("recorded %+v", c)
				}
			},
		},
		{
			name: "exec with base64 body and key in any case",
			ev: apiEvent(RouteExec, withHeader("IDEMPOTENCY-KEY", "K_1~"), func(ev *events.APIGatewayV2HTTPRequest) {
				ev.Body = base64.StdEncoding.EncodeToString([]byte(`{"command":"ls -l","cwd":"src","env":{"X":"y"},"timeoutSeconds":5}`))
				ev.IsBase64Encoded = true
			}),
			status: 200,
			check: func(t *testing.T, c recorded, res events.APIGatewayV2HTTPResponse) {
				want := service.ExecInput{Command: "ls -l", Cwd: "src", Env: map[string]string{"X": "y"}, TimeoutSeconds: intp(5)}
				if !reflect.DeepEqual(c.in, want) || c.id != "sbx_one" || c.call.IdempotencyKey != "K_1~" {
					t.Errorf("recorded %+v", c)
				}
				if !strings.Contains(res.Body, `"exitCode":3`) {
					t.Errorf("body %s", res.Body)
				}
			},
		},
		{
			name:   "list defaults",
			ev:     apiEvent(RouteListSandboxes),
			status: 200,
			check: func(t *testing.T, c recorded, res events.APIGatewayV2HTTPResponse) {
				if c.limit != 0 || c.cursor != "" {
					t.Errorf("recorded %+v", c)
				}
				var list service.SandboxList
				if err := json.Unmarshal([]byte(res.Body), &list); err != nil || len(list.Items) != 1 || list.NextCursor != "next" {
					t.Errorf("body %s: %v", res.Body, err)
				}
			},
		},
		{
			name:   "list with limit and cursor",
			ev:     apiEvent(RouteListSandboxes, withQuery("limit", "100"), withQuery("cursor", "abc=")),
			status: 200,
			check: func(t *testing.T, c recorded, _ events.APIGatewayV2HTTPResponse) {
				if c.limit != 100 || c.cursor != "abc=" {
					t.Errorf("recorded %+v", c)
				}
			},
		},
		{
			name:   "get ignores a body and a key",
			ev:     apiEvent(RouteGetSandbox, withBody("not json"), withHeader("idempotency-key", "")),
			status: 200,
			check: func(t *testing.T, c recorded, _ events.APIGatewayV2HTTPResponse) {
				if c.id != "sbx_one" || c.call.IdempotencyKey != "" || c.ctxSandboxID != "sbx_one" {
					t.Errorf("recorded %+v", c)
				}
			},
		},
		{
			name:   "delete answers the sandbox",
			ev:     apiEvent(RouteDeleteSandbox),
			status: 200,
			check: func(t *testing.T, c recorded, res events.APIGatewayV2HTTPResponse) {
				var sb sandstep.Sandbox
				if err := json.Unmarshal([]byte(res.Body), &sb); err != nil || sb.State != sandstep.StateDeleted || c.id != "sbx_one" {
					t.Errorf("body %s: %v", res.Body, err)
				}
			},
		},
		{
			name:   "agent execute",
			ev:     apiEvent(RouteAgentExecute, withBody(`{"command":"make test","image":"golang:1","keepSandbox":true,"files":[{"path":"go.mod","contentBase64":"bW9kdWxlIHgK"}]}`)),
			status: 200,
			check: func(t *testing.T, c recorded, res events.APIGatewayV2HTTPResponse) {
				in := c.in.(service.AgentExecuteInput)
				if in.Command != "make test" || in.Image != "golang:1" || !in.KeepSandbox || len(in.Files) != 1 {
					t.Errorf("input %+v", in)
				}
				var out service.AgentExecuteResult
				if err := json.Unmarshal([]byte(res.Body), &out); err != nil || out.SandboxID != "sbx_agent" || !out.Deleted {
					t.Errorf("body %s: %v", res.Body, err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			a, _ := newTestAPI(svc, Options{})
			res := a.ServeEvent(context.Background(), tt.ev)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", res.StatusCode, tt.status, res.Body)
			}
			if res.Headers["Content-Type"] != "application/json" {
				t.Errorf("headers %v", res.Headers)
			}
			calls := svc.recordedCalls()
			if len(calls) != 1 {
				t.Fatalf("calls %+v", calls)
			}
			c := calls[0]
			if c.ctxUserID != "user-1" || c.ctxRequestID != "req-1" {
				t.Errorf("service context carries user %q request %q", c.ctxUserID, c.ctxRequestID)
			}
			tt.check(t, c, res)
		})
	}
}

func TestOutputNotHTMLEscaped(t *testing.T) {
	svc := &fakeService{stdout: "<b>a & b</b>\n"}
	a, _ := newTestAPI(svc, Options{})
	res := a.ServeEvent(context.Background(), apiEvent(RouteExec))
	if !strings.Contains(res.Body, `"stdout":"<b>a & b</b>\n"`) {
		t.Fatalf("body %s", res.Body)
	}
}

// TestErrorMapping runs every error code (and unclassified errors) through
// the HTTP edge: status, body, and the internal text nowhere in the body.
func TestErrorMapping(t *testing.T) {
	const secretish = "dynamodb: arn:aws:dynamodb:us-east-1:123456789012:table/x token=hunter2"
	tests := []struct {
		name    string
		err     error
		status  int
		code    sandstep.Code
		message string
		field   string
	}{
		{"invalid", sandstep.Invalid("command", "must not be empty"), 400, sandstep.EINVALID, "must not be empty", "command"},
		{"unauthenticated", sandstep.Errorf(sandstep.EUNAUTHENTICATED, "no caller identity"), 401, sandstep.EUNAUTHENTICATED, "no caller identity", ""},
		{"not found", fmt.Errorf("get: %w", sandstep.Errorf(sandstep.ENOTFOUND, `sandbox "sbx_one" not found`)), 404, sandstep.ENOTFOUND, `sandbox "sbx_one" not found`, ""},
		{"conflict", sandstep.Errorf(sandstep.ECONFLICT, "key reused"), 409, sandstep.ECONFLICT, "key reused", ""},
		{"too large", &sandstep.Error{Code: sandstep.ETOOLARGE, Field: "files", Message: "too many bytes"}, 413, sandstep.ETOOLARGE, "too many bytes", "files"},
		{"quota", sandstep.Errorf(sandstep.EQUOTA, "limit 3 reached"), 429, sandstep.EQUOTA, "limit 3 reached", ""},
		{"transient", sandstep.Wrap(errors.New(secretish), sandstep.ETRANSIENT, "daytona unavailable"), 503, sandstep.ETRANSIENT, "daytona unavailable", ""},
		{"timeout", sandstep.Wrap(errors.New(secretish), sandstep.ETIMEOUT, "command timed out"), 504, sandstep.ETIMEOUT, "command timed out", ""},
		{"deadline", fmt.Errorf("%s: %w", secretish, context.DeadlineExceeded), 504, sandstep.ETIMEOUT, "the operation timed out", ""},
		{"cancelled", fmt.Errorf("%s: %w", secretish, context.Canceled), 503, sandstep.ETRANSIENT, "the operation was interrupted; try again", ""},
		{"internal with code", sandstep.Wrap(errors.New(secretish), sandstep.EINTERNAL, "%s", secretish), 500, sandstep.EINTERNAL, "internal error", ""},
		{"plain error", errors.New(secretish), 500, sandstep.EINTERNAL, "internal error", ""},
		{"field on a non-input error is not shown", &sandstep.Error{Code: sandstep.ECONFLICT, Field: "state", Message: "wrong state"}, 409, sandstep.ECONFLICT, "wrong state", ""},
	}
	for _, tt := range tests {
		for key := range routeMethod {
			t.Run(tt.name+" "+key, func(t *testing.T) {
				svc := &fakeService{err: tt.err}
				a, logs := newTestAPI(svc, Options{})
				res := a.ServeEvent(context.Background(), apiEvent(key))
				if res.StatusCode != tt.status || res.StatusCode != HTTPStatus(tt.code) {
					t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
				}
				d := decodeErrorBody(t, res)
				want := ErrorDetail{Code: tt.code, Message: tt.message, Field: tt.field, RequestID: "req-1"}
				if d != want {
					t.Errorf("error %+v, want %+v", d, want)
				}
				if strings.Contains(res.Body, "arn:aws") || strings.Contains(res.Body, "hunter2") {
					t.Errorf("internal text in body: %s", res.Body)
				}
				recs := logs.records(t)
				if len(recs) != 1 {
					t.Fatalf("%d log records, want exactly 1: %v", len(recs), recs)
				}
				rec := recs[0]
				wantUser := "user-1"
				if routes[key].public {
					wantUser = "" // a nudge is the task's, not a user's
				}
				if user, _ := rec["userId"].(string); rec["code"] != string(tt.code) || rec["status"] != float64(tt.status) || user != wantUser || rec["requestId"] != "req-1" {
					t.Errorf("log record %v", rec)
				}
				if errText, _ := rec["error"].(string); !strings.Contains(errText, tt.err.Error()[:min(20, len(tt.err.Error()))]) {
					t.Errorf("log record does not carry the full error: %v", rec)
				}
				wantLevel := "WARN"
				if tt.status >= 500 {
					wantLevel = "ERROR"
				}
				if rec["level"] != wantLevel {
					t.Errorf("level %v, want %s", rec["level"], wantLevel)
				}
				switch {
				case routes[key].task && rec["taskId"] != testTaskID:
					t.Errorf("log record lacks taskId: %v", rec)
				case !routes[key].task && strings.Contains(key, "{id}") && rec["sandboxId"] != "sbx_one":
					t.Errorf("log record lacks sandboxId: %v", rec)
				}
			})
		}
	}
	t.Run("no result", func(t *testing.T) {
		for key := range routeMethod {
			if key == RouteNudgeTask || key == RouteTaskArtifacts {
				continue // no result is theirs to give: an error, or a list
			}
			a, _ := newTestAPI(&fakeService{nilResult: true}, Options{})
			res := a.ServeEvent(context.Background(), apiEvent(key))
			if res.StatusCode != 500 {
				t.Errorf("%s: status %d, want 500 for a service answering nothing", key, res.StatusCode)
			}
		}
	})
}

func TestBadInputIsLoggedOnce(t *testing.T) {
	a, logs := newTestAPI(&fakeService{}, Options{})
	a.ServeEvent(context.Background(), apiEvent(RouteExec, withBody(`{"comand":"x"}`)))
	recs := logs.records(t)
	if len(recs) != 1 || recs[0]["code"] != "invalid_input" || recs[0]["route"] != RouteExec || recs[0]["sandboxId"] != "sbx_one" {
		t.Fatalf("log records %v", recs)
	}
}

func TestHandlerPanicsOnUnknownFunction(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Handler(\"bogus\") did not panic")
		}
	}()
	New(&fakeService{}, Options{MaxBodyBytes: testMaxBody}).Handler("bogus")
}

func BenchmarkServeEventExec(b *testing.B) {
	a := New(&fakeService{}, Options{MaxBodyBytes: testMaxBody})
	ev := apiEvent(RouteExec, withBody(`{"command":"npm test","cwd":"app","env":{"CI":"1","NODE_ENV":"test"},"timeoutSeconds":300}`),
		withHeader("idempotency-key", "bench"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := a.ServeEvent(ctx, ev); res.StatusCode != 200 {
			b.Fatal(res.Body)
		}
	}
}

// An error that left a sandbox behind names it, over HTTP and directly.
func TestErrorNamesTheSandboxLeft(t *testing.T) {
	left := sandstep.WithSandbox(sandstep.Errorf(sandstep.ETRANSIENT, "toolbox down"), "sbx_left")
	svc := &fakeService{err: left}
	a, _ := newTestAPI(svc, Options{})
	res := a.ServeEvent(context.Background(), apiEvent(RouteAgentExecute, withBody(`{"command":"make"}`)))
	var body ErrorResponse
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil || res.StatusCode != http.StatusServiceUnavailable || body.Error.SandboxID != "sbx_left" {
		t.Errorf("HTTP answer %d %s, want 503 naming sbx_left", res.StatusCode, res.Body)
	}
	_, err := a.HandlerFunc(FunctionExecute)(context.Background(), json.RawMessage(`{"action":"agent-execute","userId":"alice","command":"make"}`))
	if err == nil || !strings.Contains(err.Error(), "sbx_left") {
		t.Errorf("direct error %v, want it to name sbx_left", err)
	}
}
