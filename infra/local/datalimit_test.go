package local

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/service"
)

// stateDataLimit is what a state's input or output may weigh in Step
// Functions (256 KiB); a state whose output is heavier fails with
// States.DataLimitExceeded, which no States.ALL Catch takes. The local
// runner does not enforce it, so the test weighs what AWS would.
const stateDataLimit = 256 << 10

// A console start refused for its input fails with Sandbox.InvalidInput
// naming the field (README, "Long tasks"): Prepare's Catch passes the
// refusal on as its output, {"Error", "Cause"}, Cause being the function's
// error payload. A field name is quoted back in the message, and each
// character of it may grow on the way: "<" is \u003c in the payload
// (aws-lambda-go's json.Marshal escapes HTML), \\u003c once the Catch
// puts the payload in a JSON string. An input of 40 KB, far under what
// an execution may be started with, would then make Prepare's Catch
// output 280 KB: the execution would fail with States.DataLimitExceeded,
// not the refusal, with no clean-up step run.
func TestConsoleRefusalFitsAState(t *testing.T) {
	s := startStack(t, nil)
	tests := []struct {
		name, field string
	}{
		{"an unknown field of 40,000 '<'", strings.Repeat("<", 40000)},
		{"an unknown field of 100,000 '\"'", strings.Repeat(`\"`, 100000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := service.NewTaskID()
			input := `{"userId":"carol","task":{"command":"true","` + tt.field + `":1}}`
			s.sfn("StartExecution", map[string]any{"stateMachineArn": s.StateMachineARNs[0], "name": id, "input": input}, nil)
			s.waitExecution(id, 30*time.Second)
			st, errName, _ := s.describe(id)
			if st != "FAILED" || errName != "Sandbox.InvalidInput" {
				t.Fatalf("execution %s %s, want FAILED Sandbox.InvalidInput", st, errName)
			}
			var page struct {
				Events []struct {
					Type    string `json:"type"`
					Entered *struct {
						Name string `json:"name"`
					} `json:"stateEnteredEventDetails"`
					Failed *struct {
						Error string `json:"error"`
						Cause string `json:"cause"`
					} `json:"lambdaFunctionFailedEventDetails"`
				} `json:"events"`
			}
			s.sfn("GetExecutionHistory", map[string]any{"executionArn": s.executionARN(id), "maxResults": 1000}, &page)
			state := ""
			for _, e := range page.Events {
				if e.Entered != nil {
					state = e.Entered.Name
				}
				if e.Failed == nil || state != "Prepare" {
					continue
				}
				caught, _ := json.Marshal(map[string]string{"Error": e.Failed.Error, "Cause": e.Failed.Cause})
				if len(caught) > stateDataLimit {
					t.Errorf("input of %d bytes: Prepare's Catch output is %d bytes, over the %d a state may carry: the execution would fail with States.DataLimitExceeded",
						len(input), len(caught), stateDataLimit)
				}
			}
		})
	}
	s.assertNothingLeft("carol")
}
