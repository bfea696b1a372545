package service

import (
	"context"
	"testing"
)

// recordingMachine keeps the input each execution is started with, as Step
// Functions hands it to the Prepare state ("input.$": "$").
type recordingMachine struct {
	fakeMachine
	inputs map[string][]byte
}

func (m *recordingMachine) Start(_ context.Context, name string, input []byte) (string, error) {
	m.inputs[name] = append([]byte(nil), input...)
	return "arn:exec:" + name, nil
}

// An execution POST /tasks starts (StartTask) must pass its own Prepare
// step: PrepareTask is given exactly the input StartTask started it with.
func TestPrepareAcceptsTheInputStartTaskSends(t *testing.T) {
	tests := []struct {
		name string
		in   TaskInput
	}{
		{"a plain task", TaskInput{Command: "make"}},
		{"a task with a timeout", TaskInput{Command: "make", TimeoutSeconds: intp(60)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &recordingMachine{inputs: map[string][]byte{}}
			h := newNoticeHarness(t, nil, nil)
			h.svc.machine = m
			ctx := context.Background()
			tk, err := h.svc.StartTask(ctx, alice(), tt.in)
			if err != nil {
				t.Fatalf("StartTask: %v", err)
			}
			input := m.inputs[tk.ID]
			step, err := h.svc.PrepareTask(ctx, tk.ID, input)
			if err != nil || step.TaskID != tk.ID {
				t.Fatalf("PrepareTask(%s, %s) = %+v, %v; want the task's step", tk.ID, input, step, err)
			}
		})
	}
}
