package local

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// A task's stateTransitions are the states its execution entered (README,
// "Task cost"), on the usual path of each way a command ends: it exits 0,
// exits non-zero, or is killed at its deadline (the Check ends the task,
// then Collect and CleanUp run). Counted from the execution's history.
func TestTransitionsMatchHistory(t *testing.T) {
	tests := []struct {
		name   string
		spec   map[string]any
		status string
	}{
		{"exits 0", map[string]any{"command": "echo ok"}, "succeeded"},
		{"exits 3", map[string]any{"command": "exit 3"}, "failed"},
		{"killed at its deadline", map[string]any{"command": "sleep 60", "timeoutSeconds": 2}, "timed_out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startStack(t, nil)
			tk := s.startTask("alice", tt.spec)
			if done := s.waitTask("alice", tk.ID, time.Minute); done.Status != tt.status {
				t.Fatalf("task ended %s (%q), want %s", done.Status, done.Error, tt.status)
			}
			s.waitExecution(tk.ID, 30*time.Second)
			entered := 0
			var path []string
			for _, e := range s.history(tk.ID) {
				if strings.HasSuffix(e.Type, "StateEntered") {
					entered++
					path = append(path, e.Entered.Name)
				}
			}
			var got struct {
				Usage *struct {
					StateTransitions int `json:"stateTransitions"`
				} `json:"usage"`
			}
			res := s.as("alice", http.MethodGet, "/tasks/"+tk.ID, nil)
			res.decode(t, &got)
			if got.Usage == nil {
				t.Fatalf("task shows no usage: %s", res.body)
			}
			if got.Usage.StateTransitions != entered {
				t.Errorf("task shows %d state transitions; its execution entered %d states: %v", got.Usage.StateTransitions, entered, path)
			}
		})
	}
}
