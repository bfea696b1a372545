package awsjson_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sandstep/sandstep/internal/awsjson"
)

var testService = awsjson.Service{EndpointPrefix: "ssm", TargetPrefix: "AmazonSSM", Version: "1.1"}

func config(token string) aws.Config {
	return aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", token)}
}

// fake answers each request with the next of its replies (the last one
// repeats) and records what it received.
type fake struct {
	t       *testing.T
	mu      sync.Mutex
	replies []reply
	got     []*http.Request
	bodies  [][]byte
}

type reply struct {
	status int
	body   string
	header map[string]string
	// hangUp closes the connection without an answer.
	hangUp bool
}

func newFake(t *testing.T, replies ...reply) (*fake, *httptest.Server) {
	f := &fake{t: t, replies: replies}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.got = append(f.got, r)
	f.bodies = append(f.bodies, body)
	rep := f.replies[min(len(f.got), len(f.replies))-1]
	f.mu.Unlock()
	if rep.hangUp {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			f.t.Error(err)
			return
		}
		conn.Close()
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (f *fake) hits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

func client(t *testing.T, cfg aws.Config, svc awsjson.Service, endpoint string, attempts int) *awsjson.Client {
	t.Helper()
	c, err := awsjson.New(cfg, svc, awsjson.Options{Endpoint: endpoint, MaxAttempts: attempts, Backoff: func(int) time.Duration { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var authRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=AKIDTEST/(\d{8})/eu-west-1/(\w+)/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}$`)

func TestRequest(t *testing.T) {
	cases := []struct {
		name    string
		svc     awsjson.Service
		token   string
		in      any
		body    string
		ctype   string
		target  string
		signing string
	}{
		{"json 1.1", testService, "", map[string]any{"Name": "/a", "WithDecryption": true},
			`{"Name":"/a","WithDecryption":true}`, "application/x-amz-json-1.1", "AmazonSSM.GetParameter", "ssm"},
		{"json 1.0, session token", awsjson.Service{EndpointPrefix: "dynamodb", TargetPrefix: "DynamoDB_20120810", Version: "1.0"}, "session-tok",
			map[string]string{"TableName": "t"}, `{"TableName":"t"}`, "application/x-amz-json-1.0", "DynamoDB_20120810.GetParameter", "dynamodb"},
		{"no input", testService, "", nil, `{}`, "application/x-amz-json-1.1", "AmazonSSM.GetParameter", "ssm"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFake(t, reply{status: 200, body: `{"Parameter":{"Value":"v"}}`})
			var out struct{ Parameter struct{ Value string } }
			if err := client(t, config(tc.token), tc.svc, srv.URL, 1).Call(context.Background(), "GetParameter", tc.in, &out); err != nil {
				t.Fatal(err)
			}
			if out.Parameter.Value != "v" {
				t.Errorf("output %+v", out)
			}
			r, body := f.got[0], f.bodies[0]
			if r.Method != http.MethodPost || r.URL.Path != "/" {
				t.Errorf("%s %s, want POST /", r.Method, r.URL.Path)
			}
			if string(body) != tc.body {
				t.Errorf("body %s, want %s", body, tc.body)
			}
			if got := r.Header.Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if got := r.Header.Get("X-Amz-Target"); got != tc.target {
				t.Errorf("X-Amz-Target %q, want %q", got, tc.target)
			}
			if got := r.Header.Get("X-Amz-Security-Token"); got != tc.token {
				t.Errorf("X-Amz-Security-Token %q, want %q", got, tc.token)
			}
			m := authRE.FindStringSubmatch(r.Header.Get("Authorization"))
			if m == nil {
				t.Fatalf("Authorization %q is not a SigV4 header for AKIDTEST in eu-west-1", r.Header.Get("Authorization"))
			}
			if m[2] != tc.signing {
				t.Errorf("signed for service %q, want %q", m[2], tc.signing)
			}
			for _, h := range []string{"content-type", "host", "x-amz-date", "x-amz-target"} {
				if !strings.Contains(";"+m[3]+";", ";"+h+";") {
					t.Errorf("%s is not signed (SignedHeaders=%s)", h, m[3])
				}
			}
			checkSignature(t, r, body, tc.token, m[2], strings.Split(m[3], ";"))
		})
	}
}

// checkSignature signs a copy of r, as received, and compares: the
// signature covers the body, the signed headers, the service and region
// and the date the request carries.
func checkSignature(t *testing.T, r *http.Request, body []byte, token, service string, signed []string) {
	t.Helper()
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		t.Fatalf("X-Amz-Date: %v", err)
	}
	cp, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	for _, h := range signed {
		if h != "host" && h != "content-length" {
			cp.Header.Set(h, r.Header.Get(h))
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "test-secret", SessionToken: token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, cp, hex.EncodeToString(sum[:]), service, "eu-west-1", when); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Header.Get("Authorization"), cp.Header.Get("Authorization"); got != want {
		t.Errorf("signature does not verify:\n got  %s\n want %s", got, want)
	}
}

// roundTripFunc is an http client that never leaves the process.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

func TestEndpoint(t *testing.T) {
	cases := []struct {
		name, region, override, base, want string
	}{
		{"default", "eu-west-1", "", "", "https://ssm.eu-west-1.amazonaws.com/"},
		{"china", "cn-north-1", "", "", "https://ssm.cn-north-1.amazonaws.com.cn/"},
		{"override", "eu-west-1", "http://127.0.0.1:4566", "", "http://127.0.0.1:4566/"},
		{"config base endpoint", "eu-west-1", "", "http://localhost:9000/", "http://localhost:9000/"},
		{"override beats config", "eu-west-1", "http://127.0.0.1:4566", "http://localhost:9000", "http://127.0.0.1:4566/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got, scope string
			cfg := config("")
			cfg.Region = tc.region
			if tc.base != "" {
				cfg.BaseEndpoint = aws.String(tc.base)
			}
			cfg.HTTPClient = roundTripFunc(func(r *http.Request) (*http.Response, error) {
				got, scope = r.URL.String(), r.Header.Get("Authorization")
				return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("{}")), Header: http.Header{}}, nil
			})
			if err := client(t, cfg, testService, tc.override, 1).Call(context.Background(), "GetParameter", nil, nil); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("endpoint %q, want %q", got, tc.want)
			}
			if !strings.Contains(scope, "/"+tc.region+"/ssm/aws4_request") {
				t.Errorf("signed for another region: %s", scope)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	noRegion := config("")
	noRegion.Region = ""
	noCreds := config("")
	noCreds.Credentials = nil
	cases := []struct {
		name     string
		cfg      aws.Config
		endpoint string
	}{
		{"no region", noRegion, ""},
		{"no credentials", noCreds, ""},
		{"relative endpoint", config(""), "localhost:4566"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := awsjson.New(tc.cfg, testService, awsjson.Options{Endpoint: tc.endpoint}); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name      string
		reply     reply
		code      string
		message   string
		retryable bool
	}{
		{"plain", reply{status: 400, body: `{"__type":"ParameterNotFound","message":""}`}, "ParameterNotFound", "", false},
		{"qualified", reply{status: 400, body: `{"__type":"com.amazonaws.secretsmanager#ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}`},
			"ResourceNotFoundException", "Secrets Manager can't find the specified secret.", false},
		{"suffixed", reply{status: 400, body: `{"__type":"ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/","message":"Rate exceeded"}`},
			"ThrottlingException", "Rate exceeded", true},
		{"header only", reply{status: 400, body: `{}`, header: map[string]string{"X-Amzn-ErrorType": "AccessDeniedException:http://x/"}}, "AccessDeniedException", "", false},
		{"server fault", reply{status: 500, body: `{"__type":"InternalServerError"}`}, "InternalServerError", "", true},
		{"not json", reply{status: 502, body: `<html>Bad Gateway</html>`}, "", "", true},
		{"429 without a code", reply{status: 429, body: ``}, "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newFake(t, tc.reply)
			err := client(t, config(""), testService, srv.URL, 1).Call(context.Background(), "GetParameter", nil, nil)
			var ae *awsjson.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T), want an *APIError", err, err)
			}
			if ae.Code != tc.code || ae.Message != tc.message || ae.StatusCode != tc.reply.status {
				t.Errorf("got %+v, want code %q, message %q, status %d", *ae, tc.code, tc.message, tc.reply.status)
			}
			if ae.Retryable() != tc.retryable {
				t.Errorf("Retryable() = %v", ae.Retryable())
			}
			if !strings.Contains(err.Error(), "AmazonSSM.GetParameter") {
				t.Errorf("error %q does not name the operation", err)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	ok := reply{status: 200, body: `{"Parameter":{"Value":"v"}}`}
	throttled := reply{status: 400, body: `{"__type":"ThrottlingException"}`}
	cases := []struct {
		name    string
		replies []reply
		hits    int
		wantErr func(error) bool
	}{
		{"throttled, then answered", []reply{throttled, throttled, ok}, 3, nil},
		{"5xx, then answered", []reply{{status: 503}, ok}, 2, nil},
		{"hung up, then answered", []reply{{hangUp: true}, ok}, 2, nil},
		{"throttled every time: gives up", []reply{throttled}, 3, isCode("ThrottlingException")},
		{"client fault: no retry", []reply{{status: 400, body: `{"__type":"ValidationException"}`}, ok}, 1, isCode("ValidationException")},
		{"malformed answer: no retry", []reply{{status: 200, body: `{"Parameter":`}, ok}, 1, isMalformed},
		{"oversized answer: no retry", []reply{{status: 200, body: `{"x":"` + strings.Repeat("a", 1<<20) + `"}`}, ok}, 1, isMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFake(t, tc.replies...)
			var out struct{ Parameter struct{ Value string } }
			err := client(t, config(""), testService, srv.URL, 3).Call(context.Background(), "GetParameter", nil, &out)
			switch {
			case tc.wantErr == nil && (err != nil || out.Parameter.Value != "v"):
				t.Errorf("got %+v, %v; want the answer", out, err)
			case tc.wantErr != nil && !tc.wantErr(err):
				t.Errorf("unexpected error %v", err)
			}
			if n := f.hits(); n != tc.hits {
				t.Errorf("%d requests, want %d", n, tc.hits)
			}
		})
	}
}

// An error answered after a try that may have been applied (a 5xx, a
// hang-up) says so: a write's refused condition may then be its own
// earlier effect. A throttle was applied by nobody.
func TestEarlierTryMayHaveApplied(t *testing.T) {
	refused := reply{status: 400, body: `{"__type":"ConditionalCheckFailedException"}`}
	throttled := reply{status: 400, body: `{"__type":"ThrottlingException"}`}
	for _, tc := range []struct {
		name    string
		replies []reply
		want    bool
	}{
		{"refused at once", []reply{refused}, false},
		{"refused after a throttle", []reply{throttled, refused}, false},
		{"refused after a 429", []reply{{status: 429}, refused}, false},
		{"refused after a 5xx", []reply{{status: 500}, refused}, true},
		{"refused after a hang-up", []reply{{hangUp: true}, refused}, true},
		{"refused after a 5xx and a throttle", []reply{{status: 503}, throttled, refused}, true},
		{"5xx every time", []reply{{status: 500}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newFake(t, tc.replies...)
			err := client(t, config(""), testService, srv.URL, 3).Call(context.Background(), "PutParameter", nil, nil)
			var ae *awsjson.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err %v, want an APIError", err)
			}
			if ae.EarlierTryMayHaveApplied != tc.want {
				t.Errorf("EarlierTryMayHaveApplied = %v, want %v (%v)", ae.EarlierTryMayHaveApplied, tc.want, err)
			}
		})
	}
}

func isCode(code string) func(error) bool {
	return func(err error) bool {
		var ae *awsjson.APIError
		return errors.As(err, &ae) && ae.Code == code
	}
}

func isMalformed(err error) bool { return errors.Is(err, awsjson.ErrMalformedResponse) }

func TestRetriesReSign(t *testing.T) {
	f, srv := newFake(t, reply{status: 503}, reply{status: 200, body: `{}`})
	if err := client(t, config(""), testService, srv.URL, 2).Call(context.Background(), "GetParameter", map[string]string{"Name": "/a"}, nil); err != nil {
		t.Fatal(err)
	}
	for i, r := range f.got {
		if m := authRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			checkSignature(t, r, f.bodies[i], "", "ssm", strings.Split(m[3], ";"))
		} else {
			t.Errorf("attempt %d not signed", i+1)
		}
	}
}

