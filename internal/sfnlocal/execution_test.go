package sfnlocal_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sandstep/sandstep/internal/sfnlocal"
)

// asl fills a definition's ${Name} placeholders with function ARNs, as the
// stack's DefinitionSubstitutions do.
func asl(def string) string {
	for _, fn := range []string{"create", "execute", "flaky", "fatal", "cleanup", "worker", "missing"} {
		def = strings.ReplaceAll(def, "${"+fn+"}", fnARN(fn))
	}
	return def
}

// Every Task below has a Catch on States.TaskFailed into Broken: a Task
// that fails for a reason of the runner's own (such as Node 20 without the
// polyfill) would end there rather than in the expected state.
var chainASL = asl(`{
  "StartAt": "Create",
  "States": {
    "Create": {"Type": "Task", "Resource": "${create}", "TimeoutSeconds": 30, "ResultPath": "$.sandbox", "Next": "Execute",
      "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Broken"}]},
    "Execute": {"Type": "Task", "Resource": "${execute}", "TimeoutSeconds": 30, "ResultPath": "$.result", "End": true,
      "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Broken"}]},
    "Broken": {"Type": "Fail", "Error": "Broken"}
  }
}`)

func TestTaskChainSucceeds(t *testing.T) {
	lambda := newFakeLambda(t, map[string]func(json.RawMessage) lambdaReply{
		"create":  func(json.RawMessage) lambdaReply { return lambdaReply{Payload: map[string]string{"id": "sb-1"}} },
		"execute": func(json.RawMessage) lambdaReply { return lambdaReply{Payload: map[string]int{"exit": 0}} },
	})
	h := start(t, lambda, map[string]string{"chain": chainASL})
	arn := h.startExecution(t, "chain", "run-1", `{"userId":"u1"}`)
	if want := "arn:aws:states:us-east-1:123456789012:execution:chain:run-1"; arn != want {
		t.Fatalf("executionArn %s, want %s", arn, want)
	}
	out := h.waitDone(t, arn)
	if out.Status != types.ExecutionStatusSucceeded {
		t.Fatalf("status %s (%s: %s), want SUCCEEDED", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(out.Output)), &got); err != nil {
		t.Fatal(err)
	}
	if got["userId"] != "u1" || got["sandbox"].(map[string]any)["id"] != "sb-1" || got["result"].(map[string]any)["exit"] != 0.0 {
		t.Errorf("output %s", aws.ToString(out.Output))
	}
	calls := lambda.invocations()
	if len(calls) != 2 || calls[0].Function != "create" || calls[1].Function != "execute" || calls[1].Type != "RequestResponse" ||
		!strings.Contains(string(calls[1].Payload), `"sb-1"`) {
		t.Errorf("invocations %+v, want create then execute with the sandbox", calls)
	}

	events := h.history(t, arn)
	want := []string{
		"ExecutionStarted",
		"TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded", "TaskStateExited",
		"TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded", "TaskStateExited",
		"ExecutionSucceeded",
	}
	if got := eventTypes(events); !slices.Equal(got, want) {
		t.Fatalf("history\n got %v\nwant %v", got, want)
	}
	for i, e := range events {
		if e.Id != int64(i+1) {
			t.Errorf("event %d has id %d", i, e.Id)
		}
	}
	if events[1].PreviousEventId != 0 || events[2].PreviousEventId != 2 {
		t.Errorf("previousEventId of events 2 and 3: %d, %d; want 0 (as AWS) and 2", events[1].PreviousEventId, events[2].PreviousEventId)
	}
	if d := events[0].ExecutionStartedEventDetails; d == nil || aws.ToString(d.Input) != `{"userId":"u1"}` || aws.ToString(d.RoleArn) == "" {
		t.Errorf("ExecutionStarted details %+v", d)
	}
	if d := events[1].StateEnteredEventDetails; d == nil || aws.ToString(d.Name) != "Create" {
		t.Errorf("TaskStateEntered details %+v", d)
	}
	if d := events[2].LambdaFunctionScheduledEventDetails; d == nil || aws.ToString(d.Resource) != fnARN("create") || aws.ToInt64(d.TimeoutInSeconds) != 30 {
		t.Errorf("LambdaFunctionScheduled details %+v", d)
	}
	if d := events[4].LambdaFunctionSucceededEventDetails; d == nil || aws.ToString(d.Output) != `{"id":"sb-1"}` {
		t.Errorf("LambdaFunctionSucceeded details %+v", d)
	}
	if d := events[11].ExecutionSucceededEventDetails; d == nil || aws.ToString(d.Output) != aws.ToString(out.Output) {
		t.Errorf("ExecutionSucceeded details %+v", d)
	}

	c := h.statuses.waitFor(t, arn)
	if c.Status != "SUCCEEDED" || c.Name != "run-1" || c.StateMachineArn != machineARN("chain") || c.StopDate == nil ||
		aws.ToString(c.Output) != aws.ToString(out.Output) || c.Input != `{"userId":"u1"}` {
		t.Errorf("status change %+v", c)
	}
}

