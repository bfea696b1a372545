package app

import (
	"strconv"
	"testing"

	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/testutil"
)

// A task's stateTransitions are the states its execution entered (README,
// "Task cost"): Prepare, CreateSandbox, StartCommand, then a Wait, and a
// Check and the Ended? choice after each wait that ended, then Collect and
// CleanUp. A task cancelled while it waits has had no check after its
// last wait: the execution is stopped in the Wait state.
func TestTransitionsAreTheStatesEntered(t *testing.T) {
	tests := []struct {
		name    string
		command string
		// rounds of Wait then Check before a last Wait, in which the
		// task is cancelled; not cancelled: as many as the command takes.
		rounds    int
		cancelled bool
	}{
		{"cancelled in its first wait", "sleep 30", 0, true},
		{"cancelled in its second wait", "sleep 30", 1, true},
		{"ended after its checks", "true", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTaskStack(t, &testutil.Recorder{}, testutil.DynamoDBLatency(0, 0), testutil.DaytonaLatency(testutil.DaytonaDelays{}), testutil.AWSLatency(0))
			id, st := s.startedTask(t, tt.command)
			entered := 3 // Prepare, CreateSandbox, StartCommand
			wait := func() {
				s.step(t, api.FunctionStatus, api.ActionTaskWait, map[string]any{"taskId": st.TaskID, "userId": st.UserID, "token": "tok-" + strconv.Itoa(entered)})
				entered++
			}
			check := func() service.TaskStep {
				entered += 2 // Check, Ended?
				return s.step(t, api.FunctionStatus, api.ActionTaskCheck, service.TaskStep{TaskID: st.TaskID, UserID: st.UserID})
			}
			if tt.cancelled {
				for range tt.rounds {
					wait()
					if check().Ended {
						t.Fatal("the command ended; want it running")
					}
				}
				wait()
				if status, resp := s.call(t, "alice", "DELETE /tasks/{id}", "/tasks/"+id, nil); status != 200 {
					t.Fatalf("DELETE: %d %v", status, resp)
				}
			} else {
				for checks := 1; ; checks++ {
					wait()
					if check().Ended {
						break
					}
					if checks == 50 {
						t.Fatal("the command did not end after 50 checks")
					}
				}
				s.step(t, api.FunctionExecute, api.ActionTaskCollect, st)
				s.step(t, api.FunctionDelete, api.ActionTaskCleanUp, map[string]any{"taskId": id})
				entered += 2 // Collect, CleanUp
			}
			status, resp := s.call(t, "alice", "GET /tasks/{id}", "/tasks/"+id, nil)
			if status != 200 {
				t.Fatalf("GET: %d %v", status, resp)
			}
			usage, _ := resp["usage"].(map[string]any)
			if got, _ := usage["stateTransitions"].(float64); int(got) != entered {
				t.Errorf("task %s shows %v state transitions; its execution entered %d states", resp["status"], usage["stateTransitions"], entered)
			}
		})
	}
}
