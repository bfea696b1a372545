package service

import (
	"context"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
)

// startAnswers is a state machine whose every start fails with err.
type startAnswers struct {
	fakeMachine
	err error
}

func (m startAnswers) Start(context.Context, string, []byte) (string, error) { return "", m.err }

// A task is accepted with its Prepare counted in advance (one invocation,
// one state, one read). When its execution was refused, no Prepare ran:
// README, "Task cost", counts the states of its execution and its steps'
// invocations, and there were none, so it shows no usage ("Completion
// notices": absent when the task never got as far as its first step). A
// start whose outcome is unknown may have landed, and its Prepare stays
// counted.
func TestUnstartedTaskShowsNoPrepare(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		transitions int
	}{
		{"refused", sandstep.Errorf(sandstep.EINTERNAL, "states: access denied to StartExecution"), 0},
		{"outcome unknown", sandstep.Errorf(sandstep.ETRANSIENT, "states: no answer"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			svc, st, _ := newTaskService(t, newFakeProvider(), func(_ *store.Store, d *Deps) { d.Machine = startAnswers{err: tt.err} })
			if _, err := svc.StartTask(ctx, alice(), TaskInput{Command: "make"}); err == nil {
				t.Fatal("StartTask succeeded; want the start's failure")
			}
			list, _, err := st.ListTasks(ctx, "alice", 10, "")
			if err != nil || len(list) != 1 || list[0].Status != sandstep.TaskFailed {
				t.Fatalf("tasks %+v, %v; want the one failed task", list, err)
			}
			shown, err := svc.GetTask(ctx, alice(), list[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			u := shown.Usage
			if tt.transitions == 0 {
				if u != nil || shown.Cost != nil {
					t.Errorf("usage %+v, cost %+v; want neither shown", u, shown.Cost)
				}
				return
			}
			if u == nil || shown.Cost == nil {
				t.Fatalf("usage %+v, cost %+v; want both shown", u, shown.Cost)
			}
			if u.StateTransitions != tt.transitions || u.LambdaInvocations != tt.transitions || u.DynamoDBReadRequests != tt.transitions {
				t.Errorf("transitions %d, invocations %d, reads %d (cost %s); want %d of each",
					u.StateTransitions, u.LambdaInvocations, u.DynamoDBReadRequests, shown.Cost.USD, tt.transitions)
			}
		})
	}
}
