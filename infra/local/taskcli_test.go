package local

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/service"
)

// A task started from the console (or the CLI) with events/task-input.json
// is a task like any other: GET /tasks/{id} works for its user, and the
// AWS CLI drives the local Step Functions API.
func TestConsoleStartWithTheCLI(t *testing.T) {
	needAWSCLI(t)
	s := startStack(t, nil)
	input, err := os.ReadFile("../../events/task-input.json")
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		UserID string `json:"userId"`
	}
	if err := json.Unmarshal(input, &in); err != nil {
		t.Fatal(err)
	}
	id := service.NewTaskID()
	cli := func(args ...string) map[string]any {
		t.Helper()
		out, stderr, err := runAWS(t, append([]string{"--endpoint-url", s.StepFunctionsURL, "stepfunctions"}, args...)...)
		if err != nil {
			t.Fatalf("aws stepfunctions %s: %v\n%s", args[0], err, stderr)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%s: %s: %v", args[0], out, err)
		}
		return m
	}
	started := cli("start-execution", "--state-machine-arn", s.StateMachineARNs[0], "--name", id, "--input", string(input))
	if started["executionArn"] != s.executionARN(id) {
		t.Fatalf("start-execution answered %v", started)
	}
	done := s.waitTask(in.UserID, id, time.Minute)
	if done.Status != "succeeded" {
		t.Fatalf("the console's task ended %+v", done)
	}
	s.waitExecution(id, 30*time.Second)
	if d := cli("describe-execution", "--execution-arn", s.executionARN(id)); d["status"] != "SUCCEEDED" {
		t.Errorf("describe-execution: %v", d)
	}
	hist := cli("get-execution-history", "--execution-arn", s.executionARN(id))
	if evs, _ := hist["events"].([]any); len(evs) < 10 {
		t.Errorf("get-execution-history: %d events", len(evs))
	}
	list := cli("list-executions", "--state-machine-arn", s.StateMachineARNs[0])
	if evs, _ := list["executions"].([]any); len(evs) != 1 {
		t.Errorf("list-executions: %v", list)
	}
	stdout, stderr, _ := s.readLogs(in.UserID, id)
	if !strings.Contains(stdout, "step 3") || !strings.Contains(stderr, "warn 3") {
		t.Errorf("logs: %q %q", stdout, stderr)
	}
	s.assertNothingLeft(in.UserID)
}

// A console start with bad input fails its execution at once, naming the
// field, and leaves nothing behind.
func TestConsoleStartWithBadInput(t *testing.T) {
	s := startStack(t, nil)
	tests := []struct {
		name, input, causeHas string
	}{
		{"timeout over the maximum", `{"userId":"carol","task":{"command":"true","timeoutSeconds":99999999}}`, "task.timeoutSeconds"},
		{"unknown field", `{"userId":"carol","task":{"command":"true","tiemout":5}}`, "tiemout"},
		{"no user", `{"task":{"command":"true"}}`, "userId"},
		{"input that is not an object", `"true"`, "input"},
		{"a field in another case", `{"userId":"carol","task":{"Command":"true"}}`, "task.Command"},
		{"bad sandbox spec", `{"userId":"carol","task":{"command":"true","sandbox":{"files":[{"path":"../x","contentBase64":""}]}}}`, "task.sandbox.files[0].path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := service.NewTaskID()
			s.sfn("StartExecution", map[string]any{"stateMachineArn": s.StateMachineARNs[0], "name": id, "input": tt.input}, nil)
			s.waitExecution(id, 30*time.Second)
			st, errName, cause := s.describe(id)
			if st != "FAILED" || errName != "Sandbox.InvalidInput" || !strings.Contains(cause, tt.causeHas) {
				t.Errorf("execution %s %s %q, want FAILED Sandbox.InvalidInput naming %s", st, errName, cause, tt.causeHas)
			}
			if res := s.as("carol", http.MethodGet, "/tasks/"+id, nil); res.status != http.StatusNotFound {
				t.Errorf("GET /tasks/%s = %d %s, want nothing kept", id, res.status, res.body)
			}
		})
	}
	s.assertNothingLeft("carol")
}

// An execution stopped with the AWS CLI ends without its own clean-up; the
// status-change rule cleans up all the same.
func TestStopExecutionWithTheCLI(t *testing.T) {
	needAWSCLI(t)
	s := startStack(t, nil)
	tk := s.startTask("alice", map[string]any{"command": "sleep 60"})
	s.waitRunning("alice", tk.ID)
	if _, stderr, err := runAWS(t, "--endpoint-url", s.StepFunctionsURL, "stepfunctions", "stop-execution",
		"--execution-arn", s.executionARN(tk.ID), "--error", "Operator.Stop", "--cause", "stopped by hand"); err != nil {
		t.Fatalf("stop-execution: %v\n%s", err, stderr)
	}
	done := s.waitTask("alice", tk.ID, 30*time.Second)
	if done.Status != "failed" || !strings.Contains(done.Error, "Operator.Stop") {
		t.Errorf("task ended %s %q, want failed with the stop's error", done.Status, done.Error)
	}
	s.waitNothingLeft("alice")
}
