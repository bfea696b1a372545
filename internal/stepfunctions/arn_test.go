package stepfunctions

import "testing"

func TestExecutionARN(t *testing.T) {
	tests := []struct {
		name, machine, want string
	}{
		{"machine", "arn:aws:states:us-east-1:123456789012:stateMachine:tasks", "arn:aws:states:us-east-1:123456789012:execution:tasks:tsk_1"},
		{"alias", "arn:aws:states:us-east-1:123456789012:stateMachine:tasks:live", "arn:aws:states:us-east-1:123456789012:execution:tasks:tsk_1"},
		{"version", "arn:aws-cn:states:cn-north-1:123456789012:stateMachine:tasks:7", "arn:aws-cn:states:cn-north-1:123456789012:execution:tasks:tsk_1"},
		{"not a machine", "arn:aws:states:us-east-1:123456789012:activity:tasks", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := executionARN(tt.machine, "tsk_1"); got != tt.want {
				t.Errorf("executionARN(%q) = %q, want %q", tt.machine, got, tt.want)
			}
		})
	}
}
