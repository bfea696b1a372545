package store_test

import (
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// The sweep deletes a counter idle for a day, and the next take makes it
// again: a put between a refused update and the take, sequential store
// round trips a create's reservation makes for the first create of every
// user idle a day, not once per user ever. The round-trip counts a reader
// checks (README's bounds, docs/performance.md's "Round trips and
// overhead per call") must state what that create costs, as measured here.
func TestFirstCreateAfterASweepIsCounted(t *testing.T) {
	clk := newClock()
	var calls atomic.Int64
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 3, Now: clk.Now}, inFront(t, func(w http.ResponseWriter, r *http.Request, pass http.Handler) {
		calls.Add(1)
		pass.ServeHTTP(w, r)
	}))
	c := ctx(t)
	take := func(id string) int64 {
		t.Helper()
		calls.Store(0)
		if err := st.ReserveSlot(c, &sandstep.Sandbox{ID: id, Owner: "alice"}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.ReleaseSlot(c, "alice", id); err != nil {
			t.Fatal(err)
		}
		return calls.Load() - 1 // the release's one write
	}
	take("sbx_first")
	warm := take("sbx_warm")
	clk.Advance(25 * time.Hour)
	if _, err := st.Sweep(c); err != nil {
		t.Fatal(err)
	}
	extra := take("sbx_after") - warm
	if extra <= 0 {
		t.Fatalf("the first take after the sweep makes %d calls more than a warm one; the test expects the counter deleted", extra)
	}
	word := map[int64]string{1: "one", 2: "two", 3: "three"}[extra]
	for _, tc := range []struct{ name, path, from, to string }{
		{name: "README's bounds", path: "../../README.md", from: "In AWS the overhead is the store's round trips", to: "### Other measurements"},
		{name: "performance's round trips", path: "../../docs/performance.md", from: "## Round trips and overhead per call", to: "### Handler against the bare Daytona client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			_, after, ok := strings.Cut(string(raw), tc.from)
			section, _, ok2 := strings.Cut(after, tc.to)
			if !ok || !ok2 {
				t.Fatalf("%s: section %q..%q not found", tc.path, tc.from, tc.to)
			}
			text := strings.Join(strings.Fields(section), " ")
			if want := word + " store round trips more"; !strings.Contains(text, want) {
				t.Errorf("%s: the round-trip counts never say that a user's first create after the sweep deleted its idle counter makes %d sequential store round trips more (%q not found)", tc.path, extra, want)
			}
		})
	}
}
