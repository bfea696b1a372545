package local

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/sandstep/sandstep/infra/samtemplate"
)

// gatewayTemplate is a small template: an authorized API with a route per
// behaviour under test, and one open route.
const gatewayTemplate = `
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            IdentitySource: $request.header.Authorization
            JwtConfiguration:
              issuer: https://issuer.example/
              audience: [aud-1, aud-2]
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo
      Runtime: provided.al2023
      Handler: bootstrap
      Events:
        Item:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: POST
            Path: /things/{name}/items
        Open:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: GET
            Path: /open
            Auth:
              Authorizer: NONE
        Slow:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: GET
            Path: /slow
            TimeoutInMillis: 50
`

// fakeFunction records the events it gets and answers with answer.
type fakeFunction struct {
	mu       sync.Mutex
	events   []events.APIGatewayV2HTTPRequest
	payloads [][]byte // as they came, byte for byte
	answer   func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (any, error)
}

func (f *fakeFunction) handle(ctx context.Context, payload json.RawMessage) (any, error) {
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.payloads = append(f.payloads, bytes.Clone(payload))
	f.mu.Unlock()
	return f.answer(ctx, ev)
}

func (f *fakeFunction) last(t *testing.T) events.APIGatewayV2HTTPRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.events) == 0 {
		t.Fatal("the function was not invoked")
	}
	return f.events[len(f.events)-1]
}

// perInvoke is a function with a handler of its own for each invoke, as
// the stack's functions have: aws-lambda-go answers with a buffer its
// handler reuses, and a gateway's invokes may overlap.
type perInvoke func(ctx context.Context, payload json.RawMessage) (any, error)

func (f perInvoke) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return lambda.NewHandler((func(context.Context, json.RawMessage) (any, error))(f)).Invoke(ctx, payload)
}

func newTestGateway(t *testing.T, fn *fakeFunction) (*httptest.Server, *sync.WaitGroup) {
	t.Helper()
	tpl, err := samtemplate.Parse([]byte(gatewayTemplate))
	if err != nil {
		t.Fatal(err)
	}
	fns, err := newFunctions(tpl, DefaultRegion, map[string]lambda.Handler{"echo": perInvoke(fn.handle)})
	if err != nil {
		t.Fatal(err)
	}
	authorizers := map[string]map[string]samtemplate.Authorizer{}
	for _, a := range tpl.HTTPAPIs() {
		authorizers[a.LogicalID] = a.Authorizers
	}
	ctx, cancel := context.WithCancel(context.Background())
	var inflight sync.WaitGroup
	gw := &apiGateway{
		routes: tpl.Routes(), authorizers: authorizers, fns: fns,
		log: slog.New(slog.DiscardHandler), base: ctx, inflight: &inflight,
		now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() { cancel(); srv.Close(); inflight.Wait() })
	return srv, &inflight
}

