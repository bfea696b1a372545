package sfnlocal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// tokenASL is a callback Task: the worker gets the token and the job, and
// the state waits for SendTaskSuccess/Failure within its timeouts.
func tokenASL(resource, parameters, timeouts string) string {
	return asl(fmt.Sprintf(`{
	  "StartAt": "Job",
	  "States": {
	    "Job": {"Type": "Task", "Resource": %q, %s, "Parameters": %s,
	      "Catch": [{"ErrorEquals": ["Job.Failed"], "ResultPath": "$.failure", "Next": "Cleanup"}],
	      "Next": "Done"},
	    "Cleanup": {"Type": "Pass", "Next": "Done"},
	    "Done": {"Type": "Succeed"}
	  }
	}`, resource, timeouts, parameters))
}

const (
	lambdaCallback = "arn:aws:states:::lambda:invoke.waitForTaskToken"
	lambdaParams   = `{"FunctionName": "${worker}", "Payload": {"token.$": "$$.Task.Token", "job.$": "$.job"}}`
)

// workerToken waits for the worker's invocation for job and
// returns the token it got.
func workerToken(t *testing.T, lambda *fakeLambda, job string) string {
	t.Helper()
	var tok string
	poll(t, "the worker's invocation for "+job, func() bool {
		for _, c := range lambda.invocations() {
			var p struct{ Token, Job string }
			if c.Function == "worker" && json.Unmarshal(c.Payload, &p) == nil && p.Job == job {
				if c.Type != "RequestResponse" {
					t.Fatalf("the worker was invoked with InvocationType %q, want RequestResponse", c.Type)
				}
				tok = p.Token
				return true
			}
		}
		return false
	})
	return tok
}

// scheduledToken waits for a Task's TaskScheduled and returns the token in
// its parameters, for integrations that call nothing locally.
func scheduledToken(t *testing.T, h *harness, arn string) string {
	t.Helper()
	re := regexp.MustCompile(`sfnlocal1\.[A-Za-z0-9_-]+`)
	var tok string
	poll(t, "TaskScheduled of "+arn, func() bool {
		for _, e := range h.history(t, arn) {
			if d := e.TaskScheduledEventDetails; d != nil {
				tok = re.FindString(aws.ToString(d.Parameters))
				return tok != ""
			}
		}
		return false
	})
	return tok
}

