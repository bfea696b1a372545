package local

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sfnlocal"
	"github.com/sandstep/sandstep/internal/testutil"
)

// templatePath is the repository's template.yaml, from this directory.
const templatePath = "../../template.yaml"

// envMap is a Getenv over a map: the tests never read the process
// environment.
// logBuffer is the shared concurrency-safe buffer.
type logBuffer = testutil.Buffer

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// testStack is a stack started for one test, on free ports.
type testStack struct {
	*Stack
	t    *testing.T
	logs *logBuffer
	root string
}

// startStack starts the stack on free ports with env as the user's
// environment, changed by opts, and stops it when the test ends.
func startStack(t *testing.T, env map[string]string, opts ...func(*Options)) *testStack {
	t.Helper()
	needRunner(t)
	logs := &logBuffer{}
	root := t.TempDir()
	o := Options{
		Getenv:       envMap(env),
		LogWriter:    logs,
		TemplatePath: templatePath,
		DataDir:      root,
	}
	for _, opt := range opts {
		opt(&o)
	}
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("Start: %v\nlog:\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			t.Logf("stack log:\n%s", logs.String())
		}
	})
	return &testStack{Stack: s, t: t, logs: logs, root: root}
}

// response is an HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorCode returns the code of an API error body ({"error": {"code"}}).
func (r response) errorCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

// do sends a request to url with the headers given as "Name: value"
// strings; a non-nil body is sent as is (a []byte or string) or as JSON.
func do(t *testing.T, method, url string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(k, strings.TrimSpace(v))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// as sends an API request as user (the bearer token).
func (s *testStack) as(user, method, path string, body any, headers ...string) response {
	s.t.Helper()
	return do(s.t, method, s.APIURL+path, body, append([]string{"Authorization: Bearer " + user}, headers...)...)
}

// sandboxJSON is the part of a sandbox the tests look at.
type sandboxJSON struct {
	ID    string `json:"id"`
	Owner string `json:"owner"`
	State string `json:"state"`
}

// create creates a sandbox for user and checks the 201.
func (s *testStack) create(user string, body any) sandboxJSON {
	s.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	res := s.as(user, http.MethodPost, "/sandboxes", body)
	if res.status != http.StatusCreated {
		s.t.Fatalf("create for %s: %d %s", user, res.status, res.body)
	}
	var sb sandboxJSON
	res.decode(s.t, &sb)
	return sb
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// needRunner skips a test that starts a stack where the Step Functions
// runner's npm packages are not installed (a clone on which make has not
// run), except where SANDSTEP_REQUIRE_NODE is set (CI).
func needRunner(t testing.TB) {
	t.Helper()
	testutil.NeedNode(t, sfnlocal.RunnerInstalled())
}