func TestContextEnds(t *testing.T) {
	t.Run("while waiting to retry", func(t *testing.T) {
		f, srv := newFake(t, reply{status: 400, body: `{"__type":"ThrottlingException"}`})
		ctx, cancel := context.WithCancel(context.Background())
		c, err := awsjson.New(config(""), testService, awsjson.Options{Endpoint: srv.URL, MaxAttempts: 5, Backoff: func(int) time.Duration {
			cancel()
			return time.Hour
		}})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Call(ctx, "GetParameter", nil, nil)
		if !errors.Is(err, context.Canceled) || !isCode("ThrottlingException")(err) {
			t.Errorf("got %v, want the cancellation and the last answer", err)
		}
		if f.hits() != 1 {
			t.Errorf("%d requests after the context ended, want 1", f.hits())
		}
	})
	t.Run("while the request is in flight", func(t *testing.T) {
		arrived, release := make(chan struct{}), make(chan struct{})
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			close(arrived)
			<-release
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-arrived; cancel() }()
		err := client(t, config(""), testService, srv.URL, 5).Call(ctx, "GetParameter", nil, nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		if n := hits.Load(); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
}

func TestInputMustEncode(t *testing.T) {
	f, srv := newFake(t, reply{status: 200, body: `{}`})
	err := client(t, config(""), testService, srv.URL, 1).Call(context.Background(), "GetParameter", map[string]any{"bad": func() {}}, nil)
	var ue *json.UnsupportedTypeError
	if !errors.As(err, &ue) || f.hits() != 0 {
		t.Fatalf("got %v after %d requests, want an encoding error and none", err, f.hits())
	}
}
