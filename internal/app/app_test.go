package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/truora/minidyn/server"

	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
	"github.com/sandstep/sandstep/internal/testutil"
)

// Canaries: neither may ever appear in a log line or a response.
const (
	daytonaKey  = "canary-daytona-key-5f1e2d3c"
	secretValue = "canary-task-secret-9a8b7c6d"
)

// syncBuffer is the shared concurrency-safe buffer.
type syncBuffer = testutil.Buffer

// ssmFake is SSM's GetParameter over the real JSON 1.1 protocol, its
// parameters changed while the functions run (put), as an operator
// changes them; reads counts the calls. It may fail every call (fail) or,
// while stalled, answer none until its caller gives up or release is
// closed (a slow or unreachable endpoint), saying so on stalling.
type ssmFake struct {
	mu       sync.Mutex
	params   map[string]string
	failure  *ssmFailure // under mu
	reads    atomic.Int32
	stalled  atomic.Bool
	release  chan struct{} // closed: stalled calls answer
	stalling chan struct{} // sent (never waiting) each call that stalls
	URL      string
}

// ssmFailure is the AWS error every call is answered with.
type ssmFailure struct {
	status        int
	code, message string
}

func fakeSSM(t testing.TB, params map[string]string) *ssmFake {
	t.Helper()
	s := &ssmFake{params: params, release: make(chan struct{}), stalling: make(chan struct{}, 1)}
	hs := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

func (s *ssmFake) serve(w http.ResponseWriter, r *http.Request) {
	s.reads.Add(1)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if r.Header.Get("X-Amz-Target") != "AmazonSSM.GetParameter" {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"__type":"UnknownOperationException","message":"unsupported"}`)
		return
	}
	var in struct{ Name string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		w.WriteHeader(400)
		return
	}
	if s.stalled.Load() {
		select {
		case s.stalling <- struct{}{}:
		default:
		}
		// The body read, the server notices its caller hang up.
		select {
		case <-r.Context().Done():
		case <-s.release:
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	s.mu.Lock()
	v, ok := s.params[in.Name]
	f := s.failure
	s.mu.Unlock()
	switch {
	case f != nil:
		w.WriteHeader(f.status)
		fmt.Fprintf(w, `{"__type":%q,"message":%q}`, f.code, f.message)
	case !ok:
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"__type":"ParameterNotFound","message":"parameter not found"}`)
	default:
		json.NewEncoder(w).Encode(map[string]any{"Parameter": map[string]any{"Name": in.Name, "Type": "SecureString", "Value": v, "Version": 1}})
	}
}

func (s *ssmFake) put(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.params[name] = value
}

// fail answers every call from now on with an AWS error.
func (s *ssmFake) fail(status int, code, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failure = &ssmFailure{status, code, message}
}

type stack struct {
	mini    *server.Server
	env     *Env
	api     *api.API
	store   *store.Store
	daytona *daytonalocal.Server
	client  *daytona.Client
	logs    *syncBuffer
	// instance builds another instance of the functions on the same
	// endpoints, as Lambda starts one: nothing of the first's is shared.
	instance func(t testing.TB) *stack
}

// newStack builds the App as a deployed function would be, with only the
// endpoints local: DynamoDB (minidyn), SSM (fake), Daytona (local server).
func newStack(t testing.TB, extra map[string]string) *stack {
	t.Helper()
	return newStackVia(t, extra, nil)
}

