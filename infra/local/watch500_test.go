package local

import (
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytonalocal"
)

// A task's watch looks at its command again and again, and its steps are
// safe to ask again (docs/architecture.md): one Daytona 500 answering one
// of its reads, or the kill at the deadline (a session's delete), costs a
// retry, not the task. Otherwise a command running on unharmed is killed
// and its task failed ("Sandbox.Internal: internal error"), and one past
// its deadline ends failed, not timed_out.
func TestOneDaytona500CostsARetryNotTheTask(t *testing.T) {
	tests := []struct {
		name, operation string
		task            map[string]any
		status, stdout  string // the task's end, and what its output holds
	}{
		{"the command's status", "GetSessionCommand", map[string]any{"command": "echo start; sleep 8; echo end"}, "succeeded", "end"},
		{"the command's output", "GetSessionCommandLogs", map[string]any{"command": "echo start; sleep 8; echo end"}, "succeeded", "end"},
		{"the kill at the deadline", "DeleteSession", map[string]any{"command": "echo start; sleep 30", "timeoutSeconds": 2}, "timed_out", "start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startStack(t, nil, fastRetries)
			tk := s.startTask("alice", tt.task)
			if tt.status == "succeeded" {
				s.waitRunning("alice", tk.ID)
			}
			if _, err := s.daytona.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 500, Message: "internal server error",
				Match: daytonalocal.Match{Operation: tt.operation}, Times: 1}); err != nil {
				t.Fatal(err)
			}
			done := s.waitTask("alice", tk.ID, time.Minute)
			if done.Status != tt.status {
				t.Errorf("one 500 on %s: task ended %s %q, want %s", tt.operation, done.Status, done.Error, tt.status)
			}
			if tt.status == "succeeded" && (done.ExitCode == nil || *done.ExitCode != 0) {
				t.Errorf("one 500 on %s: exit code %v, want 0", tt.operation, done.ExitCode)
			}
			if stdout, _, _ := s.readLogs("alice", tk.ID); !strings.Contains(stdout, tt.stdout) {
				t.Errorf("stdout %q, want it to hold %q", stdout, tt.stdout)
			}
			s.waitNothingLeft("alice")
		})
	}
}
