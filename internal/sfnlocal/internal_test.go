package sfnlocal

import (
	"errors"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/testutil"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"plain", "run-1_a.b", true},
		{"a UUID", "6f1c2a9e-3d4b-4c5d-8e7f-0a1b2c3d4e5f", true},
		{"dots only", "..", true},
		{"80 characters", strings.Repeat("x", 80), true},
		{"81 characters", strings.Repeat("x", 81), false},
		{"empty", "", false},
		{"space", "a b", false},
		{"slash", "a/b", false},
		{"colon", "a:b", false},
		{"bracket", "a[b", false},
		{"wildcard", "a*", false},
		{"control character", "a\x7fb", false},
		{"non-breaking space", "a\u00a0b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validName(tt.in); got != tt.want {
				t.Errorf("validName(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name, resource   string
		kind             taskKind
		rtype, shortName string
	}{
		{"function ARN", "arn:aws:lambda:us-east-1:123456789012:function:create", kindFunction, "", "arn:aws:lambda:us-east-1:123456789012:function:create"},
		{"function ARN with an alias", "arn:aws:lambda:us-east-1:123456789012:function:create:live", kindFunction, "", "arn:aws:lambda:us-east-1:123456789012:function:create:live"},
		{"lambda:invoke", "arn:aws:states:::lambda:invoke", kindInvoke, "lambda", "invoke"},
		{"lambda callback", "arn:aws:states:::lambda:invoke.waitForTaskToken", kindToken, "lambda", "invoke.waitForTaskToken"},
		{"sqs callback", "arn:aws:states:::sqs:sendMessage.waitForTaskToken", kindToken, "sqs", "sendMessage.waitForTaskToken"},
		{".sync", "arn:aws:states:::states:startExecution.sync", kindUnsupported, "states", "startExecution.sync"},
		{"activity", "arn:aws:states:us-east-1:123456789012:activity:a", kindUnsupported, "", "arn:aws:states:us-east-1:123456789012:activity:a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, rtype, name := classify(tt.resource)
			if kind != tt.kind || rtype != tt.rtype || name != tt.shortName {
				t.Errorf("classify(%q) = %v, %q, %q; want %v, %q, %q", tt.resource, kind, rtype, name, tt.kind, tt.rtype, tt.shortName)
			}
		})
	}
}