// newStackVia is newStack with the App's and the bare client's DynamoDB
// and Daytona traffic sent through via(service, url), which returns the
// URL to use instead (a latency wire); nil sends it straight.
func newStackVia(t testing.TB, extra map[string]string, via func(service, url string) string) *stack {
	t.Helper()
	if via == nil {
		via = func(_, url string) string { return url }
	}
	mini, ddbURL := storetest.Server(t)
	if err := store.CreateTable(context.Background(), storetest.DB(t, ddbURL), "sandstep"); err != nil {
		t.Fatal(err)
	}
	dsrv, err := daytonalocal.New(daytonalocal.Options{Root: t.TempDir(), APIKey: daytonaKey})
	if err != nil {
		t.Fatal(err)
	}
	dhs := httptest.NewServer(dsrv)
	t.Cleanup(func() { dhs.Close(); dsrv.Close() })
	ssm := fakeSSM(t, map[string]string{
		"/sandstep/daytona-api-key":               daytonaKey,
		"/sandstep/secrets/users/alice/api-token": secretValue,
		"/elsewhere/not-for-callers":              "forbidden-value-123456",
	})
	env := map[string]string{
		"AWS_ENDPOINT_URL_SSM":  ssm.URL,
		"TABLE_NAME":            "sandstep",
		"DYNAMODB_ENDPOINT":     via(testutil.DynamoDB, ddbURL),
		"DAYTONA_API_URL":       via(testutil.Daytona, dhs.URL) + "/api",
		"DAYTONA_API_KEY_REF":   "ssm:/sandstep/daytona-api-key",
		"AWS_REGION":            "eu-west-1",
		"AWS_ACCESS_KEY_ID":     "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY": "dummy-secret-access-key",
		"LOG_LEVEL":             "debug",
		"DEFAULT_USER_QUOTA":    "3",
	}
	for k, v := range extra {
		env[k] = v
	}
	logs := &syncBuffer{}
	newAPI := func(t testing.TB) (*Env, *api.API) {
		e, err := NewEnv(Options{Getenv: func(k string) string { return env[k] }, LogWriter: logs})
		if err != nil {
			t.Fatal(err)
		}
		a, err := e.API(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return e, a
	}
	e, a := newAPI(t)
	st, err := e.Store()
	if err != nil {
		t.Fatal(err)
	}
	client, err := daytona.New(daytona.Config{APIKey: daytonaKey, APIURL: env["DAYTONA_API_URL"]})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{mini: mini, env: e, api: a, store: st, daytona: dsrv, client: client, logs: logs}
	s.instance = func(t testing.TB) *stack {
		other := *s
		_, other.api = newAPI(t)
		return &other
	}
	t.Cleanup(func() {
		out := logs.String()
		for _, canary := range []string{daytonaKey, secretValue} {
			if strings.Contains(out, canary) {
				t.Errorf("a secret reached the logs:\n%s", out)
			}
		}
	})
	return s
}

var reqSeq struct {
	sync.Mutex
	n int
}

// call serves one HTTP API request as API Gateway would deliver it.
func (s *stack) call(t testing.TB, user, routeKey, path string, body any, headers ...string) (int, map[string]any) {
	t.Helper()
	reqSeq.Lock()
	reqSeq.n++
	id := fmt.Sprintf("req-%d", reqSeq.n)
	reqSeq.Unlock()
	method, _, _ := strings.Cut(routeKey, " ")
	path, rawQuery, _ := strings.Cut(path, "?")
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: routeKey, RawPath: path,
		Headers: map[string]string{"content-type": "application/json"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: routeKey, RequestID: id, Stage: "$default",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path},
		},
	}
	if user != "" {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"sub": user}},
		}
	}
	if rawQuery != "" {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			t.Fatal(err)
		}
		ev.RawQueryString, ev.QueryStringParameters = rawQuery, map[string]string{}
		for k := range q {
			ev.QueryStringParameters[k] = q.Get(k)
		}
	}
	if strings.Contains(routeKey, "{id}") {
		parts := strings.Split(path, "/")
		ev.PathParameters = map[string]string{"id": parts[2]}
	}
	for i := 0; i+1 < len(headers); i += 2 {
		ev.Headers[strings.ToLower(headers[i])] = headers[i+1]
	}
	switch b := body.(type) {
	case nil:
	case string:
		ev.Body = b
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		ev.Body = string(raw)
	}
	resp := s.api.ServeEvent(context.Background(), ev)
	for _, canary := range []string{daytonaKey, secretValue} {
		if strings.Contains(resp.Body, canary) {
			t.Fatalf("a secret reached a response: %s", resp.Body)
		}
	}
	var out map[string]any
	if resp.Body != "" {
		if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v: %s", routeKey, path, err, resp.Body)
		}
	}
	return resp.StatusCode, out
}

