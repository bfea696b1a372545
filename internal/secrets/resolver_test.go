package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sandstep/sandstep/internal/awsjson"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// fakeAWS speaks the AWS JSON 1.1 protocol of SSM GetParameter and Secrets
// Manager GetSecretValue, enough for the real clients (internal/awsjson).
type fakeAWS struct {
	t testing.TB

	mu      sync.Mutex
	params  map[string]string    // SSM name -> value
	secrets map[string]string    // Secrets Manager id -> SecretString
	binary  map[string][]byte    // Secrets Manager id -> SecretBinary
	fail    map[string][]fakeErr // name -> errors for the next requests, one each
	hits    map[string]int       // name -> requests
	// hold, if set, blocks every request until it is closed; arrived is
	// signalled once per request before blocking.
	hold    chan struct{}
	arrived chan string
}

type fakeErr struct {
	status int
	typ    string
	// raw, if set, is the whole body, answered instead of an AWS error.
	raw string
}

func newFakeAWS(t testing.TB) (*fakeAWS, *httptest.Server) {
	f := &fakeAWS{
		t:       t,
		params:  map[string]string{},
		secrets: map[string]string{},
		binary:  map[string][]byte{},
		fail:    map[string][]fakeErr{},
		hits:    map[string]int{},
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeAWS) hitCount(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[name]
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// What the real services require of a request.
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		f.t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		f.t.Errorf("Content-Type %q", ct)
	}
	if a := r.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") {
		f.t.Errorf("request not SigV4-signed with the test credentials: %q", a)
	}
	var body struct {
		Name           string
		WithDecryption *bool
		SecretId       string
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.t.Errorf("decoding request: %v", err)
	}
	target := r.Header.Get("X-Amz-Target")
	name := body.Name
	if target == "secretsmanager.GetSecretValue" {
		name = body.SecretId
	}

	f.mu.Lock()
	f.hits[name]++
	hold, arrived := f.hold, f.arrived
	var fe *fakeErr
	if q := f.fail[name]; len(q) > 0 {
		fe = &q[0]
		f.fail[name] = q[1:]
	}
	param, paramOK := f.params[name]
	secret, secretOK := f.secrets[name]
	binary, binaryOK := f.binary[name]
	f.mu.Unlock()

	if hold != nil {
		arrived <- name
		<-hold
	}

	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", "req-"+name)
	writeErr := func(status int, typ, msg string) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
	}
	switch {
	case fe != nil && fe.raw != "":
		w.WriteHeader(fe.status)
		_, _ = io.WriteString(w, fe.raw)
		return
	case fe != nil:
		writeErr(fe.status, fe.typ, "injected "+fe.typ+" for "+name)
		return
	}
	switch target {
	case "AmazonSSM.GetParameter":
		if body.WithDecryption == nil || !*body.WithDecryption {
			f.t.Errorf("GetParameter without WithDecryption")
		}
		if !paramOK {
			writeErr(400, "ParameterNotFound", "")
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Parameter": map[string]any{
			"Name": name, "Type": "SecureString", "Value": param, "Version": 1,
			"ARN": "arn:aws:ssm:us-east-1:123456789012:parameter" + name,
		}})
	case "secretsmanager.GetSecretValue":
		if !secretOK && !binaryOK {
			writeErr(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		out := map[string]any{
			"ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-AbCdEf", "Name": name,
			"VersionId": "v1", "VersionStages": []string{"AWSCURRENT"},
		}
		if binaryOK {
			out["SecretBinary"] = binary // base64, as AWS sends it
		} else {
			out["SecretString"] = secret
		}
		_ = json.NewEncoder(w).Encode(out)
	default:
		writeErr(400, "UnknownOperationException", "")
	}
}

