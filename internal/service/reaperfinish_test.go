package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
)

// A delete the run's read of the index shows left half done (deleting,
// marked over 15 minutes ago) that its owner has since finished, or asked
// again (marked anew, its Daytona delete under way), is no half-done
// delete: the reaper reads the record again, as it does for a create or
// an expired sandbox, and leaves it, with no finding (a finding is a bug
// worth an alert, README) and no second delete at Daytona.
func TestReapFinishesOnlyADeleteStillHalfDone(t *testing.T) {
	for _, tt := range []struct {
		name string
		// owner acts on the sandbox after the run read the index.
		owner func(t *testing.T, svc *Service, st *store.Store, id string)
		want  sandstep.State // the record after the run
		alive bool           // its Daytona sandbox after the run
	}{
		{name: "finished by its owner's delete asked again", want: sandstep.StateDeleted, owner: func(t *testing.T, svc *Service, _ *store.Store, id string) {
			if _, err := svc.DeleteSandbox(context.Background(), alice(), id); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "its owner's delete asked again, at Daytona now", want: sandstep.StateDeleting, alive: true, owner: func(t *testing.T, _ *Service, st *store.Store, id string) {
			// The delete's first write (marked anew); its Daytona
			// delete is under way.
			if _, err := st.TransitionSandbox(context.Background(), id, []sandstep.State{sandstep.StateDeleting}, sandstep.StateDeleting, nil); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			svc, st, p, clk, sb := reaperWithSandbox(t)
			// A delete that crashed once it had marked the record.
			if _, err := st.TransitionSandbox(ctx, sb.ID, []sandstep.State{sandstep.StateReady}, sandstep.StateDeleting, nil); err != nil {
				t.Fatal(err)
			}
			clk.Set(clk.Now().Add(abandonedAfter + time.Minute))
			then, err := st.LiveRecords(ctx)
			if err != nil || len(then.Sandboxes) != 1 || then.Sandboxes[0].State != sandstep.StateDeleting {
				t.Fatalf("index = %+v, %v; want the half-done delete", then, err)
			}
			tt.owner(t, svc, st, sb.ID)

			svc.inventory = staleIndex{st, then}
			rep, err := svc.Reap(ctx, ReapOptions{})
			if err != nil || rep.Findings() != 0 {
				t.Errorf("Reap = %+v, %v; want no finding: the owner's delete settled it", rep, err)
			}
			if got, err := st.GetSandbox(ctx, sb.ID); err != nil || got.State != tt.want {
				t.Errorf("record = %+v, %v; want %s", got, err, tt.want)
			}
			if alive := p.sandboxes[sb.ID] != nil; alive != tt.alive {
				t.Errorf("Daytona sandbox alive = %v, want %v (left to its owner's delete)", alive, tt.alive)
			}
		})
	}
}
