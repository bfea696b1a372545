package store_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
)

// A CreateSandbox attempt's claim whose write landed and whose answer was
// lost (the client sends it again, and the repeat's condition is refused
// by the claim itself) is the attempt's own: refused, the attempt answers
// Sandbox.Transient without making the sandbox, and its claim, which no
// one lets go, refuses every later attempt until its invocation's
// deadline (the create function's 300 s) has passed.
func TestReviewClaimTaskCreateWhoseAnswerWasLost(t *testing.T) {
	tests := []struct {
		name string
		seen string // the task's recorded sandbox when the attempt read it
	}{
		{name: "no sandbox recorded"},
		{name: "a sandbox recorded", seen: "sbx_1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			var armed atomic.Bool
			var lost atomic.Int32
			st, _ := storeBehind(t, loseFirstAnswerOnceArmed("createClaim", ".UpdateItem", &armed, &lost), store.Options{Now: clk.Now})
			c := ctx(t)
			if err := st.PutTask(c, &sandstep.Task{ID: "tsk_a", Owner: "alice", Status: sandstep.TaskQueued, TimeoutSeconds: 60, SandboxID: tt.seen}); err != nil {
				t.Fatal(err)
			}
			armed.Store(true)
			until := clk.Now().Add(5 * time.Minute)
			err := st.ClaimTaskCreate(c, "tsk_a", tt.seen, until)
			if lost.Load() == 0 {
				t.Fatal("no answer was lost: the test did not test")
			}
			if err != nil {
				got, _ := st.GetTask(c, "tsk_a")
				t.Fatalf("ClaimTaskCreate whose write landed (claim now %d, its own %d) = %v (%s); want nil: the attempt holds the claim",
					got.CreateClaim, until.UnixMilli(), err, sandstep.ErrorCode(err))
			}
		})
	}
}