// clients returns the real clients for srv: static dummy credentials,
// srv as the endpoint, and attempts attempts with no backoff delay.
func clients(t testing.TB, srv *httptest.Server, attempts int) (*awsjson.SSM, *awsjson.SecretsManager) {
	t.Helper()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret-key", "")}
	opts := awsjson.Options{Endpoint: srv.URL, MaxAttempts: attempts, Backoff: func(int) time.Duration { return 0 }}
	s, err := awsjson.NewSSM(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	m, err := awsjson.NewSecretsManager(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, m
}

func mustRef(t *testing.T, field, s string) Ref {
	t.Helper()
	r, err := ParseRef(field, s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// secretValues are the values the fake holds; no error may contain one.
var secretValues = []string{"ssm-value-Zq81", "sm-value-Yp72", "hunter2-not-json", "gh-token-Xw93"}

// always returns e for more requests than any test makes.
func always(e fakeErr) []fakeErr {
	q := make([]fakeErr, 50)
	for i := range q {
		q[i] = e
	}
	return q
}

func TestResolve(t *testing.T) {
	f, srv := newFakeAWS(t)
	f.params["/sandstep/key"] = "ssm-value-Zq81"
	f.params["/sandstep/key:2"] = "ssm-value-Zq81"
	f.secrets["sandstep/plain"] = "sm-value-Yp72"
	f.secrets["sandstep/json"] = `{"token":"gh-token-Xw93","port":5432,"debug":true,"nested":{"a":1},"empty":""}`
	f.secrets["sandstep/notjson"] = "hunter2-not-json"
	f.secrets["sandstep/empty"] = ""
	f.binary["sandstep/binary"] = []byte("bin-value-\x00\xff")
	f.binary["sandstep/binjson"] = []byte(`{"token":"gh-token-Xw93"}`)
	s, m := clients(t, srv, 1)
	var registered []string
	var regMu sync.Mutex
	res := NewResolver(s, m, WithOnResolve(func(v string) {
		regMu.Lock()
		defer regMu.Unlock()
		registered = append(registered, v)
	}))

	cases := []struct {
		name, ref, want string
		code            sandstep.Code
		msg             string
	}{
		{name: "ssm", ref: "ssm:/sandstep/key", want: "ssm-value-Zq81"},
		{name: "ssm version selector", ref: "ssm:/sandstep/key:2", want: "ssm-value-Zq81"},
		{name: "secretsmanager", ref: "secretsmanager:sandstep/plain", want: "sm-value-Yp72"},
		{name: "binary secret", ref: "secretsmanager:sandstep/binary", want: "bin-value-\x00\xff"},
		{name: "json key of a binary secret", ref: "secretsmanager:sandstep/binjson#token", want: "gh-token-Xw93"},
		{name: "empty secret", ref: "secretsmanager:sandstep/empty", code: sandstep.EINVALID, msg: "is empty"},
		{name: "json key", ref: "secretsmanager:sandstep/json#token", want: "gh-token-Xw93"},
		{name: "json number", ref: "secretsmanager:sandstep/json#port", want: "5432"},
		{name: "json bool", ref: "secretsmanager:sandstep/json#debug", want: "true"},
		{name: "json object member", ref: "secretsmanager:sandstep/json#nested", code: sandstep.EINVALID, msg: "not a string, number or boolean"},
		{name: "json empty member", ref: "secretsmanager:sandstep/json#empty", code: sandstep.EINVALID, msg: "is empty"},
		{name: "json missing key", ref: "secretsmanager:sandstep/json#nope", code: sandstep.EINVALID, msg: `has no JSON key "nope"`},
		{name: "not json", ref: "secretsmanager:sandstep/notjson#token", code: sandstep.EINVALID, msg: "is not a JSON object"},
		{name: "ssm not found", ref: "ssm:/sandstep/missing", code: sandstep.EINVALID, msg: `SSM parameter "/sandstep/missing" not found`},
		{name: "secret not found", ref: "secretsmanager:sandstep/missing", code: sandstep.EINVALID, msg: `secret "sandstep/missing" not found`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const field = "secretEnv.X"
			got, err := res.Resolve(context.Background(), mustRef(t, field, tc.ref))
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				if got != tc.want {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
				if !slices.Contains(registered, got) {
					t.Fatalf("value not passed to OnResolve (got %q)", registered)
				}
				return
			}
			checkErr(t, err, tc.code, field, tc.msg)
		})
	}
	if !slices.Contains(registered, f.secrets["sandstep/json"]) {
		t.Error("the whole JSON secret was not passed to OnResolve")
	}
}

// checkErr asserts err's code, field and message, and that it carries no
// secret value anywhere in its text.
func checkErr(t *testing.T, err error, code sandstep.Code, field, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if c := sandstep.ErrorCode(err); c != code {
		t.Fatalf("code %q, want %q: %v", c, code, err)
	}
	if !strings.Contains(err.Error(), field) {
		t.Fatalf("error %q does not name the field %q", err, field)
	}
	if !strings.Contains(sandstep.ErrorMessage(err), msg) && !strings.Contains(err.Error(), msg) {
		t.Fatalf("error %q does not say %q", err, msg)
	}
	for _, v := range secretValues {
		if strings.Contains(err.Error(), v) || strings.Contains(fmt.Sprintf("%+v", err), v) {
			t.Fatalf("error %q contains the secret value %q", err, v)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	cases := []struct {
		name   string
		ref    string
		errs   []fakeErr
		code   sandstep.Code
		msg    string
		caller string // substring of the caller-facing message
	}{
		{"ssm access denied", "ssm:/other/team", always(fakeErr{status: 400, typ: "AccessDeniedException"}), sandstep.EINVALID, "not readable by sandstep", "not readable by sandstep"},
		{"secret access denied", "secretsmanager:other/team", always(fakeErr{status: 400, typ: "AccessDeniedException"}), sandstep.EINVALID, "not readable by sandstep", "not readable by sandstep"},
		{"kms", "ssm:/sandstep/kms", []fakeErr{{status: 400, typ: "InvalidKeyId"}}, sandstep.EINVALID, "cannot be decrypted", "cannot be decrypted"},
		{"marked for deletion", "secretsmanager:sandstep/deleted", []fakeErr{{status: 400, typ: "InvalidRequestException"}}, sandstep.EINVALID, "rejected", "rejected"},
		{"ssm throttled", "ssm:/sandstep/busy", []fakeErr{{status: 400, typ: "ThrottlingException"}}, sandstep.ETRANSIENT, "temporarily unavailable", "temporarily unavailable"},
		{"secret throttled", "secretsmanager:sandstep/busy", []fakeErr{{status: 400, typ: "ThrottlingException"}}, sandstep.ETRANSIENT, "temporarily unavailable", "temporarily unavailable"},
		{"ssm 500", "ssm:/sandstep/down", []fakeErr{{status: 500, typ: "InternalServerError"}}, sandstep.ETRANSIENT, "temporarily unavailable", "temporarily unavailable"},
		{"secret 500", "secretsmanager:sandstep/down", []fakeErr{{status: 500, typ: "InternalServiceError"}}, sandstep.ETRANSIENT, "temporarily unavailable", "temporarily unavailable"},
		{"unknown 503", "ssm:/sandstep/odd", []fakeErr{{status: 503, typ: "SomethingNew"}}, sandstep.ETRANSIENT, "temporarily unavailable", "temporarily unavailable"},
		{"unknown client fault", "ssm:/sandstep/odd", []fakeErr{{status: 400, typ: "UnrecognizedClientException"}}, sandstep.EINTERNAL, "UnrecognizedClientException", "internal error"},
		{"qualified not found", "secretsmanager:sandstep/gone", []fakeErr{{status: 400, typ: "com.amazonaws.secretsmanager#ResourceNotFoundException"}}, sandstep.EINVALID, "not found", "not found"},
		{"proxy page", "ssm:/sandstep/odd", []fakeErr{{status: 403, raw: "<html>Forbidden</html>"}}, sandstep.EINTERNAL, "HTTP 403", "internal error"},
		{"gateway page", "ssm:/sandstep/odd", []fakeErr{{status: 502, raw: "<html>Bad Gateway</html>"}}, sandstep.ETRANSIENT, "temporarily unavailable", "temporarily unavailable"},
		{"malformed answer", "ssm:/sandstep/odd", []fakeErr{{status: 200, raw: `{"Parameter":`}}, sandstep.EINTERNAL, "malformed response", "internal error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFakeAWS(t)
			name := strings.SplitN(tc.ref, ":", 2)[1]
			f.fail[name] = tc.errs
			s, m := clients(t, srv, 1)
			_, err := NewResolver(s, m).Resolve(context.Background(), mustRef(t, "secretEnv.X", tc.ref))
			checkErr(t, err, tc.code, "secretEnv.X", tc.msg)
			if got := sandstep.ErrorMessage(err); !strings.Contains(got, tc.caller) {
				t.Fatalf("caller-facing message %q lacks %q", got, tc.caller)
			}
			if strings.Contains(sandstep.ErrorMessage(err), "123456789012") || strings.Contains(sandstep.ErrorMessage(err), "injected") {
				t.Fatalf("caller-facing message %q leaks AWS's error text", sandstep.ErrorMessage(err))
			}
		})
	}
}

func TestResolveNetworkError(t *testing.T) {
	_, srv := newFakeAWS(t)
	s, m := clients(t, srv, 1)
	srv.Close() // connection refused
	_, err := NewResolver(s, m).Resolve(context.Background(), mustRef(t, "DAYTONA_API_KEY_REF", "ssm:/sandstep/daytona"))
	checkErr(t, err, sandstep.ETRANSIENT, "DAYTONA_API_KEY_REF", "temporarily unavailable")
}

func TestClientRetries(t *testing.T) {
	f, srv := newFakeAWS(t)
	f.params["/sandstep/key"] = "ssm-value-Zq81"
	s, m := clients(t, srv, 3)

	// Two failures, then success: the client's retries hide them.
	f.fail["/sandstep/key"] = []fakeErr{{status: 400, typ: "ThrottlingException"}, {status: 500, typ: "InternalServerError"}}
	got, err := NewResolver(s, m).Resolve(context.Background(), mustRef(t, "f", "ssm:/sandstep/key"))
	if err != nil || got != "ssm-value-Zq81" {
		t.Fatalf("got %q, %v", got, err)
	}
	if n := f.hitCount("/sandstep/key"); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}

	// Throttled on every attempt: ETRANSIENT once the client gives up.
	f.fail["/sandstep/key"] = always(fakeErr{status: 400, typ: "ThrottlingException"})
	_, err = NewResolver(s, m).Resolve(context.Background(), mustRef(t, "f", "ssm:/sandstep/key"))
	checkErr(t, err, sandstep.ETRANSIENT, "f", "temporarily unavailable")
	if n := f.hitCount("/sandstep/key"); n != 6 {
		t.Fatalf("%d requests, want 3 more", n)
	}
}

// Under OneRead, different fields and JSON keys of one secret share one
// fetch, and the next request reads again.
func TestOneReadFetchesEachSecretOnce(t *testing.T) {
	f, srv := newFakeAWS(t)
	f.params["/sandstep/key"] = "ssm-value-Zq81"
	f.secrets["sandstep/json"] = `{"a":"gh-token-Xw93","b":"sm-value-Yp72"}`
	s, m := clients(t, srv, 1)
	calls := 0
	var mu sync.Mutex
	res := NewResolver(s, m, WithOnResolve(func(string) { mu.Lock(); calls++; mu.Unlock() }))
	for req := 1; req <= 2; req++ {
		ctx := OneRead(context.Background())
		for i := range 50 {
			if _, err := res.Resolve(ctx, mustRef(t, fmt.Sprintf("f%d", i), "ssm:/sandstep/key")); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"a", "b"} {
				if _, err := res.Resolve(ctx, mustRef(t, "g", "secretsmanager:sandstep/json#"+k)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if n := f.hitCount("/sandstep/key"); n != req {
			t.Errorf("after request %d: SSM hit %d times", req, n)
		}
		if n := f.hitCount("sandstep/json"); n != req {
			t.Errorf("after request %d: Secrets Manager hit %d times", req, n)
		}
	}
	// Errors are not kept: a parameter created after a miss is found
	// within the same request.
	ctx := OneRead(context.Background())
	if _, err := res.Resolve(ctx, mustRef(t, "f", "ssm:/sandstep/later")); sandstep.ErrorCode(err) != sandstep.EINVALID {
		t.Fatalf("want not found, got %v", err)
	}
	f.mu.Lock()
	f.params["/sandstep/later"] = "ssm-value-Zq81"
	f.mu.Unlock()
	if _, err := res.Resolve(ctx, mustRef(t, "f", "ssm:/sandstep/later")); err != nil {
		t.Fatalf("after creation: %v", err)
	}
}

// A Resolver keeps nothing between resolves: callers' secrets are
// rotated and deleted by their owners, and each read must see that.
func TestResolveReadsEveryTime(t *testing.T) {
	f, srv := newFakeAWS(t)
	f.params["/sandstep/key"] = "ssm-value-Zq81"
	s, m := clients(t, srv, 1)
	res := NewResolver(s, m)
	ref := mustRef(t, "f", "ssm:/sandstep/key")
	ctx := context.Background()
	if v, err := res.Resolve(ctx, ref); err != nil || v != "ssm-value-Zq81" {
		t.Fatalf("first read: %q, %v", v, err)
	}
	f.mu.Lock()
	f.params["/sandstep/key"] = "ssm-value-rotated"
	f.mu.Unlock()
	if v, err := res.Resolve(ctx, ref); err != nil || v != "ssm-value-rotated" {
		t.Fatalf("after a rotation: %q, %v", v, err)
	}
	// Throttled with nothing kept: failed, never an older value.
	f.mu.Lock()
	f.fail["/sandstep/key"] = []fakeErr{{status: 400, typ: "ThrottlingException"}}
	f.mu.Unlock()
	if v, err := res.Resolve(ctx, ref); sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
		t.Fatalf("throttled: %q, %v; want ETRANSIENT", v, err)
	}
	f.mu.Lock()
	delete(f.params, "/sandstep/key")
	f.mu.Unlock()
	if v, err := res.Resolve(ctx, ref); sandstep.ErrorCode(err) != sandstep.EINVALID {
		t.Fatalf("after deletion: %q, %v; want EINVALID", v, err)
	}
	if n := f.hitCount("/sandstep/key"); n != 4 {
		t.Fatalf("%d requests for 4 resolves", n)
	}
}

// waiters returns how many callers wait on the fetch of name in flight.
func (r *Resolver) waitersFor(scheme Scheme, name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.calls[storeKey{scheme, name}]; ok {
		return c.waiters
	}
	return 0
}

// waitFor polls cond. The bound is a liveness guard against a hang, not
// a timing assertion.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never became true")
		}
		time.Sleep(time.Millisecond)
	}
}

// holdRequests makes f block requests until the returned release is
// called (also at cleanup, so a failing test does not hang the server).
func holdRequests(t *testing.T, f *fakeAWS) (release func()) {
	f.hold, f.arrived = make(chan struct{}), make(chan string, 100)
	var once sync.Once
	release = func() { once.Do(func() { close(f.hold) }) }
	t.Cleanup(release)
	return release
}

func TestConcurrentResolvesCoalesce(t *testing.T) {
	f, srv := newFakeAWS(t)
	f.secrets["sandstep/json"] = `{"a":"gh-token-Xw93"}`
	release := holdRequests(t, f)
	s, m := clients(t, srv, 1)
	res := NewResolver(s, m)
	const n = 25
	var wg sync.WaitGroup
	results := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = res.Resolve(context.Background(), mustRef(t, "f", "secretsmanager:sandstep/json#a"))
		})
	}
	<-f.arrived // the one fetch reached the server and is held there
	waitFor(t, func() bool { return res.waitersFor(SchemeSecretsManager, "sandstep/json") == n })
	release()
	wg.Wait()
	for i := range n {
		if errs[i] != nil || results[i] != "gh-token-Xw93" {
			t.Fatalf("caller %d: %q, %v", i, results[i], errs[i])
		}
	}
	if h := f.hitCount("sandstep/json"); h != 1 {
		t.Fatalf("%d concurrent callers made %d requests, want 1", n, h)
	}
}