func TestWaitForTaskToken(t *testing.T) {
	lambda := newFakeLambda(t, nil)
	machines := map[string]string{
		"callback":  tokenASL(lambdaCallback, lambdaParams, `"TimeoutSeconds": 60`),
		"short":     tokenASL(lambdaCallback, lambdaParams, `"TimeoutSeconds": 1`),
		"heartbeat": tokenASL(lambdaCallback, lambdaParams, `"TimeoutSeconds": 60, "HeartbeatSeconds": 1`),
		"patient":   tokenASL(lambdaCallback, lambdaParams, `"TimeoutSeconds": 60, "HeartbeatSeconds": 2`),
		"sqs": tokenASL("arn:aws:states:::sqs:sendMessage.waitForTaskToken",
			`{"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs", "MessageBody": {"token.$": "$$.Task.Token"}}`,
			`"TimeoutSeconds": 60`),
	}
	h := start(t, lambda, machines)
	ctx := context.Background()
	success := func(tok, output string) error {
		_, err := h.client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(tok), Output: aws.String(output)})
		return err
	}

	tests := []struct {
		name, machine string
		// act completes the task (or not) given its token.
		act         func(t *testing.T, tok string)
		wantStatus  types.ExecutionStatus
		wantError   string
		wantOutput  string // a substring
		wantEvents  []string
		laterReject string // SendTaskSuccess with the token afterwards
	}{
		{
			name: "SendTaskSuccess", machine: "callback",
			act: func(t *testing.T, tok string) {
				if err := success(tok, `{"exit":0}`); err != nil {
					t.Fatal(err)
				}
			},
			wantStatus: types.ExecutionStatusSucceeded, wantOutput: `{"exit":0}`,
			wantEvents: []string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded",
				"TaskStateExited", "SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded"},
			laterReject: "TaskDoesNotExist",
		},
		{
			name: "SendTaskFailure, caught", machine: "callback",
			act: func(t *testing.T, tok string) {
				_, err := h.client.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(tok), Error: aws.String("Job.Failed"), Cause: aws.String("exit 1")})
				if err != nil {
					t.Fatal(err)
				}
			},
			wantStatus: types.ExecutionStatusSucceeded, wantOutput: `"failure":{"Error":"Job.Failed","Cause":"exit 1"}`,
			wantEvents: []string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskFailed",
				"TaskStateExited", "PassStateEntered", "PassStateExited", "SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded"},
			laterReject: "TaskDoesNotExist",
		},
		{
			name: "SendTaskFailure, not caught", machine: "callback",
			act: func(t *testing.T, tok string) {
				_, err := h.client.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(tok), Error: aws.String("Job.Lost")})
				if err != nil {
					t.Fatal(err)
				}
			},
			wantStatus: types.ExecutionStatusFailed, wantError: "Job.Lost",
			wantEvents: []string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskFailed", "ExecutionFailed"},
		},
		{
			name: "TimeoutSeconds", machine: "short",
			act:        func(*testing.T, string) {},
			wantStatus: types.ExecutionStatusFailed, wantError: "States.Timeout",
			wantEvents:  []string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskTimedOut", "ExecutionFailed"},
			laterReject: "TaskTimedOut",
		},
		{
			name: "HeartbeatSeconds without a heartbeat", machine: "heartbeat",
			act:        func(*testing.T, string) {},
			wantStatus: types.ExecutionStatusFailed, wantError: "States.HeartbeatTimeout",
			wantEvents:  []string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskTimedOut", "ExecutionFailed"},
			laterReject: "TaskTimedOut",
		},
		{
			name: "heartbeats keep the task alive", machine: "patient",
			act: func(t *testing.T, tok string) {
				// Heartbeats 10 times as often as needed, past the
				// HeartbeatSeconds that would otherwise end the task.
				for range 15 {
					if _, err := h.client.SendTaskHeartbeat(ctx, &sfn.SendTaskHeartbeatInput{TaskToken: aws.String(tok)}); err != nil {
						t.Fatal(err)
					}
					time.Sleep(200 * time.Millisecond)
				}
				if err := success(tok, `"alive"`); err != nil {
					t.Fatal(err)
				}
			},
			wantStatus: types.ExecutionStatusSucceeded, wantOutput: `"alive"`,
		},
		{
			name: "another service's callback waits for its token", machine: "sqs",
			act: func(t *testing.T, tok string) {
				if err := success(tok, `{"queued":true}`); err != nil {
					t.Fatal(err)
				}
			},
			wantStatus: types.ExecutionStatusSucceeded, wantOutput: `{"queued":true}`,
			wantEvents: []string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded",
				"TaskStateExited", "SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded"},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job := fmt.Sprintf("job-%d", i)
			arn := h.startExecution(t, tt.machine, "", fmt.Sprintf(`{"job":%q}`, job))
			var tok string
			if tt.machine == "sqs" {
				tok = scheduledToken(t, h, arn)
			} else {
				tok = workerToken(t, lambda, job)
			}
			if d, _ := h.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)}); d.Status != types.ExecutionStatusRunning {
				t.Fatalf("status %s while the task waits, want RUNNING", d.Status)
			}
			tt.act(t, tok)
			out := h.waitDone(t, arn)
			if out.Status != tt.wantStatus || aws.ToString(out.Error) != tt.wantError || !strings.Contains(aws.ToString(out.Output), tt.wantOutput) {
				t.Fatalf("status %s, error %q, output %s; want %s, %q, %s", out.Status, aws.ToString(out.Error), aws.ToString(out.Output), tt.wantStatus, tt.wantError, tt.wantOutput)
			}
			events := h.history(t, arn)
			if got := eventTypes(events); tt.wantEvents != nil && !slices.Equal(got, tt.wantEvents) {
				t.Errorf("history\n got %v\nwant %v", got, tt.wantEvents)
			}
			for _, e := range events {
				if d := e.TaskTimedOutEventDetails; d != nil && aws.ToString(d.Error) != tt.wantError {
					t.Errorf("TaskTimedOut error %q, want %q", aws.ToString(d.Error), tt.wantError)
				}
				if d := e.TaskSubmittedEventDetails; d != nil && tt.machine != "sqs" && !strings.Contains(aws.ToString(d.Output), `"StatusCode":200`) {
					t.Errorf("TaskSubmitted output %s, want the invoke's answer", aws.ToString(d.Output))
				}
			}
			if tt.laterReject != "" {
				if code := apiErrorCode(success(tok, `{}`)); code != tt.laterReject {
					t.Errorf("SendTaskSuccess after the end: %q, want %s", code, tt.laterReject)
				}
			}
		})
	}
}

