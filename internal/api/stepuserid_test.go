package api

import (
	"context"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// TestStepLinesCarryUserID: a state machine step's input names the
// task's owner (userId, checked by the service against the task), so its
// log lines carry userId beside taskId, as README's "Logs are JSON lines
// with requestId, userId, sandboxId (and taskId)" promises: an operator
// who filters one user's lines must find their tasks' failed steps too.
func TestStepLinesCarryUserID(t *testing.T) {
	const step = `"taskId":"tsk_one","userId":"user-1"`
	tests := []struct {
		name, function, payload string
	}{
		{"sandbox", FunctionCreate, `{"action":"task-sandbox",` + step + `}`},
		{"start", FunctionExecute, `{"action":"task-start",` + step + `}`},
		{"wait", FunctionStatus, `{"action":"task-wait",` + step + `,"token":"tok"}`},
		{"check", FunctionStatus, `{"action":"task-check",` + step + `}`},
		{"collect", FunctionExecute, `{"action":"task-collect",` + step + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{err: sandstep.Errorf(sandstep.ETRANSIENT, "daytona: 502 Bad Gateway")}
			a, logs := newTestAPI(svc, Options{})
			if _, err := a.HandlerFunc(tt.function)(context.Background(), []byte(tt.payload)); err == nil {
				t.Fatal("want the step's failure")
			}
			recs := logs.records(t)
			if len(recs) == 0 {
				t.Fatal("no log line for the failed step")
			}
			for _, rec := range recs {
				if rec["taskId"] != "tsk_one" || rec["userId"] != "user-1" {
					t.Errorf("the step's line %v; want taskId tsk_one and userId user-1", rec)
				}
			}
		})
	}
}