func TestCallerGivingUpDoesNotFailOthers(t *testing.T) {
	f, srv := newFakeAWS(t)
	f.params["/sandstep/key"] = "ssm-value-Zq81"
	release := holdRequests(t, f)
	s, m := clients(t, srv, 1)
	res := NewResolver(s, m)
	ref := mustRef(t, "secretEnv.K", "ssm:/sandstep/key")

	first, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() { _, err := res.Resolve(first, ref); firstErr <- err }()
	<-f.arrived
	second := make(chan string, 1)
	go func() { v, _ := res.Resolve(context.Background(), ref); second <- v }()
	waitFor(t, func() bool { return res.waitersFor(SchemeSSM, "/sandstep/key") == 2 })

	cancel()
	err := <-firstErr
	if !errors.Is(err, context.Canceled) || sandstep.ErrorCode(err) != sandstep.ETRANSIENT || !strings.Contains(err.Error(), "secretEnv.K") {
		t.Fatalf("cancelled caller got %v", err)
	}
	release()
	if v := <-second; v != "ssm-value-Zq81" {
		t.Fatalf("second caller got %q after the first gave up", v)
	}
}

// A scoped Resolver reads a caller's own secrets and the shared ones, and
// refuses another's before reading.
func TestScopedResolverAndMisuse(t *testing.T) {
	f, srv := newFakeAWS(t)
	f.params["/sandstep/daytona/api-key"] = "ssm-value-Zq81"
	f.params["/sandstep/secrets/users/alice/gh"] = "gh-token-Xw93"
	f.secrets["sandstep/shared/npm"] = "npm-token-Qa17"
	s, m := clients(t, srv, 1)
	scopes, err := NewScopes("/sandstep/secrets/", "sandstep/", "secretsmanager:sandstep/shared/")
	if err != nil {
		t.Fatal(err)
	}
	res := NewResolver(s, m, WithScopes(scopes))
	ctx := context.Background()

	alices := mustRef(t, "f", "ssm:/sandstep/secrets/users/alice/gh")
	if v, err := res.ResolveFor(ctx, "alice", alices); err != nil || v != "gh-token-Xw93" {
		t.Fatalf("alice's own ref: %q, %v", v, err)
	}
	if v, err := res.ResolveFor(ctx, "bob", mustRef(t, "f", "secretsmanager:sandstep/shared/npm")); err != nil || v != "npm-token-Qa17" {
		t.Fatalf("a shared ref: %q, %v", v, err)
	}
	// Read for alice, still refused to bob.
	_, err = res.ResolveFor(ctx, "bob", mustRef(t, "secretEnv.STEAL", alices.String()))
	checkErr(t, err, sandstep.EINVALID, "secretEnv.STEAL", "not among the secrets you may name")
	if !errors.Is(err, sandstep.ErrSecretScope) || strings.Contains(err.Error(), "gh-token") {
		t.Fatalf("bob naming alice's secret: %v", err)
	}
	_, err = res.ResolveFor(ctx, "bob", mustRef(t, "secretEnv.STEAL", "ssm:/sandstep/daytona/api-key"))
	checkErr(t, err, sandstep.EINVALID, "secretEnv.STEAL", "not among the secrets you may name")
	if f.hitCount("/sandstep/daytona/api-key") != 0 || f.hitCount("/sandstep/secrets/users/alice/gh") != 1 {
		t.Fatal("a refused reference was fetched")
	}

	unscoped := NewResolver(s, m)
	misuse := []struct {
		name string
		call func() error
		code sandstep.Code
	}{
		{"zero ref", func() error { _, err := unscoped.Resolve(ctx, Ref{Field: "f"}); return err }, sandstep.EINVALID},
		{"key on ssm", func() error {
			_, err := unscoped.Resolve(ctx, Ref{Scheme: SchemeSSM, Name: "/a", Key: "k", Field: "f"})
			return err
		}, sandstep.EINVALID},
		{"no ssm client", func() error {
			_, err := NewResolver(nil, m).Resolve(ctx, Ref{Scheme: SchemeSSM, Name: "/a", Field: "f"})
			return err
		}, sandstep.EINTERNAL},
		{"no secretsmanager client", func() error {
			_, err := NewResolver(s, nil).Resolve(ctx, Ref{Scheme: SchemeSecretsManager, Name: "a", Field: "f"})
			return err
		}, sandstep.EINTERNAL},
		{"a scoped resolver names no owner", func() error { _, err := res.Resolve(ctx, alices); return err }, sandstep.EINTERNAL},
		{"an unscoped resolver serves no caller", func() error { _, err := unscoped.ResolveFor(ctx, "alice", alices); return err }, sandstep.EINTERNAL},
	}
	for _, tc := range misuse {
		if err := tc.call(); sandstep.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), "f") {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.code)
		}
	}
	if f.hitCount("/sandstep/secrets/users/alice/gh") != 1 {
		t.Fatal("a misused resolver read a secret")
	}
}

