package store_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// One attempt at a time makes a task's sandbox; a claim whose attempt
// has ended by its time is taken over.
func TestClaimTaskCreate(t *testing.T) {
	const minute = time.Minute
	tests := []struct {
		name string
		// before runs on the queued task tsk_a, claimed by nobody, with
		// no sandbox recorded.
		before func(t *testing.T, st *store.Store, clk *clock)
		seen   string
		want   sandstep.Code
	}{
		{name: "free", before: func(*testing.T, *store.Store, *clock) {}},
		{name: "held by a running attempt", want: sandstep.ETRANSIENT, before: func(t *testing.T, st *store.Store, clk *clock) {
			if err := st.ClaimTaskCreate(ctx(t), "tsk_a", "", clk.Now().Add(5*minute)); err != nil {
				t.Fatal(err)
			}
			clk.Advance(4 * minute)
		}},
		{name: "held by an attempt whose time ran out", before: func(t *testing.T, st *store.Store, clk *clock) {
			if err := st.ClaimTaskCreate(ctx(t), "tsk_a", "", clk.Now().Add(5*minute)); err != nil {
				t.Fatal(err)
			}
			clk.Advance(5 * minute)
		}},
		{name: "let go", before: func(t *testing.T, st *store.Store, clk *clock) {
			if err := st.ClaimTaskCreate(ctx(t), "tsk_a", "", clk.Now().Add(5*minute)); err != nil {
				t.Fatal(err)
			}
			if _, err := st.TransitionTask(ctx(t), "tsk_a", []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskQueued,
				func(r *sandstep.Task) { r.CreateClaim = 0 }); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "kept by a transition read before nothing", want: sandstep.ETRANSIENT, before: func(t *testing.T, st *store.Store, clk *clock) {
			if err := st.ClaimTaskCreate(ctx(t), "tsk_a", "", clk.Now().Add(5*minute)); err != nil {
				t.Fatal(err)
			}
			if _, err := st.TransitionTask(ctx(t), "tsk_a", []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskQueued, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "sandbox recorded since it was read", want: sandstep.ETRANSIENT, before: func(t *testing.T, st *store.Store, _ *clock) {
			if _, err := st.TransitionTask(ctx(t), "tsk_a", []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskQueued,
				func(r *sandstep.Task) { r.SandboxID = "sbx_1" }); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "the sandbox read", seen: "sbx_1", before: func(t *testing.T, st *store.Store, _ *clock) {
			if _, err := st.TransitionTask(ctx(t), "tsk_a", []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskQueued,
				func(r *sandstep.Task) { r.SandboxID = "sbx_1" }); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "ended", want: sandstep.ECONFLICT, before: func(t *testing.T, st *store.Store, _ *clock) {
			if _, err := st.TransitionTask(ctx(t), "tsk_a", []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskCancelled, nil); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			st, _, _ := storetest.New(t, store.Options{Now: clk.Now})
			if err := st.PutTask(ctx(t), &sandstep.Task{ID: "tsk_a", Owner: "alice", Status: sandstep.TaskQueued, TimeoutSeconds: 60}); err != nil {
				t.Fatal(err)
			}
			tt.before(t, st, clk)
			err := st.ClaimTaskCreate(ctx(t), "tsk_a", tt.seen, clk.Now().Add(5*minute))
			if got := sandstep.ErrorCode(err); got != tt.want {
				t.Fatalf("ClaimTaskCreate = %v (%q), want %q", err, got, tt.want)
			}
		})
	}
	t.Run("no such task", func(t *testing.T) {
		st, _, _ := storetest.New(t, store.Options{})
		wantCode(t, st.ClaimTaskCreate(ctx(t), "tsk_none", "", time.Now().Add(minute)), sandstep.ENOTFOUND, "")
	})
}

// A claim whose write landed and whose answer was lost (the client sends
// it again, and the repeat's condition is refused by the claim itself) is
// the attempt's own; refused, the attempt would make no sandbox, and its
// claim, which no one would let go, would refuse every later attempt
// until its invocation's deadline.
func TestClaimTaskCreateWhoseAnswerWasLost(t *testing.T) {
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