func TestGatewayBuildsPayloadV2Events(t *testing.T) {
	fn := &fakeFunction{answer: func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 204}, nil
	}}
	srv, _ := newTestGateway(t, fn)
	host := strings.TrimPrefix(srv.URL, "http://")

	cases := []struct {
		name        string
		contentType string
		body        []byte
		wantBody    string
		wantBase64  bool
	}{
		{"JSON body as text", "application/json", []byte(`{"a":1}`), `{"a":1}`, false},
		{"text body with a charset", "text/plain; charset=utf-8", []byte("héllo"), "héllo", false},
		{"vendor JSON as text", "application/vnd.api+json", []byte(`{}`), `{}`, false},
		{"binary body base64", "application/octet-stream", []byte{0, 1, 2, 255}, base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 255}), true},
		{"form body base64", "application/x-www-form-urlencoded", []byte("a=b"), base64.StdEncoding.EncodeToString([]byte("a=b")), true},
		{"no content type base64", "", []byte("x"), base64.StdEncoding.EncodeToString([]byte("x")), true},
		{"no body", "", nil, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/things/a%20b/items?x=1&x=2&y=&z=%2F", strings.NewReader(string(c.body)))
			req.Header.Set("Authorization", "Bearer alice")
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			req.Header.Add("X-Multi", "one")
			req.Header.Add("X-Multi", "two")
			req.Header.Add("Cookie", "a=1; b=2")
			req.Header.Add("Cookie", "c=3")
			req.Header.Set("User-Agent", "test-agent/1")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode != 204 {
				t.Fatalf("status %d", res.StatusCode)
			}
			ev := fn.last(t)

			if ev.Body != c.wantBody || ev.IsBase64Encoded != c.wantBase64 {
				t.Errorf("body %q base64 %v, want %q %v", ev.Body, ev.IsBase64Encoded, c.wantBody, c.wantBase64)
			}
			checks := []struct {
				what      string
				got, want any
			}{
				{"version", ev.Version, "2.0"},
				{"routeKey", ev.RouteKey, "POST /things/{name}/items"},
				{"rawPath", ev.RawPath, "/things/a%20b/items"},
				{"rawQueryString", ev.RawQueryString, "x=1&x=2&y=&z=%2F"},
				{"queryStringParameters", ev.QueryStringParameters, map[string]string{"x": "1,2", "y": "", "z": "/"}},
				{"pathParameters", ev.PathParameters, map[string]string{"name": "a b"}},
				{"cookies", ev.Cookies, []string{"a=1", "b=2", "c=3"}},
				{"header x-multi", ev.Headers["x-multi"], "one,two"},
				{"header host", ev.Headers["host"], host},
				{"header authorization", ev.Headers["authorization"], "Bearer alice"},
				{"no cookie header", ev.Headers["cookie"], ""},
				{"requestContext.routeKey", ev.RequestContext.RouteKey, "POST /things/{name}/items"},
				{"accountId", ev.RequestContext.AccountID, AccountID},
				{"apiId", ev.RequestContext.APIID, "local"},
				{"stage", ev.RequestContext.Stage, "$default"},
				{"domainName", ev.RequestContext.DomainName, "127.0.0.1"},
				{"domainPrefix", ev.RequestContext.DomainPrefix, "127"},
				{"time", ev.RequestContext.Time, "02/Jan/2026:03:04:05 +0000"},
				{"timeEpoch", ev.RequestContext.TimeEpoch, int64(1767323045000)},
				{"http.method", ev.RequestContext.HTTP.Method, "POST"},
				{"http.path", ev.RequestContext.HTTP.Path, "/things/a%20b/items"},
				{"http.protocol", ev.RequestContext.HTTP.Protocol, "HTTP/1.1"},
				{"http.sourceIp", ev.RequestContext.HTTP.SourceIP, "127.0.0.1"},
				{"http.userAgent", ev.RequestContext.HTTP.UserAgent, "test-agent/1"},
				{"request id set", ev.RequestContext.RequestID != "" && res.Header.Get("Apigw-Requestid") == ev.RequestContext.RequestID, true},
			}
			for _, ch := range checks {
				if !reflect.DeepEqual(ch.got, ch.want) {
					t.Errorf("%s = %#v, want %#v", ch.what, ch.got, ch.want)
				}
			}
			if ev.RequestContext.Authorizer == nil || ev.RequestContext.Authorizer.JWT == nil {
				t.Fatalf("no JWT authorizer context: %+v", ev.RequestContext.Authorizer)
			}
			claims := ev.RequestContext.Authorizer.JWT.Claims
			if claims["sub"] != "alice" || claims["iss"] != "https://issuer.example/" || claims["aud"] != "aud-1" {
				t.Errorf("claims = %v, want sub alice, the template's issuer and first audience", claims)
			}
		})
	}
}

func TestGatewayRequestIDsAreUnique(t *testing.T) {
	fn := &fakeFunction{answer: func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) {
		return map[string]string{}, nil
	}}
	srv, _ := newTestGateway(t, fn)
	seen := map[string]bool{}
	for range 50 {
		res := do(t, http.MethodGet, srv.URL+"/open", nil)
		id := res.header.Get("Apigw-Requestid")
		if id == "" || seen[id] {
			t.Fatalf("request id %q empty or repeated", id)
		}
		seen[id] = true
	}
}

