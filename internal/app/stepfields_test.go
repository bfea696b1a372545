package app

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/testutil"
)

// TestTaskStepNamesTaskID: a state machine step invoked directly with
// its taskId left out or malformed is invalid_input naming taskId (README:
// the field is named), never the sandboxId the step's input does not have.
func TestTaskStepNamesTaskID(t *testing.T) {
	s := newTaskStack(t, &testutil.Recorder{}, testutil.DynamoDBLatency(0, 0), testutil.DaytonaLatency(testutil.DaytonaDelays{}), testutil.AWSLatency(0))
	const user = `"userId":"8f3b2c1e-5d4a-4e6b-9c7d-2a1b0c9d8e7f"`
	tests := []struct {
		name, function, payload string
	}{
		{"task-sandbox without taskId", api.FunctionCreate, `{"action":"task-sandbox",` + user + `}`},
		{"task-start without taskId", api.FunctionExecute, `{"action":"task-start",` + user + `}`},
		{"task-collect without taskId", api.FunctionExecute, `{"action":"task-collect",` + user + `}`},
		{"task-wait without taskId", api.FunctionStatus, `{"action":"task-wait",` + user + `,"token":"t"}`},
		{"task-check without taskId", api.FunctionStatus, `{"action":"task-check",` + user + `}`},
		{"task-cleanup without taskId", api.FunctionDelete, `{"action":"task-cleanup"}`},
		{"task-check with white space in taskId", api.FunctionStatus, `{"action":"task-check","taskId":"tsk_a b",` + user + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.api.HandlerFunc(tt.function)(context.Background(), []byte(tt.payload))
			ive, ok := err.(messages.InvokeResponse_Error)
			if !ok {
				t.Fatalf("answer %v, want a function error", err)
			}
			if ive.Type != "Sandbox.InvalidInput" || !strings.HasPrefix(ive.Message, "taskId: ") {
				t.Errorf("error %s %q, want Sandbox.InvalidInput naming taskId", ive.Type, ive.Message)
			}
		})
	}
}

// TestTaskStepNamesUserID: a step over an existing task invoked
// without its userId (or with null) is invalid_input naming userId, not
// not_found: the task is there, and the answer must not say it is gone.
func TestTaskStepNamesUserID(t *testing.T) {
	s := newTaskStack(t, &testutil.Recorder{}, testutil.DynamoDBLatency(0, 0), testutil.DaytonaLatency(testutil.DaytonaDelays{}), testutil.AWSLatency(0))
	id, _ := s.startedTask(t, "sleep 600")
	tests := []struct {
		name, function, payload string
	}{
		{"task-check without userId", api.FunctionStatus, `{"action":"task-check","taskId":"` + id + `"}`},
		{"task-check with a null userId", api.FunctionStatus, `{"action":"task-check","taskId":"` + id + `","userId":null}`},
		{"task-collect without userId", api.FunctionExecute, `{"action":"task-collect","taskId":"` + id + `"}`},
		{"task-wait without userId", api.FunctionStatus, `{"action":"task-wait","taskId":"` + id + `","token":"t"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.api.HandlerFunc(tt.function)(context.Background(), []byte(tt.payload))
			ive, ok := err.(messages.InvokeResponse_Error)
			if !ok {
				t.Fatalf("answer %v, want a function error", err)
			}
			if ive.Type != "Sandbox.InvalidInput" || !strings.HasPrefix(ive.Message, "userId: ") {
				t.Errorf("error %s %q, want Sandbox.InvalidInput naming userId", ive.Type, ive.Message)
			}
		})
	}
}
