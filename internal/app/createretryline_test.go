package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/testutil"
)

// TestCreateRetryLineNamesNoDeadSandbox: a task-sandbox step asked
// again after the sandbox it recorded is no longer ready makes a new
// sandbox. Its lines are about the new one: the record's old sandbox,
// which loadTask learned, must not be named on them (an operator
// following sandboxId lands on a dead sandbox that did not fail).
func TestCreateRetryLineNamesNoDeadSandbox(t *testing.T) {
	s := newTaskStack(t, &testutil.Recorder{}, testutil.DynamoDBLatency(0, 0), testutil.DaytonaLatency(testutil.DaytonaDelays{}), testutil.AWSLatency(0))
	tests := []struct {
		name  string
		state sandstep.State
		fault daytonalocal.Match
	}{
		{"old sandbox failed, the new create refused", sandstep.StateFailed, daytonalocal.Match{Operation: "createSandbox"}},
		{"old sandbox deleted, the new create refused", sandstep.StateDeleted, daytonalocal.Match{Operation: "createSandbox"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, resp := s.call(t, "alice", "POST /tasks", "/tasks", map[string]any{"command": "sleep 600"})
			if status != 202 {
				t.Fatalf("POST /tasks: %d %v", status, resp)
			}
			id := resp["id"].(string)
			s.step(t, api.FunctionCreate, api.ActionTaskPrepare, map[string]any{"taskId": id, "input": map[string]any{"userId": "alice"}})
			st := s.step(t, api.FunctionCreate, api.ActionTaskSandbox, service.TaskStep{TaskID: id, UserID: "alice"})
			old := st.SandboxID
			if _, err := s.store.TransitionSandbox(context.Background(), old, []sandstep.State{sandstep.StateReady}, tt.state, func(*sandstep.Sandbox) {}); err != nil {
				t.Fatal(err)
			}
			fault, err := s.daytona.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 500, Match: tt.fault})
			if err != nil {
				t.Fatal(err)
			}
			defer s.daytona.RemoveFault(fault)
			payload := `{"action":"task-sandbox","taskId":"` + id + `","userId":"alice"}`
			if _, err := s.api.HandlerFunc(api.FunctionCreate)(context.Background(), []byte(payload)); err == nil {
				t.Fatal("the step succeeded; want it failed by Daytona's 500")
			}
			n := 0
			for l := range strings.SplitSeq(s.logs.String(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) != nil || m["taskId"] != id {
					continue
				}
				n++
				if m["sandboxId"] == old {
					t.Errorf("a line of the retried create names the old sandbox %s: %s", old, l)
				}
			}
			if n == 0 {
				t.Fatalf("no line of task %s in:\n%s", id, s.logs.String())
			}
		})
	}
}