func TestInvokeOutcome(t *testing.T) {
	header := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name             string
		inv              *invocation
		err              error
		wrap             bool
		wantOut, wantErr string
	}{
		{"output", &invocation{Status: 200, Payload: []byte(`{"a":1}`)}, nil, false, `{"a":1}`, ""},
		{"no output", &invocation{Status: 200}, nil, false, "null", ""},
		{"function error", &invocation{Status: 200, FunctionError: "Unhandled", Payload: []byte(`{"errorType":"Sandbox.Transient","errorMessage":"x"}`)}, nil, false, "", "Sandbox.Transient"},
		{"function error without a type", &invocation{Status: 200, FunctionError: "Unhandled", Payload: []byte(`oops`)}, nil, false, "", "Lambda.Unknown"},
		{"API error", &invocation{Status: 429, Headers: header("X-Amzn-ErrorType", "TooManyRequestsException"), Payload: []byte(`{}`)}, nil, false, "", "Lambda.TooManyRequestsException"},
		{"API error in the body", &invocation{Status: 500, Headers: header(), Payload: []byte(`{"__type":"ServiceException"}`)}, nil, false, "", "Lambda.ServiceException"},
		{"no answer", nil, errors.New("connection refused"), false, "", "Lambda.SdkClientException"},
		{"lambda:invoke output", &invocation{Status: 200, Headers: header(), Payload: []byte(`[1]`)}, nil, true, `"Payload":[1]`, ""},
		{"lambda:invoke, asynchronous", &invocation{Status: 202, Headers: header()}, nil, true, `"Payload":"","SdkHttpMetadata"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := invokeOutcome(tt.inv, tt.err, tt.wrap)
			if deref(out.Error, "") != tt.wantErr || !strings.Contains(out.Output, tt.wantOut) {
				t.Errorf("got output %s error %q, want %s / %q", out.Output, deref(out.Error, ""), tt.wantOut, tt.wantErr)
			}
			if tt.wantErr == "Sandbox.Transient" && deref(out.Cause, "") != string(tt.inv.Payload) {
				t.Errorf("cause %q, want the error payload", deref(out.Cause, ""))
			}
		})
	}
}

func TestDetailsMember(t *testing.T) {
	tests := map[string]string{
		"ExecutionStarted":        "executionStartedEventDetails",
		"TaskStateEntered":        "stateEnteredEventDetails",
		"ChoiceStateExited":       "stateExitedEventDetails",
		"LambdaFunctionScheduled": "lambdaFunctionScheduledEventDetails",
		"LambdaFunctionStarted":   "",
		"TaskSubmitted":           "taskSubmittedEventDetails",
		"MapIterationStarted":     "mapIterationStartedEventDetails",
		"ParallelStateStarted":    "",
		"ExecutionTimedOut":       "executionTimedOutEventDetails",
	}
	for typ, want := range tests {
		t.Run(typ, func(t *testing.T) {
			if got := detailsMember(typ); got != want {
				t.Errorf("detailsMember(%s) = %q, want %q", typ, got, want)
			}
		})
	}
}

// needRunner skips a test without Node.js or the runner's npm packages,
// except where SANDSTEP_REQUIRE_NODE is set (CI): there it fails.
func needRunner(t *testing.T) {
	t.Helper()
	testutil.NeedNode(t, RunnerInstalled())
}

// The runner refuses to start on a Node without Promise.withResolvers
// unless the polyfill is loaded: aws-local-stepfunctions 3.0.0 would fail
// every Task with a TypeError that a Catch can swallow.
func TestRunnerNeedsThePolyfill(t *testing.T) {
	needRunner(t)
	native, err := exec.Command("node", "-e", "process.stdout.write(typeof Promise.withResolvers)").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, polyfill := range []bool{false, true} {
		r, err := launchRunner(runnerConfig{dir: "runner", polyfill: polyfill, log: slog.New(slog.DiscardHandler), onMsg: func(*runner, *runnerMsg) {}})
		if polyfill || string(native) == "function" {
			if err != nil {
				t.Fatalf("polyfill %v, Node's Promise.withResolvers a %s: %v", polyfill, native, err)
			}
			if err := r.stop(); err != nil {
				t.Error(err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "Promise.withResolvers is missing") {
			t.Errorf("without the polyfill on a Node without Promise.withResolvers: %v, want the runner to refuse", err)
			if r != nil {
				_ = r.stop()
			}
		}
	}
}

// A runner that dies fails the executions it ran, and the next
// StartExecution starts another.
func TestRunnerCrash(t *testing.T) {
	needRunner(t)
	s, err := New(Options{
		Dir: t.TempDir(), Region: "us-east-1", AccountID: "123456789012", LambdaEndpoint: "http://127.0.0.1:1",
		StateMachines: map[string]string{"slow": `{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}}`},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	startOne := func(name string) string {
		out, err := s.startExecution([]byte(`{"stateMachineArn":"arn:aws:states:us-east-1:123456789012:stateMachine:slow","name":"` + name + `"}`))
		if err != nil {
			t.Fatal(err)
		}
		return out.(map[string]any)["executionArn"].(string)
	}
	status := func(arn string) (string, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.execs[arn].rec.Status, deref(s.execs[arn].rec.Error, "")
	}
	arn := startOne("a")
	s.mu.Lock()
	proc := s.runner.cmd.Process
	s.mu.Unlock()
	if err := proc.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for st, _ := status(arn); st == StatusRunning; st, _ = status(arn) {
		if time.Now().After(deadline) {
			t.Fatal("the execution still runs after its runner died")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st, errName := status(arn); st != StatusFailed || errName != "States.Runtime" {
		t.Errorf("status %s, error %s; want FAILED States.Runtime", st, errName)
	}
	if st, _ := status(startOne("b")); st != StatusRunning {
		t.Errorf("a new execution is %s, want RUNNING on a new runner", st)
	}
}

// Executions named "." and ".." (names Step Functions allows) are kept in
// their state machine's folder, as any other, and read back.
func TestStoreKeepsDotNames(t *testing.T) {
	st, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	names := []string{".", "..", "x"}
	for _, n := range names {
		if err := st.save(&record{StateMachine: "m", Name: n, Status: "RUNNING"}); err != nil {
			t.Fatal(err)
		}
		rec, hist := st.paths("m", n)
		for _, p := range []string{rec, hist} {
			if filepath.Dir(p) != filepath.Join(st.dir, "m") {
				t.Errorf("execution %q is kept at %s, outside its folder", n, p)
			}
		}
	}
	all, err := st.loadAll()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range all {
		got = append(got, r.Name)
	}
	slices.Sort(got)
	if !slices.Equal(got, names) {
		t.Errorf("read back %q, want %q", got, names)
	}
}
