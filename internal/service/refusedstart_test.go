package service

import (
	"context"
	"errors"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A console start refused before its task existed fails its execution
// with the refusal's Sandbox.* name, but Task.Failed for one the state
// machine would take for a passing failure of the clean-up and ask again.
func TestARefusedStartsOutcome(t *testing.T) {
	tests := []struct {
		name, refused, want string
	}{
		{"bad input", "Sandbox.InvalidInput", "Sandbox.InvalidInput"},
		{"an internal error", "Sandbox.Internal", "Sandbox.Internal"},
		{"a timeout", "Sandbox.Timeout", "Sandbox.Timeout"},
		{"a transient error through every retry", "Sandbox.Transient", "Task.Failed"},
		{"the Lambda service's error through every retry", "Lambda.ServiceException", "Task.Failed"},
		{"the state's own time ran out", "States.Timeout", "Task.Failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newNoticeHarness(t, nil, nil)
			_, err := h.svc.CleanUpTask(context.Background(), NewTaskID(), &TaskFailure{Error: tt.refused, Cause: `{"errorMessage":"boom"}`})
			var out *OutcomeError
			if !errors.As(err, &out) {
				t.Fatalf("CleanUpTask = %v, want an outcome", err)
			}
			if out.Name() != tt.want || out.Cause() == "" {
				t.Errorf("refused with %s: the execution fails with %s (%q), want %s", tt.refused, out.Name(), out.Cause(), tt.want)
			}
		})
	}
}

// A console start's input is read as strictly as POST /tasks reads its
// body, and every refusal names its field; nothing is kept.
func TestAConsoleStartsInputIsReadStrictly(t *testing.T) {
	id := NewTaskID()
	tests := []struct {
		name, input, field string // field "": accepted
	}{
		{"a task", `{"userId": "alice", "task": {"command": "make"}}`, ""},
		{"the execution's own id", `{"taskId": "` + id + `", "userId": "alice", "task": {"command": "make"}}`, ""},
		{"the step POST /tasks starts an execution with", `{"taskId": "` + id + `", "userId": "alice", "ended": false, "task": {"command": "make"}}`, ""},
		{"another task's id", `{"taskId": "` + NewTaskID() + `", "userId": "alice", "task": {"command": "make"}}`, "taskId"},
		{"a task's field in another case", `{"userId": "alice", "task": {"Command": "make"}}`, "task.Command"},
		{"a sandbox's field in another case", `{"userId": "alice", "task": {"command": "make", "sandbox": {"Image": "x"}}}`, "task.sandbox.Image"},
		{"the user in another case", `{"userid": "alice", "task": {"command": "make"}}`, "userid"},
		{"an unknown field beside the task", `{"userId": "alice", "task": {"command": "make"}, "timeout": 60}`, "timeout"},
		{"the user twice", `{"userId": "alice", "userId": "bob", "task": {"command": "make"}}`, "userId"},
		{"a task's field twice", `{"userId": "alice", "task": {"command": "make", "command": "rm -rf ~"}}`, "task.command"},
		{"a value of another type", `{"userId": "alice", "task": {"command": "make", "timeoutSeconds": "60"}}`, "task.timeoutSeconds"},
		{"a task that is not an object", `{"userId": "alice", "task": "make"}`, "task"},
		{"input that is not an object", `"make"`, "input"},
		{"a second document after it", `{"userId": "alice", "task": {"command": "make"}} {"userId": "bob"}`, "input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newNoticeHarness(t, nil, nil)
			ctx := context.Background()
			step, err := h.svc.PrepareTask(ctx, id, []byte(tt.input))
			if tt.field == "" {
				if err != nil || step.TaskID != id {
					t.Fatalf("PrepareTask = %+v, %v", step, err)
				}
				return
			}
			if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != tt.field {
				t.Errorf("PrepareTask = %v (field %q), want invalid_input naming %q", err, sandstep.ErrorField(err), tt.field)
			}
			if list, err := h.svc.ListTasks(ctx, alice(), TaskListInput{Status: "all"}); err != nil || len(list.Items) != 0 {
				t.Errorf("tasks %v (%v), want none", list, err)
			}
		})
	}
}
