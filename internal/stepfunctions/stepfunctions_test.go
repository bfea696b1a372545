package stepfunctions_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sandstep/sandstep/internal/awsjson"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/sfnlocal"
	"github.com/sandstep/sandstep/internal/stepfunctions"
	"github.com/sandstep/sandstep/internal/testutil"
)

const runnerDir = "../sfnlocal/runner"

// waiting is a machine whose executions wait until stopped.
const waiting = `{"StartAt":"Hold","States":{"Hold":{"Type":"Wait","Seconds":600,"End":true}}}`

func newMachine(t *testing.T) *stepfunctions.Machine {
	t.Helper()
	testutil.NeedNode(t, sfnlocal.RunnerInstalled())
	srv, err := sfnlocal.New(sfnlocal.Options{Dir: t.TempDir(), Region: "us-east-1", AccountID: "123456789012",
		StateMachines: map[string]string{"tasks": waiting}, LambdaEndpoint: "http://127.0.0.1:1", RunnerDir: runnerDir})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); _ = srv.Close() })
	return machineAt(t, hs.URL, 0)
}

// machineAt is the tasks machine of the Step Functions at url.
func machineAt(t *testing.T, url string, attempts int) *stepfunctions.Machine {
	t.Helper()
	m, err := stepfunctions.New(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")},
		awsjson.Options{Endpoint: url, MaxAttempts: attempts}, "arn:aws:states:us-east-1:123456789012:stateMachine:tasks")
	if err != nil {
		t.Fatal(err)
	}
	return m
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
	m := machineAt(t, hs.URL, 1)
	_, err := m.Start(context.Background(), "tsk_a", []byte(`{}`))
	if sandstep.ErrorCode(err) != sandstep.ETRANSIENT || sandstep.ErrorRetryAfter(err) != stepfunctions.ThrottledRetryAfter {
		t.Errorf("Start = %v (code %s, retry after %v), want transient after %v", err, sandstep.ErrorCode(err), sandstep.ErrorRetryAfter(err), stepfunctions.ThrottledRetryAfter)
	}
	if calls.Load() != 1 {
		t.Errorf("%d calls, want 1", calls.Load())
	}
}

// Each answer of Step Functions maps to one sandstep code, and Running
// reads the execution's status and when it stopped.
func TestErrorsAndStatus(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		code    sandstep.Code
		running bool
		stopped time.Time
	}{
		{"running", 200, `{"status":"RUNNING","startDate":1.7e9}`, "", true, time.Time{}},
		{"ended", 200, `{"status":"SUCCEEDED","startDate":1.7e9,"stopDate":1700000012.345}`, "", false, time.UnixMilli(1700000012345).UTC()},
		{"no such execution", 400, `{"__type":"com.amazonaws.sfn#ExecutionDoesNotExist","message":"nope"}`, "", false, time.Time{}},
		{"refused input", 400, `{"__type":"com.amazonaws.sfn#ValidationException","message":"bad arn"}`, sandstep.EINTERNAL, false, time.Time{}},
		{"failed on its side", 500, `{"__type":"com.amazonaws.sfn#InternalServerError"}`, sandstep.ETRANSIENT, false, time.Time{}},
		{"an answer that is not JSON", 502, `<html>bad gateway</html>`, sandstep.ETRANSIENT, false, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var target, body string
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				target = r.Header.Get("X-Amz-Target")
				b, _ := io.ReadAll(r.Body)
				body = string(b)
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			t.Cleanup(hs.Close)
			running, stopped, err := machineAt(t, hs.URL, 1).Running(context.Background(), "arn:aws:states:us-east-1:123456789012:execution:tasks:tsk_a")
			if got := sandstep.ErrorCode(err); got != tt.code || running != tt.running || !stopped.Equal(tt.stopped) {
				t.Errorf("Running = %v, %v, %v (code %q), want %v, %v and code %q", running, stopped, err, got, tt.running, tt.stopped, tt.code)
			}
			// The protocol's member names are case-sensitive.
			if target != "AWSStepFunctions.DescribeExecution" || body != `{"executionArn":"arn:aws:states:us-east-1:123456789012:execution:tasks:tsk_a"}` {
				t.Errorf("X-Amz-Target %q, body %s", target, body)
			}
		})
	}
	hs := httptest.NewServer(http.NotFoundHandler())
	hs.Close()
	if _, err := machineAt(t, hs.URL, 1).Start(context.Background(), "tsk_a", []byte(`{}`)); sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
		t.Errorf("Start against nothing = %v, want transient", err)
	}
}
