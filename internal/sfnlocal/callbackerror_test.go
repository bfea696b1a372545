package sfnlocal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sandstep/sandstep/internal/sfnlocal"
)

// TestCallbackLambdaErrorFailsTask: AWS invokes a
// lambda:invoke.waitForTaskToken function synchronously (InvocationType
// RequestResponse unless Parameters say otherwise) and an error of the
// function fails the Task, which its Retry and Catch then handle, as
// task.asl.json's Wait relies on (task-wait answers Sandbox.Transient to be
// asked again). An asynchronous invoke drops the error: the Task waits for
// a token that never comes, until its timeout.
func TestCallbackLambdaErrorFailsTask(t *testing.T) {
	def := asl(`{
	  "StartAt": "Job",
	  "States": {
	    "Job": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
	      "Parameters": {"FunctionName": "${worker}", "Payload": {"token.$": "$$.Task.Token", "job.$": "$.job"}},
	      "TimeoutSeconds": 3,
	      "Retry": [{"ErrorEquals": ["Worker.Busy"], "IntervalSeconds": 60, "MaxAttempts": 1}],
	      "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Done"}],
	      "Next": "Done"},
	    "Done": {"Type": "Succeed"}
	  }
	}`)
	// The worker's answers by job, one per invocation: an error type, or
	// "" to call back with the token.
	answers := map[string][]string{
		"broken": {"Worker.Broken"},
		"busy":   {"Worker.Busy", ""},
	}
	var (
		mu     sync.Mutex
		seen   = map[string]int{}
		client *sfn.Client
	)
	worker := func(payload json.RawMessage) lambdaReply {
		var p struct{ Token, Job string }
		_ = json.Unmarshal(payload, &p)
		mu.Lock()
		n := seen[p.Job]
		seen[p.Job]++
		c := client
		mu.Unlock()
		a := answers[p.Job]
		if n < len(a) && a[n] != "" {
			return lambdaReply{ErrorType: a[n]}
		}
		go func() {
			_, _ = c.SendTaskSuccess(context.Background(), &sfn.SendTaskSuccessInput{TaskToken: aws.String(p.Token), Output: aws.String(`{"done":true}`)})
		}()
		return lambdaReply{Payload: map[string]any{}}
	}
	lambda := newFakeLambda(t, map[string]func(json.RawMessage) lambdaReply{"worker": worker})
	h := start(t, lambda, map[string]string{"callback": def}, func(o *sfnlocal.Options) {
		o.RetryIntervalOverrides = map[string]time.Duration{"Job": time.Millisecond}
	})
	mu.Lock()
	client = h.client
	mu.Unlock()

	tests := []struct {
		job         string
		wantOutput  string // a substring
		wantInvokes int
	}{
		{job: "broken", wantOutput: `"failure":{"Error":"Worker.Broken"`, wantInvokes: 1},
		{job: "busy", wantOutput: `{"done":true}`, wantInvokes: 2},
	}
	for _, tt := range tests {
		t.Run(tt.job, func(t *testing.T) {
			arn := h.startExecution(t, "callback", "", fmt.Sprintf(`{"job":%q}`, tt.job))
			out := h.waitDone(t, arn)
			mu.Lock()
			invokes := seen[tt.job]
			mu.Unlock()
			if out.Status != types.ExecutionStatusSucceeded || !strings.Contains(aws.ToString(out.Output), tt.wantOutput) || invokes != tt.wantInvokes {
				t.Errorf("status %s, output %s after %d invocations; want SUCCEEDED with %s after %d: "+
					"the function's error must fail the Task for its Retry and Catch, as in AWS",
					out.Status, aws.ToString(out.Output), invokes, tt.wantOutput, tt.wantInvokes)
			}
			for _, c := range lambda.invocations() {
				if c.Function == "worker" && strings.Contains(string(c.Payload), fmt.Sprintf(`"job":%q`, tt.job)) && c.Type != "RequestResponse" {
					t.Errorf("the worker was invoked with InvocationType %q, want RequestResponse (AWS's default)", c.Type)
				}
			}
			if got := eventTypes(h.history(t, arn)); tt.job == "broken" && !slices.Contains(got, "TaskFailed") {
				t.Errorf("history %v, want the function's error as TaskFailed", got)
			}
		})
	}
}
