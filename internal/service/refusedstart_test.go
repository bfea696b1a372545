package service

import (
	"context"
	"errors"
	"testing"
)

// A console start refused before its task existed fails its execution
// with the refusal's Sandbox.* name, but Task.Failed for one the state
// machine would take for a passing failure of the clean-up and ask again.
func TestARefusedStartsOutcome(t *testing.T) {
	tests := []struct {
		name, refused, want string
	}{
		{"bad input", "Sandbox.InvalidInput", "Sandbox.InvalidInput"},
		{"an internal error", "Sandbox.Internal", "Sandbox.Internal"},
		{"a timeout", "Sandbox.Timeout", "Sandbox.Timeout"},
		{"a transient error through every retry", "Sandbox.Transient", "Task.Failed"},
		{"the Lambda service's error through every retry", "Lambda.ServiceException", "Task.Failed"},
		{"the state's own time ran out", "States.Timeout", "Task.Failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newNoticeHarness(t, nil, nil)
			_, err := h.svc.CleanUpTask(context.Background(), NewTaskID(), &TaskFailure{Error: tt.refused, Cause: `{"errorMessage":"boom"}`})
			var out *OutcomeError
			if !errors.As(err, &out) {
				t.Fatalf("CleanUpTask = %v, want an outcome", err)
			}
			if out.Name() != tt.want || out.Cause() == "" {
				t.Errorf("refused with %s: the execution fails with %s (%q), want %s", tt.refused, out.Name(), out.Cause(), tt.want)
			}
		})
	}
}
