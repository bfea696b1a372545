package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// fakeRuntimeAPI is the Lambda Runtime API as a function process sees it:
// it hands out queued invocations on /next and records what the runtime
// posts back. When the queue is empty /next fails, which makes the
// runtime's loop (and the process) exit.
type fakeRuntimeAPI struct {
	mu      sync.Mutex
	queue   []string
	results map[string]runtimeResult
}

type runtimeResult struct {
	kind        string // "response" or "error"
	contentType string
	body        []byte
}

func (f *fakeRuntimeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix = "/2018-06-01/runtime/invocation/"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if rest == "next" && r.Method == http.MethodGet {
		n := len(f.results) + 1
		if n > len(f.queue) {
			http.Error(w, "no more invocations", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", "inv-"+strconv.Itoa(n))
		w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:status")
		_, _ = io.WriteString(w, f.queue[n-1])
		return
	}
	id, kind, ok := strings.Cut(rest, "/")
	if !ok || r.Method != http.MethodPost || (kind != "response" && kind != "error") {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.results[id] = runtimeResult{kind: kind, contentType: r.Header.Get("Content-Type"), body: body}
	w.WriteHeader(http.StatusAccepted)
}

const runtimeChildEnv = "SANDSTEP_API_RUNTIME_CHILD"

// TestLambdaRuntimeChild is the function process of TestLambdaRuntime; it
// is skipped unless that test starts it.
func TestLambdaRuntimeChild(t *testing.T) {
	if os.Getenv(runtimeChildEnv) == "" {
		t.Skip("runs only as TestLambdaRuntime's child process")
	}
	svc := &fakeService{errFor: map[string]error{
		"sbx_transient": sandstep.Wrap(errors.New("dial tcp 10.0.0.1:443: connection refused"), sandstep.ETRANSIENT, "daytona unavailable"),
	}}
	lambda.Start(New(svc, Options{MaxBodyBytes: testMaxBody}).Handler(FunctionStatus).Runtime()) // exits when the queue is empty
}

// TestLambdaRuntime runs the status handler under the real aws-lambda-go
// runtime loop (lambda.Start, in a child process) against a fake Runtime
// API, and checks what reaches the wire: errorType exactly
// "Sandbox.Transient" / "Sandbox.InvalidInput" (not the Go type name),
// JSON answers with a JSON content type.
func TestLambdaRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	apiEvent := func(id string) string {
		ev := apiEvent(RouteGetSandbox)
		ev.PathParameters["id"] = id
		b, _ := json.Marshal(ev)
		return string(b)
	}
	rt := &fakeRuntimeAPI{
		queue: []string{
			`{"action":"get","userId":"u1","sandboxId":"sbx_transient"}`,
			`{"action":"get","sandboxId":"sbx_one"}`,
			`{"action":"get","userId":"u1","sandboxId":"sbx_one"}`,
			apiEvent("sbx_one"),
			apiEvent("sbx_transient"),
		},
		results: map[string]runtimeResult{},
	}
	srv := httptest.NewServer(rt)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLambdaRuntimeChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), runtimeChildEnv+"=1", "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(srv.URL, "http://"),
		"AWS_LAMBDA_MAX_CONCURRENCY=")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || ctx.Err() != nil {
		t.Fatalf("child: %v (want it to exit when the queue is empty)\n%s", err, out)
	}

	rt.mu.Lock()
	defer rt.mu.Unlock()
	if len(rt.results) != len(rt.queue) {
		t.Fatalf("%d results for %d invocations: %v\n%s", len(rt.results), len(rt.queue), rt.results, out)
	}
	wantErr := func(id, typ, msg string) {
		t.Helper()
		r := rt.results[id]
		var body struct {
			Message string `json:"errorMessage"`
			Type    string `json:"errorType"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil || r.kind != "error" || body.Type != typ || body.Message != msg {
			t.Errorf("%s: %s %s, want error %s %q", id, r.kind, r.body, typ, msg)
		}
		if strings.Contains(string(r.body), "10.0.0.1") {
			t.Errorf("%s: internal detail on the wire: %s", id, r.body)
		}
	}
	wantErr("inv-1", "Sandbox.Transient", "daytona unavailable")
	wantErr("inv-2", "Sandbox.InvalidInput", "userId: is required")

	if r := rt.results["inv-3"]; r.kind != "response" || r.contentType != "application/json" ||
		!strings.Contains(string(r.body), `"id":"sbx_one"`) {
		t.Errorf("inv-3: %s %s %s", r.kind, r.contentType, r.body)
	}
	for id, status := range map[string]int{"inv-4": 200, "inv-5": 503} {
		r := rt.results[id]
		var res events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(r.body, &res); err != nil || r.kind != "response" || res.StatusCode != status {
			t.Errorf("%s: %s %s, want an API Gateway response %d", id, r.kind, r.body, status)
		}
	}
}