func TestStrings(t *testing.T) {
	f, srv := newFakeAWS(t)
	f.params["/sandstep/secrets/users/alice/a"] = "ssm-value-Zq81"
	s, m := clients(t, srv, 1)
	scopes, err := NewScopes("/sandstep/secrets/", "sandstep/")
	if err != nil {
		t.Fatal(err)
	}
	sr := NewResolver(s, m, WithScopes(scopes)).Strings()
	ctx := context.Background()
	if v, err := sr.Resolve(ctx, "alice", "secretEnv.A", "ssm:/sandstep/secrets/users/alice/a"); err != nil || v != "ssm-value-Zq81" {
		t.Fatalf("got %q, %v", v, err)
	}
	if err := sr.Check("alice", "secretEnv.A", "ssm:/sandstep/secrets/users/alice/a"); err != nil {
		t.Fatalf("Check of alice's own: %v", err)
	}
	for _, ref := range []string{"nope", "ssm:/sandstep/secrets/users/alice/missing", "ssm:/sandstep/secrets/users/bob/a"} {
		_, err := sr.Resolve(ctx, "alice", "secretEnv.B", ref)
		if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != "secretEnv.B" {
			t.Fatalf("%s: want EINVALID naming secretEnv.B, got %v", ref, err)
		}
	}
	for _, ref := range []string{"nope", "ssm:/sandstep/secrets/users/bob/a"} {
		if err := sr.Check("alice", "secretEnv.B", ref); sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != "secretEnv.B" {
			t.Fatalf("Check %s: want EINVALID naming secretEnv.B, got %v", ref, err)
		}
	}
	if f.hitCount("/sandstep/secrets/users/bob/a") != 0 {
		t.Fatal("a refused reference was fetched")
	}
}
