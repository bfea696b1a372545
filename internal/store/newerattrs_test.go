package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// Two versions write one record at once: a running execution calls the
// step functions' versions it started with for hours after a deploy,
// while the API, the rules and the reaper run the live alias's (and,
// after a rollback, the live alias runs the older one). A transition puts
// the whole item as its version's struct marshals it; the versions before
// this one thus erase what a newer one recorded (logCut, outputNotStored,
// killPending). This version keeps the attributes it does not know, and
// only those: one it knows and left out (a field cleared, an ended
// record's index key) stays out.
func TestTransitionKeepsANewerVersionsAttribute(t *testing.T) {
	killed := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		pk    string
		setup func(c context.Context, st *store.Store) error
		write func(c context.Context, st *store.Store) error
		// gone are attributes this version knows, present before the
		// write and left out by it.
		gone []string
	}{
		{
			name:  "a task's, which ends",
			pk:    "TASK#t1",
			setup: putTask(&sandstep.Task{ID: "t1", Owner: "u", Status: sandstep.TaskRunning, TimeoutSeconds: 60}),
			write: func(c context.Context, st *store.Store) error {
				_, err := st.TransitionTask(c, "t1", []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskSucceeded, nil)
				return err
			},
			gone: []string{"LivePK"}, // an ended task leaves the live index
		},
		{
			name: "a task's, whose kill landed",
			pk:   "TASK#t1",
			setup: putTask(&sandstep.Task{ID: "t1", Owner: "u", Status: sandstep.TaskRunning, TimeoutSeconds: 60,
				KilledAt: &killed, KillPending: true}),
			write: func(c context.Context, st *store.Store) error {
				_, err := st.TransitionTask(c, "t1", []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning,
					func(r *sandstep.Task) { r.KillPending = false })
				return err
			},
			gone: []string{"killPending"},
		},
		{
			name: "a task's, whose create claim is let go",
			pk:   "TASK#t1",
			setup: func(c context.Context, st *store.Store) error {
				if err := st.PutTask(c, &sandstep.Task{ID: "t1", Owner: "u", Status: sandstep.TaskQueued, TimeoutSeconds: 60,
					Waiting: "capacity"}); err != nil {
					return err
				}
				return st.ClaimTaskCreate(c, "t1", "", time.Now().Add(time.Hour))
			},
			write: func(c context.Context, st *store.Store) error {
				_, err := st.TransitionTask(c, "t1", []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskQueued,
					func(r *sandstep.Task) { r.SandboxID, r.CreateClaim, r.Waiting = "s1", 0, "" })
				return err
			},
			gone: []string{"createClaim", "waiting"},
		},
		{
			name:  "a sandbox's, which stays",
			pk:    "SBX#s1",
			setup: seedSandbox(&sandstep.Sandbox{ID: "s1", Owner: "u", State: sandstep.StateReady}),
			write: func(c context.Context, st *store.Store) error {
				_, err := st.TransitionSandbox(c, "s1", []sandstep.State{sandstep.StateReady}, sandstep.StateReady,
					func(r *sandstep.Sandbox) { r.TTLMinutes++ })
				return err
			},
		},
		{
			name:  "a sandbox's, which is gone",
			pk:    "SBX#s1",
			setup: seedSandbox(&sandstep.Sandbox{ID: "s1", Owner: "u", State: sandstep.StateReady, ProviderState: "started"}),
			write: func(c context.Context, st *store.Store) error {
				_, err := st.TransitionSandbox(c, "s1", []sandstep.State{sandstep.StateReady}, sandstep.StateGone,
					func(r *sandstep.Sandbox) { r.ProviderState = "" })
				return err
			},
			gone: []string{"LivePK", "providerState"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, client, table := storetest.New(t, store.Options{DefaultQuota: 1})
			c := ctx(t)
			if err := tt.setup(c, st); err != nil {
				t.Fatal(err)
			}
			// A newer version's write: the record with a field this
			// version's struct does not have.
			item := rawItem(t, client, table, tt.pk, "META")
			for _, a := range tt.gone {
				if _, ok := item[a]; !ok {
					t.Fatalf("before the write the record has no %s; the case proves nothing", a)
				}
			}
			item["newerField"] = strAV("set by a newer version")
			if _, err := client.PutItem(c, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
				t.Fatal(err)
			}
			if err := tt.write(c, st); err != nil {
				t.Fatal(err)
			}
			after := rawItem(t, client, table, tt.pk, "META")
			if _, ok := after["newerField"]; !ok {
				t.Errorf("the record after this version's transition has lost newerField, which a newer version wrote")
			}
			for _, a := range tt.gone {
				if _, ok := after[a]; ok {
					t.Errorf("the record after the transition has %s, which the transition left out", a)
				}
			}
		})
	}
}

func putTask(task *sandstep.Task) func(context.Context, *store.Store) error {
	return func(c context.Context, st *store.Store) error { return st.PutTask(c, task) }
}

func seedSandbox(sb *sandstep.Sandbox) func(context.Context, *store.Store) error {
	return func(c context.Context, st *store.Store) error {
		if err := reserve(c, st, sb.Owner, sb.ID); err != nil {
			return err
		}
		return st.CommitSandbox(c, sb)
	}
}