func TestGatewayOpenRouteHasNoAuthorizer(t *testing.T) {
	fn := &fakeFunction{answer: func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) {
		return map[string]string{"ok": "yes"}, nil
	}}
	srv, _ := newTestGateway(t, fn)
	res := do(t, http.MethodGet, srv.URL+"/open", nil)
	if res.status != 200 || string(res.body) != `{"ok":"yes"}` {
		t.Fatalf("got %d %s", res.status, res.body)
	}
	if ev := fn.last(t); ev.RequestContext.Authorizer != nil {
		t.Errorf("an open route got an authorizer context: %+v", ev.RequestContext.Authorizer)
	}
}

func TestGatewayWritesLambdaResponses(t *testing.T) {
	cases := []struct {
		name       string
		answer     any
		err        error
		wantStatus int
		wantHeader http.Header
		wantBody   string
	}{
		{
			name: "a response with every part",
			answer: events.APIGatewayV2HTTPResponse{
				StatusCode:        201,
				Headers:           map[string]string{"Content-Type": "text/plain", "X-One": "1"},
				MultiValueHeaders: map[string][]string{"X-Many": {"a", "b"}},
				Cookies:           []string{"s=1; Path=/", "t=2"},
				Body:              "created",
			},
			wantStatus: 201,
			wantHeader: http.Header{"Content-Type": {"text/plain"}, "X-One": {"1"}, "X-Many": {"a", "b"}, "Set-Cookie": {"s=1; Path=/", "t=2"}},
			wantBody:   "created",
		},
		{
			name:       "a base64 body is decoded",
			answer:     events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/octet-stream"}, Body: base64.StdEncoding.EncodeToString([]byte{0, 255}), IsBase64Encoded: true},
			wantStatus: 200,
			wantHeader: http.Header{"Content-Type": {"application/octet-stream"}},
			wantBody:   string([]byte{0, 255}),
		},
		{
			name:       "JSON without statusCode is a 200 JSON body",
			answer:     map[string]any{"hello": "world"},
			wantStatus: 200,
			wantHeader: http.Header{"Content-Type": {"application/json"}},
			wantBody:   `{"hello":"world"}`,
		},
		{
			name:       "a function error is API Gateway's 500",
			err:        messages.InvokeResponse_Error{Type: "Sandbox.Internal", Message: "boom"},
			wantStatus: 500,
			wantBody:   `{"message":"Internal Server Error"}`,
		},
		{
			name:       "a plain Go error too",
			err:        errors.New("boom"),
			wantStatus: 500,
			wantBody:   `{"message":"Internal Server Error"}`,
		},
		{
			name:       "a bad base64 body is a 500",
			answer:     events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "%%%", IsBase64Encoded: true},
			wantStatus: 500,
			wantBody:   `{"message":"Internal Server Error"}`,
		},
		{
			// Lambda fails the invocation (Function.ResponseSizeTooLarge);
			// the answer never reaches the client.
			name:       "a response over Lambda's 6 MB is a 500",
			answer:     events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "text/plain"}, Body: strings.Repeat("b", 7<<20)},
			wantStatus: 500,
			wantBody:   `{"message":"Internal Server Error"}`,
		},
		{
			name:       "an impossible status is a 500",
			answer:     events.APIGatewayV2HTTPResponse{StatusCode: 42},
			wantStatus: 500,
			wantBody:   `{"message":"Internal Server Error"}`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fn := &fakeFunction{answer: func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) { return c.answer, c.err }}
			srv, _ := newTestGateway(t, fn)
			res := do(t, http.MethodGet, srv.URL+"/open", nil)
			if res.status != c.wantStatus || string(res.body) != c.wantBody {
				t.Errorf("got %d %q, want %d %q", res.status, res.body, c.wantStatus, c.wantBody)
			}
			for k, v := range c.wantHeader {
				if got := res.header.Values(k); !reflect.DeepEqual(got, v) {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// API Gateway's HTTP API takes a body of up to 10 MB, but invokes the
// function synchronously, and Lambda refuses an event over 6 MB: the
// client gets 413 and the function never runs.
func TestGatewayRefusesAnEventOverLambdasRequestLimit(t *testing.T) {
	fn := &fakeFunction{answer: func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 204}, nil
	}}
	srv, _ := newTestGateway(t, fn)
	invoked := func() int {
		fn.mu.Lock()
		defer fn.mu.Unlock()
		return len(fn.events)
	}
	body := `{"pad":"` + strings.Repeat("a", 7<<20) + `"}` // under API Gateway's 10 MB, over Lambda's 6 MB
	res := do(t, http.MethodPost, srv.URL+"/things/a/items", body, "Authorization: Bearer alice")
	if res.status != http.StatusRequestEntityTooLarge || string(res.body) != `{"message":"Request Too Long"}` || invoked() != 0 {
		t.Errorf("a 7 MiB body: %d %s, function invoked %d times; want 413 and no invocation", res.status, res.body, invoked())
	}
	body = `{"pad":"` + strings.Repeat("a", 5<<20) + `"}` // an event under 6 MB
	if res := do(t, http.MethodPost, srv.URL+"/things/a/items", body, "Authorization: Bearer alice"); res.status != http.StatusNoContent || invoked() != 1 {
		t.Errorf("a 5 MiB body: %d %s, function invoked %d times; want 204 and one invocation", res.status, res.body, invoked())
	}
}

