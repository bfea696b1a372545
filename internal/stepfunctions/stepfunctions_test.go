package stepfunctions_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/sfnlocal"
	"github.com/sandstep/sandstep/internal/stepfunctions"
)

const runnerDir = "../sfnlocal/runner"

// waiting is a machine whose executions wait until stopped.
const waiting = `{"StartAt":"Hold","States":{"Hold":{"Type":"Wait","Seconds":600,"End":true}}}`

func newMachine(t *testing.T) *stepfunctions.Machine {
	t.Helper()
	_, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(runnerDir, "node_modules", "aws-local-stepfunctions"))
	}
	if err != nil {
		if os.Getenv("SANDSTEP_REQUIRE_NODE") != "" {
			t.Fatalf("needs Node.js and `make sfnlocal-deps`, and SANDSTEP_REQUIRE_NODE is set: %v", err)
		}
		t.Skipf("needs Node.js and `make sfnlocal-deps`: %v", err)
	}
	srv, err := sfnlocal.New(sfnlocal.Options{Dir: t.TempDir(), Region: "us-east-1", AccountID: "123456789012",
		StateMachines: map[string]string{"tasks": waiting}, LambdaEndpoint: "http://127.0.0.1:1", RunnerDir: runnerDir})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); _ = srv.Close() })
	client := sfn.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")},
		func(o *sfn.Options) { o.BaseEndpoint = aws.String(hs.URL) })
	return stepfunctions.New(client, "arn:aws:states:us-east-1:123456789012:stateMachine:tasks")
}

func TestStartStopWake(t *testing.T) {
	ctx := context.Background()
	m := newMachine(t)
	arn, err := m.Start(ctx, "tsk_one", []byte(`{"taskId":"tsk_one"}`))
	if err != nil {
		t.Fatal(err)
	}
	if arn != m.ExecutionARN("tsk_one") || arn != "arn:aws:states:us-east-1:123456789012:execution:tasks:tsk_one" {
		t.Fatalf("execution ARN = %q, derived %q", arn, m.ExecutionARN("tsk_one"))
	}
	again, err := m.Start(ctx, "tsk_one", []byte(`{"taskId":"tsk_one"}`))
	if err != nil || again != arn {
		t.Fatalf("the same start again = %q, %v; want the same execution", again, err)
	}
	if _, err := m.Start(ctx, "tsk_one", []byte(`{"taskId":"other"}`)); sandstep.ErrorCode(err) != sandstep.ECONFLICT {
		t.Fatalf("the same name with another input = %v, want conflict", err)
	}
	if err := m.Stop(ctx, arn, "Task.Cancelled", "cancelled by its owner"); err != nil {
		t.Fatal(err)
	}
	if err := m.Wake(ctx, "not-a-token", []byte(`{}`)); sandstep.ErrorCode(err) != sandstep.ENOTFOUND {
		t.Fatalf("waking with a bad token = %v, want not_found", err)
	}
	if err := m.Stop(ctx, "arn:aws:states:us-east-1:123456789012:execution:tasks:nope", "x", "y"); sandstep.ErrorCode(err) != sandstep.ENOTFOUND {
		t.Fatalf("stopping an unknown execution = %v, want not_found", err)
	}
}

// Step Functions' throttling is transient, with a short Retry-After: its
// buckets refill by hundreds a second.
func TestThrottledStart(t *testing.T) {
	var calls atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"com.amazonaws.sfn#ThrottlingException","message":"Rate exceeded"}`)
	}))
	t.Cleanup(hs.Close)
	client := sfn.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")},
		func(o *sfn.Options) { o.BaseEndpoint = aws.String(hs.URL); o.RetryMaxAttempts = 1 })
	m := stepfunctions.New(client, "arn:aws:states:us-east-1:123456789012:stateMachine:tasks")
	_, err := m.Start(context.Background(), "tsk_a", []byte(`{}`))
	if sandstep.ErrorCode(err) != sandstep.ETRANSIENT || sandstep.ErrorRetryAfter(err) != stepfunctions.ThrottledRetryAfter {
		t.Errorf("Start = %v (code %s, retry after %v), want transient after %v", err, sandstep.ErrorCode(err), sandstep.ErrorRetryAfter(err), stepfunctions.ThrottledRetryAfter)
	}
	if calls.Load() != 1 {
		t.Errorf("%d calls, want 1", calls.Load())
	}
}

// Lazy builds its client on the first call that needs one, once; the
// execution ARNs need none.
func TestLazyBuildsClientOnFirstCall(t *testing.T) {
	var calls atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		fmt.Fprint(w, `{}`)
	}))
	t.Cleanup(hs.Close)
	var builds atomic.Int32
	m := stepfunctions.Lazy(func() *sfn.Client {
		builds.Add(1)
		return sfn.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")},
			func(o *sfn.Options) { o.BaseEndpoint = aws.String(hs.URL); o.RetryMaxAttempts = 1 })
	}, "arn:aws:states:us-east-1:123456789012:stateMachine:tasks")
	if arn := m.ExecutionARN("tsk_a"); arn != "arn:aws:states:us-east-1:123456789012:execution:tasks:tsk_a" || builds.Load() != 0 {
		t.Fatalf("ExecutionARN = %q after %d builds, want no build", arn, builds.Load())
	}
	for range 2 {
		if err := m.Stop(context.Background(), m.ExecutionARN("tsk_a"), "Test", "test"); err != nil {
			t.Fatal(err)
		}
	}
	if builds.Load() != 1 || calls.Load() != 2 {
		t.Errorf("%d builds for %d calls, want 1 for 2", builds.Load(), calls.Load())
	}
}
