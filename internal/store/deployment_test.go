package store_test

import (
	"regexp"
	"slices"
	"sync"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// The deployment id is made once, whatever the number of functions asking
// at once, and kept.
func TestDeploymentIsMadeOnce(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{})
	c := ctx(t)
	const workers = 20
	ids := make([]string, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			id, err := st.Deployment(c, "prod")
			if err != nil {
				t.Errorf("Deployment: %v", err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	if !regexp.MustCompile(`^prod-[a-z2-7]{8}$`).MatchString(ids[0]) {
		t.Fatalf("id = %q, want prod- and 8 random letters", ids[0])
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("ids differ: %v", ids)
		}
	}
	if again, err := st.Deployment(c, "prod"); err != nil || again != ids[0] {
		t.Fatalf("later call = %q, %v; want %q", again, err, ids[0])
	}
	_, err := st.Deployment(c, "a#b")
	wantCode(t, err, sandstep.EINVALID, "name")
}

func TestLiveRecordsSandboxes(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 10})
	c := ctx(t)
	if err := reserve(c, st, "u", "creating"); err != nil {
		t.Fatal(err)
	}
	seed(t, c, st, &sandstep.Sandbox{ID: "ready", Owner: "v"})
	seed(t, c, st, &sandstep.Sandbox{ID: "gone", Owner: "v"})
	if _, err := st.TransitionSandbox(c, "gone", []sandstep.State{sandstep.StateReady}, sandstep.StateGone, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendAudit(c, sandstep.AuditEvent{Action: "x", UserID: "u", SandboxID: "ready"}); err != nil {
		t.Fatal(err)
	}
	found, err := st.LiveRecords(c)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]sandstep.State{}
	for _, sb := range found.Sandboxes {
		got[sb.ID] = sb.State
	}
	if len(got) != 2 || got["creating"] != sandstep.StateCreating || got["ready"] != sandstep.StateReady {
		t.Fatalf("live = %v, want creating and ready", got)
	}
	// The counters come with the records, as Counter reads them.
	if len(found.Held) == 0 || len(found.Counted) == 0 {
		t.Errorf("counters %v and slots %v, want some", found.Counted, found.Held)
	}
	for u, n := range found.Counted {
		counted, held, _, err := st.Counter(c, u)
		mine := slices.DeleteFunc(slices.Clone(found.Held), func(sl sandstep.Slot) bool { return sl.UserID != u })
		if err != nil || counted != n || !slices.Equal(held, mine) {
			t.Errorf("%s: counter %d and slots %v, want %d and %v as Counter reads them (%v)", u, n, mine, counted, held, err)
		}
	}
	// And the deployment's id, once one is recorded.
	if found.Deployment != "" {
		t.Errorf("deployment = %q before one is recorded, want none", found.Deployment)
	}
	id, err := st.Deployment(c, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if found, err = st.LiveRecords(c); err != nil || found.Deployment != id {
		t.Errorf("deployment = %+v, %v; want %q", found, err, id)
	}
}
