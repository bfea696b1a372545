package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/testutil"
)

// A task's check reads what the command wrote with one synchronous exec,
// both streams at once when they have little new: the exit code's look and
// one session, four Daytona calls. A read run asynchronously costs three
// calls more and a poll's pause, and a read per stream three more.
func TestTaskCheckReadsOutputSynchronously(t *testing.T) {
	rec := &testutil.Recorder{}
	s := newTaskStack(t, rec, testutil.DynamoDBLatency(0, 0), testutil.DaytonaLatency(testutil.DaytonaDelays{}), testutil.AWSLatency(0))
	_, st := s.startedTask(t, "echo out; echo err >&2")
	for checks := 1; ; checks++ {
		rec.Take()
		st = s.step(t, api.FunctionStatus, api.ActionTaskCheck, st)
		ops := map[string]int{}
		for _, c := range rec.Take() {
			if c.Service == testutil.Daytona {
				ops[c.Op]++
			}
		}
		if n := ops["toolbox GET /process/session/{id}/command/{id}"]; n > 1 {
			t.Errorf("check %d polled a command %d times, want one look at the task's: %v", checks, n, ops)
		}
		for op := range ops {
			if strings.HasSuffix(op, "/logs") {
				t.Errorf("check %d read a command's logs (%s): an output read ran asynchronously: %v", checks, op, ops)
			}
		}
		if n := ops["toolbox POST /process/session/{id}/exec"]; n != 1 {
			t.Errorf("check %d ran %d execs, want one read of both streams: %v", checks, n, ops)
		}
		if st.Ended {
			break
		}
		if checks == 50 {
			t.Fatal("the task's command did not end after 50 checks")
		}
	}
}

// startedTask posts a task running command as alice and takes it, as the
// state machine does, through its preparation, its sandbox and its
// command's start; it answers the task's id and the step the start returned.
func (s *stack) startedTask(t testing.TB, command string) (string, service.TaskStep) {
	t.Helper()
	status, resp := s.call(t, "alice", "POST /tasks", "/tasks", map[string]any{"command": command})
	if status != 202 {
		t.Fatalf("POST /tasks: %d %v", status, resp)
	}
	id := resp["id"].(string)
	s.step(t, api.FunctionCreate, api.ActionTaskPrepare, map[string]any{"taskId": id, "input": map[string]any{"userId": "alice"}})
	st := s.step(t, api.FunctionCreate, api.ActionTaskSandbox, service.TaskStep{TaskID: id, UserID: "alice"})
	return id, s.step(t, api.FunctionExecute, api.ActionTaskStart, st)
}

// step calls function with action and in, as the state machine does, and
// answers the task step it returned.
func (s *stack) step(t testing.TB, function, action string, in any) service.TaskStep {
	t.Helper()
	payload, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	payload = append([]byte(`{"action":"`+action+`",`), payload[1:]...)
	out, err := s.api.HandlerFunc(function)(context.Background(), payload)
	if err != nil {
		t.Fatalf("%s: %v", action, err)
	}
	raw, _ := json.Marshal(out)
	var st service.TaskStep
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("%s answered %s: %v", action, raw, err)
	}
	return st
}