func (s *stack) daytonaSandboxes(t testing.TB) int {
	t.Helper()
	items, err := s.client.ListAllSandboxes(context.Background(), daytona.ListSandboxesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return len(items)
}

func (s *stack) active(t testing.TB, user string) int {
	t.Helper()
	q, err := s.store.GetQuota(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return q.Active
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func project() map[string]any {
	return map[string]any{
		"env":       map[string]string{"GREETING": "hello"},
		"secretEnv": map[string]string{"API_TOKEN": "ssm:/sandstep/secrets/users/alice/api-token"},
		"files": []map[string]string{
			{"path": "hello.sh", "contentBase64": b64("echo \"$GREETING from $(basename $PWD)\"\necho \"token length ${#API_TOKEN}\"\necho warn >&2\n")},
		},
		"metadata": map[string]string{"installationId": "1", "issueId": "2", "repo": "octo/repo"},
	}
}

func TestEndToEndLifecycle(t *testing.T) {
	s := newStack(t, nil)
	status, sb := s.call(t, "alice", "POST /sandboxes", "/sandboxes", project())
	if status != 201 {
		t.Fatalf("create: %d %v", status, sb)
	}
	id := sb["id"].(string)
	if sb["state"] != "ready" || sb["owner"] != "alice" {
		t.Errorf("created = %v", sb)
	}

	status, res := s.call(t, "alice", "POST /sandboxes/{id}/exec", "/sandboxes/"+id+"/exec", map[string]any{"command": "sh hello.sh"})
	if status != 200 {
		t.Fatalf("exec: %d %v", status, res)
	}
	want := fmt.Sprintf("hello from work\ntoken length %d\n", len(secretValue))
	if res["stdout"] != want || res["stderr"] != "warn\n" || res["exitCode"] != float64(0) {
		t.Errorf("exec = %v, want stdout %q", res, want)
	}
	status, res = s.call(t, "alice", "POST /sandboxes/{id}/exec", "/sandboxes/"+id+"/exec", map[string]any{"command": "exit 7"})
	if status != 200 || res["exitCode"] != float64(7) {
		t.Errorf("non-zero exit: %d %v", status, res)
	}

	status, got := s.call(t, "alice", "GET /sandboxes/{id}", "/sandboxes/"+id, nil)
	if status != 200 || got["providerState"] != "started" {
		t.Errorf("status: %d %v", status, got)
	}
	status, list := s.call(t, "alice", "GET /sandboxes", "/sandboxes", nil)
	if status != 200 || len(list["items"].([]any)) != 1 {
		t.Errorf("list: %d %v", status, list)
	}
	if s.active(t, "alice") != 1 || s.daytonaSandboxes(t) != 1 {
		t.Errorf("active %d, daytona %d; want 1 and 1", s.active(t, "alice"), s.daytonaSandboxes(t))
	}

	status, del := s.call(t, "alice", "DELETE /sandboxes/{id}", "/sandboxes/"+id, nil)
	if status != 200 || del["state"] != "deleted" {
		t.Fatalf("delete: %d %v", status, del)
	}
	if status, again := s.call(t, "alice", "DELETE /sandboxes/{id}", "/sandboxes/"+id, nil); status != 200 || again["state"] != "deleted" {
		t.Errorf("second delete: %d %v", status, again)
	}
	if s.active(t, "alice") != 0 || s.daytonaSandboxes(t) != 0 {
		t.Errorf("after delete: active %d, daytona %d", s.active(t, "alice"), s.daytonaSandboxes(t))
	}

	// The one-shot route: create, run, delete.
	body := project()
	body["command"] = "sh hello.sh"
	status, one := s.call(t, "alice", "POST /api/agent/execute", "/api/agent/execute", body)
	if status != 200 || one["stdout"] != want || one["deleted"] != true {
		t.Errorf("agent execute: %d %v", status, one)
	}
	if s.active(t, "alice") != 0 || s.daytonaSandboxes(t) != 0 {
		t.Errorf("after agent execute: active %d, daytona %d", s.active(t, "alice"), s.daytonaSandboxes(t))
	}
	if !strings.Contains(s.logs.String(), `"requestId"`) {
		t.Error("no log line carries a requestId")
	}
}

func TestEndToEndAccessIdempotencyAndQuota(t *testing.T) {
	s := newStack(t, map[string]string{"DEFAULT_USER_QUOTA": "2"})
	key := []string{"Idempotency-Key", "create-1"}
	status, first := s.call(t, "alice", "POST /sandboxes", "/sandboxes", map[string]any{"labels": map[string]string{"a": "1"}}, key...)
	if status != 201 {
		t.Fatalf("create: %d %v", status, first)
	}
	id := first["id"].(string)
	status, again := s.call(t, "alice", "POST /sandboxes", "/sandboxes", map[string]any{"labels": map[string]string{"a": "1"}}, key...)
	if status != 201 || again["id"] != id {
		t.Errorf("retry with the same key: %d %v, want sandbox %s", status, again, id)
	}
	status, other := s.call(t, "alice", "POST /sandboxes", "/sandboxes", map[string]any{"labels": map[string]string{"a": "2"}}, key...)
	if status != 409 {
		t.Errorf("same key, another body: %d %v, want 409", status, other)
	}
	if s.daytonaSandboxes(t) != 1 {
		t.Fatalf("daytona has %d sandboxes, want 1", s.daytonaSandboxes(t))
	}

	routes := []struct{ route, path string }{
		{"GET /sandboxes/{id}", "/sandboxes/" + id},
		{"POST /sandboxes/{id}/exec", "/sandboxes/" + id + "/exec"},
		{"DELETE /sandboxes/{id}", "/sandboxes/" + id},
	}
	for _, r := range routes {
		var body any
		if strings.HasPrefix(r.route, "POST") {
			body = map[string]any{"command": "id"}
		}
		if status, resp := s.call(t, "bob", r.route, r.path, body); status != 404 {
			t.Errorf("bob %s: %d %v, want 404", r.route, status, resp)
		}
		if status, _ := s.call(t, "", r.route, r.path, body); status != 401 {
			t.Errorf("anonymous %s: %d, want 401", r.route, status)
		}
	}
	if _, list := s.call(t, "bob", "GET /sandboxes", "/sandboxes", nil); len(list["items"].([]any)) != 0 {
		t.Errorf("bob sees %v", list)
	}

	if status, _ := s.call(t, "alice", "POST /sandboxes", "/sandboxes", nil); status != 201 {
		t.Fatalf("second sandbox: %d", status)
	}
	status, over := s.call(t, "alice", "POST /sandboxes", "/sandboxes", nil)
	if status != 429 || over["error"].(map[string]any)["code"] != string(sandstep.EQUOTA) {
		t.Errorf("past the quota: %d %v", status, over)
	}
	if s.daytonaSandboxes(t) != 2 || s.active(t, "alice") != 2 {
		t.Errorf("past the quota something was created: daytona %d, active %d", s.daytonaSandboxes(t), s.active(t, "alice"))
	}

	// References outside bob's scope (alice's secrets, the Daytona key),
	// or not references at all, are refused naming the field; nothing is
	// created.
	for _, tt := range []struct {
		name, field string
		body        map[string]any
	}{
		{"alice's secret", "secretEnv.X", map[string]any{"secretEnv": map[string]string{"X": "ssm:/sandstep/secrets/users/alice/api-token"}}},
		{"alice's secret as a git token", "git.tokenSecret", map[string]any{"git": map[string]string{"url": "https://h/r.git", "tokenSecret": "ssm:/sandstep/secrets/users/alice/api-token"}}},
		{"the Daytona key", "secretEnv.X", map[string]any{"secretEnv": map[string]string{"X": "ssm:/sandstep/daytona-api-key"}}},
		{"a plain value", "secretEnv.X", map[string]any{"secretEnv": map[string]string{"X": "ghp_plainvalue"}}},
		{"an unknown scheme", "git.tokenSecret", map[string]any{"git": map[string]string{"url": "https://h/r.git", "tokenSecret": "vault:/x"}}},
	} {
		status, resp := s.call(t, "bob", "POST /sandboxes", "/sandboxes", tt.body)
		if status != 400 || resp["error"].(map[string]any)["field"] != tt.field {
			t.Errorf("%s: %d %v, want 400 naming %s", tt.name, status, resp, tt.field)
		}
		if strings.Contains(fmt.Sprint(resp), "ghp_plainvalue") {
			t.Errorf("%s: the error repeats the value: %v", tt.name, resp)
		}
	}
	if s.active(t, "bob") != 0 {
		t.Errorf("a refused reference took a slot")
	}
}

func TestEndToEndCreateFailureLeavesNothing(t *testing.T) {
	tests := []struct {
		name   string
		fault  *daytonalocal.Fault
		body   map[string]any
		status int
	}{
		{name: "daytona unavailable", fault: &daytonalocal.Fault{Kind: daytonalocal.FaultUnavailable, Match: daytonalocal.Match{Operation: "createSandbox"}}, status: 503},
		{name: "sandbox fails to start", fault: &daytonalocal.Fault{Kind: daytonalocal.FaultCreateError, Message: "no capacity"}, status: 503},
		{name: "create answer lost, then start fails", fault: &daytonalocal.Fault{Kind: daytonalocal.FaultCreateFailedToStart, Message: "boom"}, status: 503},
		{name: "session for the secrets file fails", fault: &daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 500, Match: daytonalocal.Match{Operation: "CreateSession"}}, body: project(), status: 500},
		{name: "upload fails", fault: &daytonalocal.Fault{Kind: daytonalocal.FaultUnavailable, Match: daytonalocal.Match{Operation: "UploadFiles"}}, body: project(), status: 503},
		{name: "git clone fails", body: map[string]any{"git": map[string]string{"url": "file:///nonexistent/repo.git"}}, status: 400},
		{name: "secret missing", body: map[string]any{"secretEnv": map[string]string{"X": "ssm:/sandstep/secrets/users/alice/missing"}}, status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, nil)
			if tt.fault != nil {
				if _, err := s.daytona.AddFault(*tt.fault); err != nil {
					t.Fatal(err)
				}
			}
			var body any
			if tt.body != nil {
				body = tt.body
			}
			status, resp := s.call(t, "alice", "POST /sandboxes", "/sandboxes", body)
			if status != tt.status {
				t.Errorf("status %d %v, want %d", status, resp, tt.status)
			}
			if status == 500 && !strings.Contains(fmt.Sprint(resp), "internal error") {
				t.Errorf("a 500 body must not carry an internal error string: %v", resp)
			}
			s.daytona.ClearFaults()
			if n := s.daytonaSandboxes(t); n != 0 {
				t.Errorf("%d Daytona sandboxes left", n)
			}
			if n := s.active(t, "alice"); n != 0 {
				t.Errorf("%d quota slots held", n)
			}
			// A record written with the reservation is left failed, saying
			// why (a failure before it leaves none); nothing claims a live
			// sandbox.
			_, list := s.call(t, "alice", "GET /sandboxes", "/sandboxes?state=all", nil)
			items, _ := list["items"].([]any)
			if len(items) > 1 {
				t.Fatalf("records left: %v, want at most the one failed record", list)
			}
			for _, it := range items {
				if rec := it.(map[string]any); rec["state"] != "failed" || rec["error"] == "" {
					t.Errorf("record left: %v, want it failed with its error", rec)
				}
			}
		})
	}
}

func TestColdStartConfigurationErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no table", map[string]string{"DAYTONA_API_KEY_REF": "ssm:/k"}, "TABLE_NAME"},
		{"bad quota", map[string]string{"TABLE_NAME": "t", "DAYTONA_API_KEY_REF": "ssm:/k", "DEFAULT_USER_QUOTA": "abc"}, "DEFAULT_USER_QUOTA"},
		{"plain key in AWS", map[string]string{"TABLE_NAME": "t", "DAYTONA_API_KEY": "sk-live-1234567890"}, "DAYTONA_API_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewEnv(Options{Getenv: func(k string) string { return tt.env[k] }, LogWriter: io.Discard})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to name %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "sk-live-1234567890") {
				t.Errorf("the error carries the key: %v", err)
			}
		})
	}
}
