package service

import (
	"context"
	"errors"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A task's sandbox step names a field of the task's own document
// ("sandbox.<field>", as it does for what validateCreate refuses); the
// fields the Daytona provider now names for a refused snapshot or an image
// that failed to build (daytonaprovider.classify) must reach the task's
// failure the same way, not as "snapshot"/"image", which a task has not.
func TestTaskSandboxStepNamesProviderFieldsInTheTask(t *testing.T) {
	tests := []struct {
		name    string
		sandbox CreateSandboxInput
		refused error // what daytonaprovider.classify returns
		want    string
	}{
		{"a snapshot Daytona refuses", CreateSandboxInput{Snapshot: "no-such-snap"},
			&sandstep.Error{Code: sandstep.EINVALID, Field: "snapshot", Message: "create sandbox: Daytona refused the request: Snapshot no-such-snap not found", Err: errors.New("400")},
			"sandbox.snapshot"},
		{"an image that failed to build", CreateSandboxInput{Image: "no-such/image:1"},
			&sandstep.Error{Code: sandstep.EINVALID, Field: "image", Message: "failed to build: failed to pull image", Err: errors.New("build_failed")},
			"sandbox.image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newNoticeHarness(t, nil, nil)
			ctx := context.Background()
			tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "make", Sandbox: tt.sandbox})
			if err != nil {
				t.Fatalf("StartTask: %v", err)
			}
			h.provider.fail = map[string]error{"create": tt.refused}
			_, err = h.svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: "alice"})
			if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != tt.want {
				t.Errorf("CreateTaskSandbox = %v (field %q), want invalid_input naming %q", err, sandstep.ErrorField(err), tt.want)
			}
		})
	}
}
