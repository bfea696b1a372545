package local

import (
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytonalocal"
)

// A task runs its command for as long as it needs (README, "Long tasks");
// its watch looks at it again and again, and Check is safe to run again
// (docs/architecture.md). One Daytona 500 answering one of the watch's
// reads, while the command runs on unharmed, should cost a retry, not the
// task: here it failed the task ("Sandbox.Internal: internal error"), its
// command killed and its sandbox deleted half-way.
func TestHuntCheckSurvivesOneDaytona500(t *testing.T) {
	tests := []struct {
		name, operation string
	}{
		{"the command's status", "GetSessionCommand"},
		{"the command's output", "GetSessionCommandLogs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startStack(t, nil, fastRetries)
			tk := s.startTask("alice", map[string]any{"command": "echo start; sleep 8; echo end"})
			s.waitRunning("alice", tk.ID)
			if _, err := s.daytona.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 500, Message: "internal server error",
				Match: daytonalocal.Match{Operation: tt.operation}, Times: 1}); err != nil {
				t.Fatal(err)
			}
			done := s.waitTask("alice", tk.ID, time.Minute)
			if done.Status != "succeeded" || done.ExitCode == nil || *done.ExitCode != 0 {
				t.Errorf("one 500 on %s: task ended %s %q, want succeeded with exit 0", tt.operation, done.Status, done.Error)
			}
			if stdout, _, _ := s.readLogs("alice", tk.ID); !strings.Contains(stdout, "end") {
				t.Errorf("stdout %q: the command did not run to its end", stdout)
			}
			s.waitNothingLeft("alice")
		})
	}
}
