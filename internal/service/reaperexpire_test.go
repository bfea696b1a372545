package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// A ready sandbox the run's read of the index shows past its deadline,
// whose life was moved since (a task's collect outliving its deadline
// moves it, keepForCollect, and records the new ttlMinutes), is alive by
// its record: the reaper reads the record again before it deletes, and
// must judge the deadline by what it read, not by the index's stale copy.
// Deleted, the collect loses the sandbox it is reading (the task's
// artifacts and last output), and the run counts a false "expired".
func TestReapExpiresByTheRecordReadAgain(t *testing.T) {
	ctx := context.Background()
	clk := &settableClock{t: time.Now()}
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 10, Now: clk.Now})
	p := newFakeProvider()
	svc := newReaper(t, st, p, st, p)
	svc.opts.Now = clk.Now
	sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(clk.Now().Add(time.Duration(sb.TTLMinutes)*time.Minute + abandonedAfter + time.Minute))
	then, err := st.LiveRecords(ctx)
	if err != nil || len(then.Sandboxes) != 1 {
		t.Fatalf("index = %+v, %v; want the sandbox", then, err)
	}
	// Its life moved an hour on (at Daytona and on its record) after the
	// run read the index.
	if _, err := st.TransitionSandbox(ctx, sb.ID, []sandstep.State{sandstep.StateReady}, sandstep.StateReady, func(r *sandstep.Sandbox) {
		r.TTLMinutes += 60 + int(abandonedAfter/time.Minute)
	}); err != nil {
		t.Fatal(err)
	}

	svc.inventory = staleIndex{st, then}
	rep, err := svc.Reap(ctx, ReapOptions{})
	if err != nil || rep.Expired != 0 || rep.Failed != 0 {
		t.Errorf("Reap = %+v, %v; want nothing expired", rep, err)
	}
	if got, err := st.GetSandbox(ctx, sb.ID); err != nil || got.State != sandstep.StateReady {
		t.Errorf("record = %+v, %v; want still ready (its life was moved)", got, err)
	}
	if p.sandboxes[sb.ID] == nil {
		t.Error("the sandbox, alive until its moved deadline, was deleted at Daytona")
	}
}