// The event is measured against Lambda's 6 MB as Lambda gets it: json.Marshal
// wrote each <, > and & as \u003c (six bytes for one), which API Gateway's
// event does not ("rawQueryString": "a=1&b=2"), so a 2.5 MiB HTML body, an
// event of ~2.6 MB in AWS, was refused with 413. The function gets the
// body intact, in valid JSON.
func TestGatewayMeasuresTheEventUnescaped(t *testing.T) {
	fn := &fakeFunction{answer: func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 204}, nil
	}}
	srv, _ := newTestGateway(t, fn)
	body := `{"html":"` + strings.Repeat("<p>a &amp; b</p>", (5<<19)/16) + `"}`

	// The event as API Gateway sends it: nothing HTML-escaped.
	var aws bytes.Buffer
	enc := json.NewEncoder(&aws)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(events.APIGatewayV2HTTPRequest{Body: body, RawPath: "/things/a/items"}); err != nil {
		t.Fatal(err)
	}
	if aws.Len() > MaxSyncPayload/2 {
		t.Fatalf("test body too large: %d", aws.Len())
	}

	res := do(t, http.MethodPost, srv.URL+"/things/a/items?a=1&b=<2>", body, "Authorization: Bearer alice")
	fn.mu.Lock()
	invoked := len(fn.events)
	fn.mu.Unlock()
	if res.status != http.StatusNoContent || invoked != 1 {
		t.Fatalf("a %d-byte body (an event of ~%d bytes in AWS, under Lambda's %d): %d %s, invoked %d times; want 204",
			len(body), aws.Len(), MaxSyncPayload, res.status, res.body, invoked)
	}
	ev := fn.last(t)
	fn.mu.Lock()
	payload := fn.payloads[0]
	fn.mu.Unlock()
	if !json.Valid(payload) || bytes.Contains(payload, []byte(`\u003c`)) {
		t.Errorf("the event is not valid JSON, or has HTML escapes: %.200s", payload)
	}
	if ev.Body != body || ev.RawQueryString != "a=1&b=<2>" && ev.RawQueryString != "a=1&b=%3C2%3E" || ev.QueryStringParameters["b"] != "<2>" {
		t.Errorf("the function got body %.40q (%d bytes), query %q %v; want the body sent and b=<2>",
			ev.Body, len(ev.Body), ev.RawQueryString, ev.QueryStringParameters)
	}
}

func TestGatewayPanicIsA500(t *testing.T) {
	fn := &fakeFunction{answer: func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) { panic("handler bug") }}
	srv, _ := newTestGateway(t, fn)
	res := do(t, http.MethodGet, srv.URL+"/open", nil)
	if res.status != 500 || string(res.body) != `{"message":"Internal Server Error"}` {
		t.Errorf("got %d %s", res.status, res.body)
	}
}

