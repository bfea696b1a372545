package sfnlocal_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// TestRuntimeErrorIsNotCaught: AWS's States.ALL catches neither
// States.Runtime nor States.DataLimitExceeded; a States.Runtime (here a
// TimeoutSecondsPath that points to no positive integer, which
// task.asl.json's Wait has) fails the execution, whatever the state's
// Catch. Caught locally, it would take the Catch's path (the Wait's
// CleanUpAfterFailure) where AWS ends the execution FAILED and leaves the
// clean-up to the status-change rule.
func TestRuntimeErrorIsNotCaught(t *testing.T) {
	def := asl(`{
	  "StartAt": "Job",
	  "States": {
	    "Job": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
	      "Parameters": {"FunctionName": "${worker}", "Payload": {"token.$": "$$.Task.Token"}},
	      "TimeoutSecondsPath": "$.wait",
	      "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2}],
	      "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Caught"}],
	      "Next": "Caught"},
	    "Caught": {"Type": "Succeed"}
	  }
	}`)
	h := start(t, newFakeLambda(t, nil), map[string]string{"path": def})
	tests := []struct{ name, input string }{
		{"missing", `{}`},
		{"not an integer", `{"wait":0.5}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arn := h.startExecution(t, "path", "", tt.input)
			out := h.waitDone(t, arn)
			if out.Status != types.ExecutionStatusFailed || aws.ToString(out.Error) != "States.Runtime" {
				t.Errorf("status %s, error %q, output %s; want FAILED with States.Runtime, which States.ALL does not catch (nor retry)",
					out.Status, aws.ToString(out.Error), aws.ToString(out.Output))
			}
		})
	}
}
