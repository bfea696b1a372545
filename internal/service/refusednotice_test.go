package service

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A task's notice has usage and cost as GET /tasks/{id} shows them,
// "absent when the task never got as far as its first step" (README,
// "Completion notices"): a task whose execution was refused ran none.
// One whose start may have landed may have run its Prepare, and shows it.
func TestRefusedTaskNoticeHasNoUsage(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		shown bool // usage and cost in the notice and GET
	}{
		{"refused", sandstep.Errorf(sandstep.EINTERNAL, "states: access denied to StartExecution"), false},
		{"outcome unknown", sandstep.Errorf(sandstep.ETRANSIENT, "states: no answer"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newHook(t, 204)
			h := newNoticeHarness(t, localSender(), nil)
			h.svc.machine = startAnswers{err: tt.err}
			ctx := context.Background()
			if _, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "make", Notify: &NotifyInput{URL: rc.URL + "/hook"}}); err == nil {
				t.Fatal("StartTask succeeded; want the start's failure")
			}
			h.advance(time.Hour)
			h.reap(t)
			reqs := rc.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d notices, want 1", len(reqs))
			}
			var body struct {
				TaskID string          `json:"taskId"`
				Usage  json.RawMessage `json:"usage"`
				Cost   json.RawMessage `json:"cost"`
			}
			if err := json.Unmarshal(reqs[0].body, &body); err != nil {
				t.Fatal(err)
			}
			if (body.Usage != nil) != tt.shown || (body.Cost != nil) != tt.shown {
				t.Errorf("notice has usage %s, cost %s; want them shown: %v", body.Usage, body.Cost, tt.shown)
			}
			got, err := h.svc.GetTask(ctx, alice(), body.TaskID)
			if err != nil {
				t.Fatal(err)
			}
			if (got.Usage != nil) != tt.shown || (got.Cost != nil) != tt.shown {
				t.Errorf("GET shows usage %+v, cost %+v; want them shown: %v", got.Usage, got.Cost, tt.shown)
			}
		})
	}
}
