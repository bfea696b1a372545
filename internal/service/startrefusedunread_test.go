package service

import (
	"context"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The state machine asked the start again while the first invocation still
// ran (its answer is no longer awaited). The first marks the task running;
// the retry's write is refused for it, and the read that would tell why
// fails. Unread, the task may be running fine: the retry's answer must be
// one the state machine asks again (Sandbox.Transient), whose next try
// finds the task running. Answered Sandbox.Conflict it is caught, and the
// clean-up fails the task and kills its healthy command.
func TestStartRefusedUnreadIsAskedAgain(t *testing.T) {
	sess := &overlappingStart{}
	svc, st, _ := newStepService(t, newFakeProvider(), sess, func(st Tasks) Tasks { return &runningWriteFails{Tasks: st, ownAnswers: true, failRead: true} })
	ctx := context.Background()
	tk, step := taskWithSandbox(t, svc, TaskInput{Command: "make"})
	// The first invocation, no longer awaited, runs whole inside the
	// awaited retry's StartCommand: it marks the task running first.
	var firstErr error
	sess.during = func() { _, firstErr = svc.StartTaskCommand(ctx, *step) }
	_, err := svc.StartTaskCommand(ctx, *step)
	if firstErr != nil {
		t.Fatalf("the first invocation: %v", firstErr)
	}
	// As task.asl.json's StartCommand does: Sandbox.Transient is asked
	// again; anything else is caught into CleanUpAfterFailure.
	for attempt := 0; err != nil; attempt++ {
		if sandstep.ErrorCode(err) != sandstep.ETRANSIENT || attempt == 6 {
			code := string(sandstep.ErrorCode(err))
			_, _ = svc.CleanUpTaskStep(ctx, tk.ID, &TaskFailure{Error: "Sandbox." + strings.ToUpper(code[:1]) + code[1:], Cause: err.Error()})
			break
		}
		_, err = svc.StartTaskCommand(ctx, *step)
	}
	rec, gerr := st.GetTask(ctx, tk.ID)
	if gerr != nil || rec.Status != sandstep.TaskRunning {
		t.Errorf("task = %s (%s), %v; want running: the start answered %v", rec.Status, rec.Error, gerr, err)
	}
	if n := sess.stopCount(); n != 0 {
		t.Errorf("the task's command was killed (%d stops)", n)
	}
}
