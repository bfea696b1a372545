package local

import (
	"path/filepath"
	"testing"
	"time"
)

// previousASL is the task state machine's definition as the deploy before
// this one had it (infra/statemachine/testdata/previous). Executions that
// started on it keep running it after a deploy, against the functions'
// versions of their own deploy; their next steps' inputs must still be
// understood one revision on, when the previous machine version and the
// current functions meet (a task started before a deploy and stopped or
// swept after it is cleaned up by the current delete function).
const previousASL = "../statemachine/testdata/previous/task.asl.json"

// TestPreviousDefinitionRunsOnCurrentFunctions runs the previous
// revision's ASL against the current functions: a task to success, and a
// failing one through its clean-up, nothing left behind either way.
func TestPreviousDefinitionRunsOnCurrentFunctions(t *testing.T) {
	prev, err := filepath.Abs(previousASL)
	if err != nil {
		t.Fatal(err)
	}
	s := startStack(t, nil, func(o *Options) {
		o.DefinitionOverrides = map[string]string{"TaskStateMachine": prev}
	})
	tests := []struct {
		name, command, status, exec, execError string
		exit                                   int
	}{
		{"succeeds", "echo ok", "succeeded", "SUCCEEDED", "", 0},
		{"fails and is cleaned up", "echo failing >&2; exit 3", "failed", "FAILED", "Task.Failed", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := s.startTask("alice", map[string]any{"command": tt.command})
			done := s.waitTask("alice", tk.ID, time.Minute)
			if done.Status != tt.status || done.ExitCode == nil || *done.ExitCode != tt.exit {
				t.Fatalf("task ended %+v, want %s with exit %d", done, tt.status, tt.exit)
			}
			if st := s.waitExecution(tk.ID, 30*time.Second); st != tt.exec {
				t.Errorf("execution %s, want %s", st, tt.exec)
			}
			if _, errName, _ := s.describe(tk.ID); errName != tt.execError {
				t.Errorf("execution error %q, want %q", errName, tt.execError)
			}
			s.assertNothingLeft("alice")
		})
	}
}
