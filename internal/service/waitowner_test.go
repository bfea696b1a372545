package service

import (
	"context"
	"slices"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// TestWaitStepOfAnotherUser: a task-wait step naming a user who does
// not own the task is refused (README: a step acts for the task's owner
// only), and refused before it changes the task: the owner's wait keeps
// its token, so the command's nudge still ends it.
func TestWaitStepOfAnotherUser(t *testing.T) {
	m := &wakeCounter{}
	svc, st, _, tk, step := startedTask(t, m, fakeSessions{})
	ctx := context.Background()
	const secret = "s3cret"
	nudgesWith(t, st, tk.ID, secret)
	if err := svc.WaitTask(ctx, *step, "owners-wait"); err != nil {
		t.Fatal(err)
	}
	other := *step
	other.UserID = "mallory"
	err := svc.WaitTask(ctx, other, "strangers-wait")
	if sandstep.ErrorCode(err) != sandstep.ENOTFOUND {
		t.Fatalf("another user's wait: %v, want not_found", err)
	}
	got, err := st.GetTask(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.WaitToken != "owners-wait" {
		t.Errorf("the refused step replaced the owner's wait token with %q", got.WaitToken)
	}
	if err := svc.NudgeTask(ctx, tk.ID, secret); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.wakes, []string{"owners-wait"}) {
		t.Errorf("the nudge ended the waits %v, want the owner's", m.wakes)
	}
}
