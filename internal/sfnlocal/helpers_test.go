package sfnlocal_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/sandstep/sandstep/internal/sfnlocal"
	"github.com/sandstep/sandstep/internal/testutil"
)

const (
	region  = "us-east-1"
	account = "123456789012"
)

// fnARN is the ARN of a function of the fake Lambda.
func fnARN(name string) string {
	return "arn:aws:lambda:" + region + ":" + account + ":function:" + name
}

func machineARN(name string) string {
	return "arn:aws:states:" + region + ":" + account + ":stateMachine:" + name
}

// needNode skips a test without Node.js or the runner's npm packages,
// except where SANDSTEP_REQUIRE_NODE is set (CI): there it fails.
func needNode(t testing.TB) {
	t.Helper()
	testutil.NeedNode(t, sfnlocal.RunnerInstalled())
}

// lambdaReply is what the fake Lambda answers one invocation.
type lambdaReply struct {
	Payload any
	// ErrorType, when set, answers a function error (X-Amz-Function-Error:
	// Unhandled) of that type.
	ErrorType string
}

// invocation is one call the fake Lambda received.
type invocation struct {
	Function, Type string
	Payload        json.RawMessage
}

// fakeLambda is the Lambda Invoke API on httptest: a handler per function
// name, and a record of every call. A function without a handler echoes its
// payload.
type fakeLambda struct {
	URL string

	mu       sync.Mutex
	handlers map[string]func(payload json.RawMessage) lambdaReply
	calls    []invocation
}

func newFakeLambda(t testing.TB, handlers map[string]func(json.RawMessage) lambdaReply) *fakeLambda {
	f := &fakeLambda{handlers: handlers}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if i := strings.LastIndex(name, ":function:"); i >= 0 {
			name = name[i+len(":function:"):]
		}
		body, _ := io.ReadAll(r.Body)
		typ := r.Header.Get("X-Amz-Invocation-Type")
		f.mu.Lock()
		f.calls = append(f.calls, invocation{Function: name, Type: typ, Payload: body})
		h := f.handlers[name]
		f.mu.Unlock()
		if name == "missing" {
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"Type":"User","message":"Function not found"}`))
			return
		}
		reply := lambdaReply{Payload: json.RawMessage(body)}
		if h != nil {
			reply = h(body)
		}
		if typ == "Event" {
			// The function runs; its answer goes nowhere.
			w.WriteHeader(http.StatusAccepted)
			return
		}
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		if reply.ErrorType != "" {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			_ = json.NewEncoder(w).Encode(map[string]string{"errorType": reply.ErrorType, "errorMessage": "failed on purpose"})
			return
		}
		_ = json.NewEncoder(w).Encode(reply.Payload)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *fakeLambda) invocations() []invocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]invocation(nil), f.calls...)
}

// waitInvocation polls until function was invoked n times and returns the
// n-th call.
func (f *fakeLambda) waitInvocation(t testing.TB, function string, n int) invocation {
	t.Helper()
	var got invocation
	poll(t, "invocation "+function, func() bool {
		seen := 0
		for _, c := range f.invocations() {
			if c.Function == function {
				if seen++; seen == n {
					got = c
					return true
				}
			}
		}
		return false
	})
	return got
}

// statusLog collects the status changes a server delivers.
type statusLog struct {
	mu  sync.Mutex
	all []sfnlocal.StatusChange
}

func (l *statusLog) record(_ context.Context, c sfnlocal.StatusChange) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, c)
}

// waitFor polls until a status change for arn arrived and returns it.
func (l *statusLog) waitFor(t testing.TB, arn string) sfnlocal.StatusChange {
	t.Helper()
	var got sfnlocal.StatusChange
	poll(t, "status change of "+arn, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, c := range l.all {
			if c.ExecutionArn == arn {
				got = c
				return true
			}
		}
		return false
	})
	return got
}

// harness is a server on httptest with an SDK client.
type harness struct {
	srv      *sfnlocal.Server
	client   *sfn.Client
	url      string
	lambda   *fakeLambda
	statuses *statusLog
	dir      string
	logs     *testutil.Buffer
}

type harnessOption func(*sfnlocal.Options)

// start runs a server over machines (name -> ASL) against lambda.
func start(t testing.TB, lambda *fakeLambda, machines map[string]string, opts ...harnessOption) *harness {
	t.Helper()
	needNode(t)
	h := &harness{lambda: lambda, statuses: &statusLog{}, dir: t.TempDir(), logs: &testutil.Buffer{}}
	h.open(t, machines, opts...)
	return h
}

// open starts a server on h.dir (again, for restarts).
func (h *harness) open(t testing.TB, machines map[string]string, opts ...harnessOption) {
	t.Helper()
	o := sfnlocal.Options{
		Dir:            h.dir,
		Region:         region,
		AccountID:      account,
		StateMachines:  machines,
		LambdaEndpoint: h.lambda.URL,
		OnStatusChange: h.statuses.record,
		Logger:         slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, opt := range opts {
		opt(&o)
	}
	srv, err := sfnlocal.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	h.srv, h.url = srv, hs.URL
	h.client = sfn.New(sfn.Options{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(hs.URL),
	})
}

func (h *harness) startExecution(t testing.TB, machine, name, input string) string {
	t.Helper()
	in := &sfn.StartExecutionInput{StateMachineArn: aws.String(machineARN(machine)), Input: aws.String(input)}
	if name != "" {
		in.Name = aws.String(name)
	}
	out, err := h.client.StartExecution(context.Background(), in)
	if err != nil {
		t.Fatalf("StartExecution %s: %v", machine, err)
	}
	return aws.ToString(out.ExecutionArn)
}

// waitDone polls until an execution is no longer RUNNING.
func (h *harness) waitDone(t testing.TB, arn string) *sfn.DescribeExecutionOutput {
	t.Helper()
	var out *sfn.DescribeExecutionOutput
	poll(t, "the end of "+arn, func() bool {
		var err error
		out, err = h.client.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			t.Fatalf("DescribeExecution: %v", err)
		}
		return out.Status != types.ExecutionStatusRunning
	})
	return out
}

// history returns an execution's whole history, page by page.
func (h *harness) history(t testing.TB, arn string) []types.HistoryEvent {
	t.Helper()
	var all []types.HistoryEvent
	p := sfn.NewGetExecutionHistoryPaginator(h.client, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("GetExecutionHistory: %v", err)
		}
		all = append(all, page.Events...)
	}
	return all
}

func eventTypes(events []types.HistoryEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = string(e.Type)
	}
	return out
}

// apiErrorCode is the AWS error code of err, or "".
func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// poll calls cond until it holds; a generous deadline only guards against
// a hang.
func poll(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