func TestRetryThenSuccess(t *testing.T) {
	var calls atomic.Int32
	lambda := newFakeLambda(t, map[string]func(json.RawMessage) lambdaReply{
		"flaky": func(json.RawMessage) lambdaReply {
			if calls.Add(1) <= 2 {
				return lambdaReply{ErrorType: "Sandbox.Transient"}
			}
			return lambdaReply{Payload: "ok"}
		},
	})
	def := asl(`{
	  "StartAt": "Flaky",
	  "States": {
	    "Flaky": {"Type": "Task", "Resource": "${flaky}", "TimeoutSeconds": 30, "End": true,
	      "Retry": [{"ErrorEquals": ["Sandbox.Transient"], "IntervalSeconds": 60, "MaxAttempts": 3}],
	      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Broken"}]},
	    "Broken": {"Type": "Fail", "Error": "Broken"}
	  }
	}`)
	h := start(t, lambda, map[string]string{"retry": def}, func(o *sfnlocal.Options) {
		o.RetryIntervalOverrides = map[string]time.Duration{"Flaky": time.Millisecond}
	})
	arn := h.startExecution(t, "retry", "", `{}`)
	out := h.waitDone(t, arn)
	if out.Status != types.ExecutionStatusSucceeded || aws.ToString(out.Output) != `"ok"` {
		t.Fatalf("status %s output %s (%s: %s), want SUCCEEDED \"ok\"", out.Status, aws.ToString(out.Output), aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("flaky invoked %d times, want 3", n)
	}
	events := h.history(t, arn)
	want := []string{
		"ExecutionStarted", "TaskStateEntered",
		"LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionFailed",
		"LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionFailed",
		"LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded",
		"TaskStateExited", "ExecutionSucceeded",
	}
	if got := eventTypes(events); !slices.Equal(got, want) {
		t.Fatalf("history\n got %v\nwant %v", got, want)
	}
	d := events[4].LambdaFunctionFailedEventDetails
	if d == nil || aws.ToString(d.Error) != "Sandbox.Transient" || !strings.Contains(aws.ToString(d.Cause), `"errorMessage":"failed on purpose"`) {
		t.Errorf("LambdaFunctionFailed details %+v, want error Sandbox.Transient and the error payload as cause", d)
	}
}

func TestCatchIntoCleanup(t *testing.T) {
	lambda := newFakeLambda(t, map[string]func(json.RawMessage) lambdaReply{
		"fatal":   func(json.RawMessage) lambdaReply { return lambdaReply{ErrorType: "Sandbox.Fatal"} },
		"cleanup": func(json.RawMessage) lambdaReply { return lambdaReply{Payload: map[string]bool{"cleaned": true}} },
	})
	def := asl(`{
	  "StartAt": "Work",
	  "States": {
	    "Work": {"Type": "Task", "Resource": "${fatal}", "TimeoutSeconds": 30, "Next": "Done",
	      "Retry": [{"ErrorEquals": ["Sandbox.Transient"], "MaxAttempts": 3}],
	      "Catch": [{"ErrorEquals": ["Sandbox.Fatal"], "ResultPath": "$.error", "Next": "Cleanup"}]},
	    "Cleanup": {"Type": "Task", "Resource": "${cleanup}", "TimeoutSeconds": 30, "ResultPath": "$.cleanup", "Next": "Failed"},
	    "Failed": {"Type": "Fail", "Error": "Job.Failed", "Cause": "the work failed and was cleaned up"},
	    "Done": {"Type": "Succeed"}
	  }
	}`)
	h := start(t, lambda, map[string]string{"catch": def})
	arn := h.startExecution(t, "catch", "", `{"sandboxId":"sb-9"}`)
	out := h.waitDone(t, arn)
	if out.Status != types.ExecutionStatusFailed || aws.ToString(out.Error) != "Job.Failed" || aws.ToString(out.Cause) != "the work failed and was cleaned up" {
		t.Fatalf("status %s, error %s, cause %s; want FAILED Job.Failed", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	cleanup := lambda.waitInvocation(t, "cleanup", 1)
	var in struct {
		SandboxID string `json:"sandboxId"`
		Error     struct{ Error, Cause string }
	}
	if err := json.Unmarshal(cleanup.Payload, &in); err != nil || in.SandboxID != "sb-9" || in.Error.Error != "Sandbox.Fatal" ||
		!strings.Contains(in.Error.Cause, "failed on purpose") {
		t.Errorf("cleanup got %s (%v), want the input with the caught error", cleanup.Payload, err)
	}
	events := h.history(t, arn)
	want := []string{
		"ExecutionStarted",
		"TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionFailed", "TaskStateExited",
		"TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded", "TaskStateExited",
		"FailStateEntered", "ExecutionFailed",
	}
	if got := eventTypes(events); !slices.Equal(got, want) {
		t.Fatalf("history\n got %v\nwant %v", got, want)
	}
	if d := events[5].StateExitedEventDetails; d == nil || !strings.Contains(aws.ToString(d.Output), `"Sandbox.Fatal"`) {
		t.Errorf("the caught Task's TaskStateExited %+v, want the Catch's output", d)
	}
	if d := events[12].ExecutionFailedEventDetails; d == nil || aws.ToString(d.Error) != "Job.Failed" {
		t.Errorf("ExecutionFailed details %+v", d)
	}
	if c := h.statuses.waitFor(t, arn); c.Status != "FAILED" || aws.ToString(c.Error) != "Job.Failed" || c.Output != nil {
		t.Errorf("status change %+v", c)
	}
}

func TestLambdaInvokeIntegration(t *testing.T) {
	lambda := newFakeLambda(t, map[string]func(json.RawMessage) lambdaReply{
		"worker": func(p json.RawMessage) lambdaReply { return lambdaReply{Payload: map[string]json.RawMessage{"got": p}} },
		"fatal":  func(json.RawMessage) lambdaReply { return lambdaReply{ErrorType: "Sandbox.Fatal"} },
	})
	def := asl(`{
	  "StartAt": "Invoke",
	  "States": {
	    "Invoke": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 30,
	      "Parameters": {"FunctionName": "${worker}", "Payload": {"n.$": "$.n"}},
	      "ResultSelector": {"body.$": "$.Payload", "code.$": "$.StatusCode"}, "Next": "Fails"},
	    "Fails": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 30,
	      "Parameters": {"FunctionName": "fatal", "Payload.$": "$"},
	      "Catch": [{"ErrorEquals": ["Sandbox.Fatal"], "ResultPath": "$.caught", "Next": "Done"}], "Next": "Done"},
	    "Done": {"Type": "Succeed"}
	  }
	}`)
	h := start(t, lambda, map[string]string{"invoke": def})
	arn := h.startExecution(t, "invoke", "", `{"n":7}`)
	out := h.waitDone(t, arn)
	var got struct {
		Body   struct{ Got struct{ N int } }
		Code   int
		Caught struct{ Error string }
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Output)), &got); err != nil || out.Status != types.ExecutionStatusSucceeded ||
		got.Body.Got.N != 7 || got.Code != 200 || got.Caught.Error != "Sandbox.Fatal" {
		t.Fatalf("status %s output %s (%v)", out.Status, aws.ToString(out.Output), err)
	}
	events := h.history(t, arn)
	want := []string{
		"ExecutionStarted",
		"TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited",
		"TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskFailed", "TaskStateExited",
		"SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded",
	}
	if got := eventTypes(events); !slices.Equal(got, want) {
		t.Fatalf("history\n got %v\nwant %v", got, want)
	}
	d := events[2].TaskScheduledEventDetails
	if d == nil || aws.ToString(d.ResourceType) != "lambda" || aws.ToString(d.Resource) != "invoke" || aws.ToString(d.Region) != region ||
		!strings.Contains(aws.ToString(d.Parameters), `"FunctionName"`) {
		t.Errorf("TaskScheduled details %+v", d)
	}
	if d := events[4].TaskSucceededEventDetails; d == nil || !strings.Contains(aws.ToString(d.Output), `"Payload":{"got":{"n":7}}`) {
		t.Errorf("TaskSucceeded details %+v", d)
	}
}

func TestUnknownFunctionFailsTheTask(t *testing.T) {
	lambda := newFakeLambda(t, nil)
	def := asl(`{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "${missing}", "TimeoutSeconds": 30, "End": true}}}`)
	h := start(t, lambda, map[string]string{"m": def})
	out := h.waitDone(t, h.startExecution(t, "m", "", `{}`))
	if out.Status != types.ExecutionStatusFailed || aws.ToString(out.Error) != "Lambda.ResourceNotFoundException" {
		t.Errorf("status %s error %s, want FAILED Lambda.ResourceNotFoundException", out.Status, aws.ToString(out.Error))
	}
}

func TestExecutionTimeout(t *testing.T) {
	def := `{"TimeoutSeconds": 1, "StartAt": "Sleep", "States": {"Sleep": {"Type": "Wait", "Seconds": 3600, "End": true}}}`
	h := start(t, newFakeLambda(t, nil), map[string]string{"slow": def})
	arn := h.startExecution(t, "slow", "", `{}`)
	out := h.waitDone(t, arn)
	if out.Status != types.ExecutionStatusTimedOut || out.StopDate == nil {
		t.Fatalf("status %s, want TIMED_OUT", out.Status)
	}
	want := []string{"ExecutionStarted", "WaitStateEntered", "ExecutionTimedOut"}
	if got := eventTypes(h.history(t, arn)); !slices.Equal(got, want) {
		t.Errorf("history %v, want %v", got, want)
	}
	if c := h.statuses.waitFor(t, arn); c.Status != "TIMED_OUT" {
		t.Errorf("status change %+v", c)
	}
}

func TestStartExecutionRules(t *testing.T) {
	def := `{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}}`
	quick := `{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}`
	h := start(t, newFakeLambda(t, nil), map[string]string{"wait": def, "quick": quick})
	ctx := context.Background()
	first := h.startExecution(t, "wait", "same", `{"a":1}`)
	done := h.startExecution(t, "quick", "same", `{"a":1}`)
	h.waitDone(t, done)

	tests := []struct {
		name            string
		machine, exec   string
		input           *string
		wantARN, wantEr string
	}{
		{"same name and input while running", machineARN("wait"), "same", aws.String(`{"a":1}`), first, ""},
		{"same name, other input", machineARN("wait"), "same", aws.String(`{"a":2}`), "", "ExecutionAlreadyExists"},
		{"same name and input once closed", machineARN("quick"), "same", aws.String(`{"a":1}`), "", "ExecutionAlreadyExists"},
		{"input that is not JSON", machineARN("wait"), "x", aws.String(`{`), "", "InvalidExecutionInput"},
		{"name with a slash", machineARN("wait"), "a/b", nil, "", "InvalidName"},
		{"unknown state machine", machineARN("nope"), "x", nil, "", "StateMachineDoesNotExist"},
		{"not an ARN", "nope", "x", nil, "", "InvalidArn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := h.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(tt.machine), Name: aws.String(tt.exec), Input: tt.input})
			if tt.wantEr != "" {
				if code := apiErrorCode(err); code != tt.wantEr {
					t.Fatalf("err %v (code %q), want %s", err, code, tt.wantEr)
				}
				return
			}
			if err != nil || aws.ToString(out.ExecutionArn) != tt.wantARN {
				t.Fatalf("got %v, %v; want %s", out, err, tt.wantARN)
			}
		})
	}

	t.Run("no name: a UUID, input {}", func(t *testing.T) {
		out, err := h.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(machineARN("quick"))})
		if err != nil {
			t.Fatal(err)
		}
		d := h.waitDone(t, aws.ToString(out.ExecutionArn))
		if len(aws.ToString(d.Name)) != 36 || aws.ToString(d.Input) != "{}" || aws.ToString(d.Output) != "{}" {
			t.Errorf("described %+v", d)
		}
	})
	t.Run("members in another case are unknown, as at AWS", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, h.url, strings.NewReader(`{"StateMachineArn":"`+machineARN("quick")+`","Name":"cased"}`))
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "AWSStepFunctions.StartExecution")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || res.Header.Get("X-Amzn-ErrorType") != "InvalidArn" {
			t.Errorf("answered %d %s, want 400 InvalidArn (no stateMachineArn)", res.StatusCode, res.Header.Get("X-Amzn-ErrorType"))
		}
	})
	t.Run("unknown execution", func(t *testing.T) {
		_, err := h.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(strings.Replace(first, ":same", ":other", 1))})
		if code := apiErrorCode(err); code != "ExecutionDoesNotExist" {
			t.Errorf("err %v, want ExecutionDoesNotExist", err)
		}
	})
}

func TestDescribeAndListStateMachines(t *testing.T) {
	quick := `{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}`
	h := start(t, newFakeLambda(t, nil), map[string]string{"b": quick, "a": quick, "c": quick})
	ctx := context.Background()
	d, err := h.client.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(machineARN("a"))})
	if err != nil || aws.ToString(d.Definition) != quick || aws.ToString(d.Name) != "a" || d.Type != types.StateMachineTypeStandard || d.Status != types.StateMachineStatusActive {
		t.Fatalf("DescribeStateMachine %+v, %v", d, err)
	}
	var names []string
	p := sfn.NewListStateMachinesPaginator(h.client, &sfn.ListStateMachinesInput{MaxResults: 2})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.StateMachines {
			names = append(names, aws.ToString(m.Name))
		}
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Errorf("ListStateMachines %v", names)
	}
}
