package api

import (
	"context"
	"encoding/json"
	"testing"
)

// TestServedLineNamesWhatItMade: the one line of a served request
// carries the id of the sandbox or task its answer made (README: logs
// carry requestId, userId, sandboxId and taskId), as a created sandbox's
// already does: the request that accepted a task, or ran an
// agent-execute in a sandbox since deleted, is then found by that id.
func TestServedLineNamesWhatItMade(t *testing.T) {
	tests := []struct {
		name     string
		function string
		payload  func(t *testing.T) []byte
		key      string
		want     string
	}{
		{"POST /sandboxes", FunctionCreate, apiPayload(RouteCreateSandbox), "sandboxId", "sbx_created"},
		{"POST /tasks", FunctionCreate, apiPayload(RouteStartTask), "taskId", "tsk_started"},
		{"POST /api/agent/execute", FunctionExecute, apiPayload(RouteAgentExecute), "sandboxId", "sbx_agent"},
		{"a GitHub delivery that starts a task", FunctionGitHub, apiPayload(RouteGitHubWebhook), "taskId", "tsk_started"},
		{"direct create", FunctionCreate, direct(`{"action":"create","userId":"u"}`), "sandboxId", "sbx_created"},
		{"direct agent-execute", FunctionExecute, direct(`{"action":"agent-execute","userId":"u","command":"ls"}`), "sandboxId", "sbx_agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, logs := newTestAPI(&fakeService{}, Options{})
			if _, err := a.HandlerFunc(tt.function)(context.Background(), tt.payload(t)); err != nil {
				t.Fatal(err)
			}
			var served map[string]any
			for _, rec := range logs.records(t) {
				if m := rec["message"]; m == "request served" || m == "invocation served" {
					served = rec
				}
			}
			if served == nil {
				t.Fatalf("no served line in %v", logs.records(t))
			}
			if served[tt.key] != tt.want {
				t.Errorf("served line %v; want %s %s", served, tt.key, tt.want)
			}
		})
	}
}

func apiPayload(routeKey string) func(t *testing.T) []byte {
	return func(t *testing.T) []byte {
		b, err := json.Marshal(apiEvent(routeKey))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

func direct(payload string) func(t *testing.T) []byte {
	return func(*testing.T) []byte { return []byte(payload) }
}
