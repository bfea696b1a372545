package local

import (
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytonalocal"
)

// A command that runs past timeoutSeconds is killed and its task ends
// timed_out (README, "Long tasks"). The kill is a session's delete, safe
// to ask again; one Daytona 500 answering it should cost a retry of the
// Check, not turn the outcome into failed ("Sandbox.Internal: internal
// error"), as it did.
func TestHuntDeadlineKillSurvivesOneDaytona500(t *testing.T) {
	tests := []struct {
		name, operation string
	}{
		{"the kill at the deadline", "DeleteSession"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startStack(t, nil, fastRetries)
			if _, err := s.daytona.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 500, Message: "internal server error",
				Match: daytonalocal.Match{Operation: tt.operation}, Times: 1}); err != nil {
				t.Fatal(err)
			}
			tk := s.startTask("alice", map[string]any{"command": "echo start; sleep 30", "timeoutSeconds": 2})
			done := s.waitTask("alice", tk.ID, time.Minute)
			if done.Status != "timed_out" {
				t.Errorf("one 500 on %s: task ended %s %q, want timed_out", tt.operation, done.Status, done.Error)
			}
			s.waitNothingLeft("alice")
		})
	}
}