func TestTaskTokenErrors(t *testing.T) {
	h := start(t, newFakeLambda(t, nil), map[string]string{"callback": tokenASL(lambdaCallback, lambdaParams, `"TimeoutSeconds": 60`)})
	ctx := context.Background()
	arn := h.startExecution(t, "callback", "", `{"job":"j"}`)
	tok := workerToken(t, h.lambda, "j")
	unknown := "sfnlocal1." + strings.Repeat("A", 43)
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"not a token", func() error {
			_, err := h.client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String("nope"), Output: aws.String("{}")})
			return err
		}, "InvalidToken"},
		{"a token never issued", func() error {
			_, err := h.client.SendTaskHeartbeat(ctx, &sfn.SendTaskHeartbeatInput{TaskToken: aws.String(unknown)})
			return err
		}, "TaskDoesNotExist"},
		{"output that is not JSON", func() error {
			_, err := h.client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(tok), Output: aws.String("{")})
			return err
		}, "InvalidOutput"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := apiErrorCode(tt.call()); code != tt.want {
				t.Errorf("error code %q, want %s", code, tt.want)
			}
		})
	}
	if d, _ := h.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)}); d.Status != types.ExecutionStatusRunning {
		t.Errorf("the refused calls changed the execution: %s", d.Status)
	}
}

func TestStopExecution(t *testing.T) {
	h := start(t, newFakeLambda(t, nil), map[string]string{"callback": tokenASL(lambdaCallback, lambdaParams, `"TimeoutSeconds": 60`)})
	ctx := context.Background()
	arn := h.startExecution(t, "callback", "stop-me", `{"job":"stop"}`)
	tok := workerToken(t, h.lambda, "stop")
	out, err := h.client.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(arn), Error: aws.String("User.Cancelled"), Cause: aws.String("cancelled by the test")})
	if err != nil || out.StopDate == nil {
		t.Fatalf("StopExecution: %v, %v", out, err)
	}
	d, err := h.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil || d.Status != types.ExecutionStatusAborted || aws.ToString(d.Error) != "User.Cancelled" || aws.ToString(d.Cause) != "cancelled by the test" ||
		!d.StopDate.Equal(*out.StopDate) {
		t.Fatalf("described %+v, %v; want ABORTED with the error and cause", d, err)
	}
	events := h.history(t, arn)
	last := events[len(events)-1]
	if last.Type != types.HistoryEventTypeExecutionAborted || aws.ToString(last.ExecutionAbortedEventDetails.Error) != "User.Cancelled" {
		t.Errorf("last event %s %+v, want ExecutionAborted with the error", last.Type, last.ExecutionAbortedEventDetails)
	}
	if code := apiErrorCode(func() error {
		_, err := h.client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(tok), Output: aws.String("{}")})
		return err
	}()); code != "TaskDoesNotExist" {
		t.Errorf("SendTaskSuccess after the stop: %q, want TaskDoesNotExist", code)
	}
	if again, err := h.client.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(arn)}); err != nil || !again.StopDate.Equal(*out.StopDate) {
		t.Errorf("stopping it again: %v, %v; want the first stop date", again, err)
	}
	if c := h.statuses.waitFor(t, arn); c.Status != "ABORTED" || aws.ToString(c.Error) != "User.Cancelled" {
		t.Errorf("status change %+v", c)
	}
}

// TimeoutSecondsPath is read from the state's input, as AWS reads it, not
// from the Parameters the library would pass.
func TestTimeoutSecondsPath(t *testing.T) {
	lambda := newFakeLambda(t, nil)
	h := start(t, lambda, map[string]string{
		"path": tokenASL(lambdaCallback, lambdaParams, `"TimeoutSecondsPath": "$.wait"`),
	})
	tests := []struct {
		name, input, wantError string
		wantTimeout            int64
	}{
		{"from the input", `{"job":"p1","wait":1}`, "States.Timeout", 1},
		{"missing", `{"job":"p2"}`, "States.Runtime", 0},
		{"not a positive integer", `{"job":"p3","wait":0.5}`, "States.Runtime", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			arn := h.startExecution(t, "path", "", tt.input)
			out := h.waitDone(t, arn)
			if out.Status != types.ExecutionStatusFailed || aws.ToString(out.Error) != tt.wantError {
				t.Fatalf("status %s, error %q; want FAILED, %s", out.Status, aws.ToString(out.Error), tt.wantError)
			}
			for _, e := range h.history(t, arn) {
				if d := e.TaskScheduledEventDetails; d != nil && aws.ToInt64(d.TimeoutInSeconds) != tt.wantTimeout {
					t.Errorf("TaskScheduled TimeoutInSeconds %d, want %d", aws.ToInt64(d.TimeoutInSeconds), tt.wantTimeout)
				}
			}
		})
	}
}