func TestGatewayIntegrationTimeout(t *testing.T) {
	release := make(chan struct{})
	fn := &fakeFunction{answer: func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (any, error) {
		<-release
		return map[string]string{}, nil
	}}
	srv, inflight := newTestGateway(t, fn)
	res := do(t, http.MethodGet, srv.URL+"/slow", nil, "Authorization: Bearer alice")
	close(release)
	inflight.Wait()
	if res.status != http.StatusServiceUnavailable || string(res.body) != `{"message":"Service Unavailable"}` {
		t.Errorf("got %d %s, want 503 after the route's 50 ms integration timeout", res.status, res.body)
	}
}

func TestBearerToken(t *testing.T) {
	cases := []struct {
		name   string
		values []string
		want   string
		ok     bool
	}{
		{"plain", []string{"Bearer alice"}, "alice", true},
		{"the bare token", []string{"alice"}, "alice", true},
		{"scheme in any case", []string{"bearer alice"}, "alice", true},
		{"surrounding spaces", []string{"  Bearer   alice  "}, "alice", true},
		{"missing", nil, "", false},
		{"empty", []string{""}, "", false},
		{"scheme only", []string{"Bearer"}, "", false},
		{"empty token", []string{"Bearer  "}, "", false},
		{"other scheme", []string{"Token alice"}, "", false},
		{"space inside", []string{"Bearer a b"}, "", false},
		{"control character", []string{"Bearer a\x01"}, "", false},
		{"DEL", []string{"Bearer a\x7f"}, "", false},
		{"C1 control character", []string{"Bearer a\u0085b"}, "", false},
		{"not UTF-8", []string{"Bearer alice\xff"}, "", false},
		{"cut UTF-8 sequence", []string{"Bearer alice\xc3"}, "", false},
		{"UTF-8 beyond ASCII", []string{"Bearer zoë"}, "zoë", true},
		{"U+FFFD itself", []string{"Bearer alice\uFFFD"}, "alice\uFFFD", true},
		{"two headers", []string{"Bearer a", "Bearer b"}, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := bearerToken(c.values)
			if got != c.want || ok != c.ok {
				t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", c.values, got, ok, c.want, c.ok)
			}
		})
	}
}

// Tokens that differ only in bytes that are not UTF-8 would become one
// user once the event, which is JSON, replaced them with U+FFFD: they are
// refused, and never reach a function.
func TestGatewayRefusesTokensThatAreNotUTF8(t *testing.T) {
	fn := &fakeFunction{answer: func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 204}, nil
	}}
	srv, _ := newTestGateway(t, fn)
	for _, token := range []string{"alice\xff", "alice\xfe", "alice\xc3", "al\u0085ice"} {
		res := do(t, http.MethodPost, srv.URL+"/things/a/items", "{}", "Authorization: Bearer "+token)
		if res.status != http.StatusUnauthorized || string(res.body) != `{"message":"Unauthorized"}` {
			t.Errorf("token %q: got %d %s, want 401", token, res.status, res.body)
		}
	}
	fn.mu.Lock()
	defer fn.mu.Unlock()
	if len(fn.events) != 0 {
		t.Errorf("the function was invoked %d times: %+v", len(fn.events), fn.events)
	}
}

