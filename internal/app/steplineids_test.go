package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/testutil"
)

// TestFailedStepLineNamesOwnerAndSandbox: README's "Logs are JSON
// lines with requestId, userId, sandboxId (and taskId)". The state
// machine passes a step only taskId (and userId, not to a clean-up), but
// every step reads the task's record, which names its owner and its
// sandbox: the line saying why a step failed carries both, or an
// operator filtering by the sandbox Daytona failed on, or by the user,
// misses it.
func TestFailedStepLineNamesOwnerAndSandbox(t *testing.T) {
	s := newTaskStack(t, &testutil.Recorder{}, testutil.DynamoDBLatency(0, 0), testutil.DaytonaLatency(testutil.DaytonaDelays{}), testutil.AWSLatency(0))
	tests := []struct {
		name, function string
		payload        func(id string) string
		fault          daytonalocal.Match
	}{
		{"task-check, Daytona failing the command's read", api.FunctionStatus,
			func(id string) string { return `{"action":"task-check","taskId":"` + id + `","userId":"alice"}` },
			daytonalocal.Match{Operation: "GetSessionCommand"}},
		{"task-cleanup, Daytona failing the delete", api.FunctionDelete,
			func(id string) string { return `{"action":"task-cleanup","taskId":"` + id + `"}` },
			daytonalocal.Match{Operation: "deleteSandbox"}},
		{"task-ended, Daytona failing the delete", api.FunctionDelete,
			func(id string) string {
				return `{"action":"task-ended","detail":{"name":"` + id + `","status":"TIMED_OUT"}}`
			},
			daytonalocal.Match{Operation: "deleteSandbox"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, step := s.startedTask(t, "sleep 600")
			fault, err := s.daytona.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 500, Match: tt.fault})
			if err != nil {
				t.Fatal(err)
			}
			defer s.daytona.RemoveFault(fault)
			if _, err := s.api.HandlerFunc(tt.function)(context.Background(), []byte(tt.payload(id))); err == nil {
				t.Fatal("the step succeeded; want it failed by Daytona's 500")
			}
			var line map[string]any
			for l := range strings.SplitSeq(s.logs.String(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && m["message"] == "request failed" && m["taskId"] == id {
					line = m
				}
			}
			if line == nil {
				t.Fatalf("no request failed line of task %s in:\n%s", id, s.logs.String())
			}
			if line["userId"] != "alice" || line["sandboxId"] != step.SandboxID {
				t.Errorf("the failed step's line %v; want userId alice and sandboxId %s", line, step.SandboxID)
			}
		})
	}
}
