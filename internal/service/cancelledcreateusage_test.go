package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// A task cancelled while its create's attempt sets up a sandbox: Daytona
// made that sandbox and billed it until the attempt deleted it (README,
// "Task cost": sandboxSeconds from Daytona's create of the sandbox to its
// delete, a failed attempt's sandbox too). The cancelled task's usage is
// final; it must hold that sandbox's life.
func TestCancelledTaskCountsTheAttemptsSandbox(t *testing.T) {
	tests := []struct {
		name string
		took time.Duration
		want float64
	}{
		{"cancelled two minutes into the clone", 2 * time.Minute, 120},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5, IdempotencyTTL: time.Hour, Now: clk.Now})
			p := &slowFailingClone{fakeProvider: newFakeProvider(), clk: clk, took: tt.took}
			svc := taskServiceOn(t, clk, st, p)
			ctx := context.Background()
			tk := cloneTask(t, svc)
			p.during = func() {
				if _, err := svc.CancelTask(ctx, alice(), tk.ID); err != nil {
					t.Errorf("cancel: %v", err)
				}
			}
			if _, err := svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: "alice"}); err == nil {
				t.Fatal("the attempt made the cancelled task's sandbox")
			}
			if p.creates != 1 {
				t.Fatalf("Daytona made %d sandboxes, want 1", p.creates)
			}
			shown, err := svc.GetTask(ctx, alice(), tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if shown.Status != sandstep.TaskCancelled {
				t.Fatalf("task is %s, want cancelled", shown.Status)
			}
			if shown.Usage == nil || shown.Usage.SandboxSeconds != tt.want {
				t.Errorf("the cancelled task's usage %+v; want %v sandbox seconds (the attempt's sandbox, made and deleted)", shown.Usage, tt.want)
			}
		})
	}
}