// A query or path parameter that is not UTF-8 once percent-decoded is
// handed on byte for byte, the event's JSON holding the bytes as they
// are (json.Marshal would have replaced them with U+FFFD), so that the
// function names the parameter at fault, as it does for API Gateway.
func TestGatewayHandsOnParametersThatAreNotUTF8(t *testing.T) {
	fn := &fakeFunction{answer: func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 204}, nil
	}}
	srv, _ := newTestGateway(t, fn)
	tests := []struct {
		name, path, want string // want: JSON text the payload holds
	}{
		{"path parameter", "/things/a%FFb/items", "\"name\":\"a\xffb\""},
		{"path parameter, a surrogate's bytes", "/things/%ED%A0%80/items", "\"name\":\"\xed\xa0\x80\""},
		{"query value", "/things/a/items?cursor=%ff", "\"cursor\":\"\xff\""},
		{"query name", "/things/a/items?c%fe=1", "\"c\xfe\":\"1\""},
		{"escapes kept beside", "/things/a/items?q=%22%ff%5C%0A%E2%82%AC", "\"q\":\"\\\"\xff\\\\\\u000a€\""},
		{"UTF-8 as ever", "/things/%C3%A9/items?q=%E2%82%AC", `"name":"é"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, http.MethodPost, srv.URL+tt.path, "{}", "Authorization: Bearer alice")
			if res.status != 204 {
				t.Fatalf("got %d %s, want the function's 204", res.status, res.body)
			}
			fn.mu.Lock()
			payload := fn.payloads[len(fn.payloads)-1]
			fn.mu.Unlock()
			if !bytes.Contains(payload, []byte(tt.want)) {
				t.Errorf("the event lacks %q:\n%q", tt.want, payload)
			}
			if bytes.Contains(payload, []byte("\ufffd")) || bytes.Contains(payload, []byte("\uFFFD")) || bytes.Contains(payload, []byte("sandstep-raw")) {
				t.Errorf("the event replaced something:\n%q", payload)
			}
		})
	}
	if ev := fn.last(t); ev.PathParameters["name"] != "é" || ev.QueryStringParameters["q"] != "€" {
		t.Errorf("parameters %v %v", ev.PathParameters, ev.QueryStringParameters)
	}
}

// A query string that does not parse lost all its parameters on the way
// to the function (and hid invalid UTF-8 from the check): the request ran
// as if sent without them. It is refused instead.
func TestGatewayRefusesMalformedQueries(t *testing.T) {
	fn := &fakeFunction{answer: func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 204}, nil
	}}
	srv, _ := newTestGateway(t, fn)
	tests := []struct {
		name, query string
		status      int
	}{
		{"a bad escape hides invalid UTF-8", "cursor=%ff&x=%zz", http.StatusBadRequest},
		{"a bad escape alone", "cursor=abc&x=%zz", http.StatusBadRequest},
		{"a semicolon", "limit=1;x=2", http.StatusBadRequest},
		{"well formed", "cursor=abc&limit=2", 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, http.MethodPost, srv.URL+"/things/a/items?"+tt.query, "{}", "Authorization: Bearer alice")
			if res.status != tt.status {
				t.Errorf("got %d %s, want %d", res.status, res.body, tt.status)
			}
		})
	}
	if ev := fn.last(t); ev.QueryStringParameters["cursor"] != "abc" || ev.QueryStringParameters["limit"] != "2" {
		t.Errorf("query %v", ev.QueryStringParameters)
	}
	fn.mu.Lock()
	defer fn.mu.Unlock()
	if len(fn.events) != 1 {
		t.Errorf("the function was invoked %d times, want once", len(fn.events))
	}
}

// LOCAL_ADMIN_USERS' tokens carry the administrators' group in the form
// API Gateway gives an array claim; no other token carries the claim.
func TestGatewayAdminClaim(t *testing.T) {
	admins := localAdmins{claim: "cognito:groups", group: "sandstep-admins", users: []string{"root", "ops"}}
	tests := []struct {
		name   string
		admins localAdmins
		token  string
		want   string // the claim's value; "" for absent
	}{
		{name: "an administrator", admins: admins, token: "root", want: "[sandstep-admins]"},
		{name: "another administrator", admins: admins, token: "ops", want: "[sandstep-admins]"},
		{name: "a user", admins: admins, token: "alice"},
		{name: "a token that only starts alike", admins: admins, token: "root2"},
		{name: "no administrators", admins: localAdmins{claim: "cognito:groups", group: "sandstep-admins"}, token: "root"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &apiGateway{admins: tc.admins, now: time.Now}
			claims := g.claims(samtemplate.Route{Authorizer: "Jwt"}, tc.token)
			got, ok := claims["cognito:groups"]
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("cognito:groups = %q (present %v), want %q", got, ok, tc.want)
			}
			if claims["sub"] != tc.token {
				t.Errorf("sub = %q", claims["sub"])
			}
		})
	}
}
