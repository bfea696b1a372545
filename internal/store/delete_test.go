package store_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// MarkDeleting marks only the owner's ready or deleting sandbox, and
// writes nothing otherwise, answering a conflict with the record as it is.
func TestMarkDeleting(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, st *store.Store)
		owner string
		code  sandstep.Code
		// state is the record's state afterwards ("" : no record).
		state sandstep.State
	}{
		{"ready, the owner's", func(t *testing.T, st *store.Store) { seed(t, ctx(t), st, ready("sb1", "alice")) }, "alice", "", sandstep.StateDeleting},
		{"deleting, taken over", func(t *testing.T, st *store.Store) {
			seed(t, ctx(t), st, ready("sb1", "alice"))
			if _, err := st.MarkDeleting(ctx(t), "sb1", "alice"); err != nil {
				t.Fatal(err)
			}
		}, "alice", "", sandstep.StateDeleting},
		{"another's", func(t *testing.T, st *store.Store) { seed(t, ctx(t), st, ready("sb1", "alice")) }, "bob", sandstep.ECONFLICT, sandstep.StateReady},
		{"being created", func(t *testing.T, st *store.Store) {
			if err := reserve(ctx(t), st, "alice", "sb1"); err != nil {
				t.Fatal(err)
			}
		}, "alice", sandstep.ECONFLICT, sandstep.StateCreating},
		{"deleted already", func(t *testing.T, st *store.Store) {
			seed(t, ctx(t), st, ready("sb1", "alice"))
			sb, err := st.MarkDeleting(ctx(t), "sb1", "alice")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.FinishDelete(ctx(t), sb, deleteEvent(sb)); err != nil {
				t.Fatal(err)
			}
		}, "alice", sandstep.ECONFLICT, sandstep.StateDeleted},
		{"no such sandbox", func(t *testing.T, st *store.Store) {}, "alice", sandstep.ENOTFOUND, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _, _ := storetest.New(t, store.Options{})
			tt.setup(t, st)
			sb, err := st.MarkDeleting(ctx(t), "sb1", tt.owner)
			if got := sandstep.ErrorCode(err); got != tt.code {
				t.Fatalf("code %q (%v), want %q", got, err, tt.code)
			}
			switch {
			case err == nil && (sb.State != sandstep.StateDeleting || sb.Owner != "alice" || sb.DaytonaID != "dt-sb1"):
				t.Errorf("answered %+v", sb)
			case tt.code == sandstep.ECONFLICT && (sb == nil || sb.ID != "sb1" || sb.State != tt.state || sb.Owner != "alice"):
				t.Errorf("a conflict answered %+v, want the record as it is (%s, alice's)", sb, tt.state)
			case tt.code == sandstep.ENOTFOUND && sb != nil:
				t.Errorf("no record answered %+v", sb)
			}
			cur, err := st.GetSandbox(ctx(t), "sb1")
			switch {
			case tt.state == "" && sandstep.ErrorCode(err) != sandstep.ENOTFOUND:
				t.Errorf("a record appeared: %+v %v", cur, err)
			case tt.state != "" && (err != nil || cur.State != tt.state):
				t.Errorf("record %+v %v, want %s", cur, err, tt.state)
			}
		})
	}
}

// Concurrent deletes finish once: one releases the slot and writes the
// audit event, the others are told it is over.
func TestFinishDeleteOnce(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 2})
	c := ctx(t)
	seed(t, c, st, ready("sb1", "alice"))
	const workers = 20
	var finished atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range workers {
		wg.Go(func() {
			<-start
			sb, err := st.MarkDeleting(c, "sb1", "alice")
			if err != nil {
				return // finished by another already
			}
			switch _, err := st.FinishDelete(c, sb, deleteEvent(sb)); sandstep.ErrorCode(err) {
			case "":
				finished.Add(1)
			case sandstep.ECONFLICT:
			default:
				t.Errorf("FinishDelete: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if n := finished.Load(); n != 1 {
		t.Errorf("%d deletes finished, want 1", n)
	}
	if q := quota(t, st, "alice"); q.Active != 0 {
		t.Errorf("active = %d, want 0", q.Active)
	}
	cur, err := st.GetSandbox(c, "sb1")
	if err != nil || cur.State != sandstep.StateDeleted || cur.DeletedAt == nil || cur.ProviderState != "destroyed" {
		t.Errorf("record %+v %v", cur, err)
	}
	events, _, err := st.ListAudit(c, "sb1", "", 10, "")
	if err != nil || len(events) != 1 || events[0].Action != "sandbox.delete" {
		t.Errorf("audit %+v %v, want one delete", events, err)
	}
}

// A slot the reaper released already, or a counter at zero, does not stop
// the delete from finishing.
func TestFinishDeleteWithoutSlot(t *testing.T) {
	for _, name := range []string{"slot released", "counter zero"} {
		t.Run(name, func(t *testing.T) {
			st, client, table := storetest.New(t, store.Options{})
			c := ctx(t)
			seed(t, c, st, ready("sb1", "alice"))
			if name == "slot released" {
				if _, err := st.ReleaseSlot(c, "alice", "sb1"); err != nil {
					t.Fatal(err)
				}
			} else {
				setCounter(t, client, table, "alice", 0)
			}
			sb, err := st.MarkDeleting(c, "sb1", "alice")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.FinishDelete(c, sb, deleteEvent(sb)); err != nil {
				t.Fatalf("FinishDelete: %v", err)
			}
			if cur, _ := st.GetSandbox(c, "sb1"); cur.State != sandstep.StateDeleted {
				t.Errorf("state %s", cur.State)
			}
			if released, err := st.ReleaseSlot(c, "alice", "sb1"); err != nil || released {
				t.Errorf("the slot was still held: %v %v", released, err)
			}
		})
	}
}

func ready(id, owner string) *sandstep.Sandbox {
	return &sandstep.Sandbox{ID: id, Owner: owner, State: sandstep.StateCreating, DaytonaID: "dt-" + id}
}

func deleteEvent(sb *sandstep.Sandbox) sandstep.AuditEvent {
	return sandstep.AuditEvent{Action: "sandbox.delete", UserID: sb.Owner, SandboxID: sb.ID, Outcome: "ok"}
}
