package store_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// huntMaxPageQueries is what one page of a list may cost in Query round
// trips, whatever the user's history: each is a DynamoDB round trip of up
// to 1 MB, paid in the status function's time (API Gateway gives up at
// 30 s) and in read units.
const huntMaxPageQueries = 8

// GET /sandboxes and GET /tasks show live records by default, a filter
// on GSI1, which holds every record the user ever had: sandboxes never
// expire, ended tasks stay TASK_RETENTION_DAYS. A page read on until it
// was full or the list ended, so a user with one live task and a long
// history paid for the whole history on every GET /tasks. A page's reads
// must not grow with the history; walking the pages still lists every
// live record once.
func TestFilteredListPageReadsBoundedQueries(t *testing.T) {
	for _, kind := range []string{"tasks", "sandboxes"} {
		for _, tc := range []struct{ ended, limit int }{{10, 20}, {1000, 20}, {1000, 1}} {
			ended := tc.ended
			t.Run(fmt.Sprintf("%s with %d ended, pages of %d", kind, ended, tc.limit), func(t *testing.T) {
				clk := newClock()
				var queries atomic.Int64
				st, _, _ := storetest.New(t, store.Options{Now: clk.Now}, inFront(t, func(w http.ResponseWriter, r *http.Request, pass http.Handler) {
					if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".Query") {
						queries.Add(1)
					}
					pass.ServeHTTP(w, r)
				}))
				c := ctx(t)
				var live []string
				// One live record older than the history, one newer.
				write := func(id string, over bool) {
					t.Helper()
					clk.Advance(time.Second)
					if kind == "tasks" {
						tk := &sandstep.Task{ID: id, Owner: "alice", Status: sandstep.TaskRunning}
						if over {
							fin := clk.Now()
							tk.Status, tk.FinishedAt = sandstep.TaskSucceeded, &fin
						}
						if err := st.PutTask(c, tk); err != nil {
							t.Fatal(err)
						}
						return
					}
					if err := st.RecordCreating(c, &sandstep.Sandbox{ID: id, Owner: "alice", State: sandstep.StateCreating}); err != nil {
						t.Fatal(err)
					}
					if over {
						if _, err := st.TransitionSandbox(c, id, []sandstep.State{sandstep.StateCreating}, sandstep.StateFailed, nil); err != nil {
							t.Fatal(err)
						}
					}
				}
				write("old-live", false)
				for i := range ended {
					write(fmt.Sprintf("ended-%04d", i), true)
				}
				write("new-live", false)
				live = []string{"new-live", "old-live"}

				var got []string
				cursor, pages, worst := "", 0, int64(0)
				for {
					queries.Store(0)
					var ids []string
					var next string
					var err error
					if kind == "tasks" {
						var items []*sandstep.Task
						items, next, err = st.ListTasks(c, "alice", tc.limit, cursor, sandstep.TaskQueued, sandstep.TaskRunning)
						for _, it := range items {
							ids = append(ids, it.ID)
						}
					} else {
						var items []*sandstep.Sandbox
						items, next, err = st.ListSandboxes(c, "alice", tc.limit, cursor, sandstep.StateCreating, sandstep.StateReady, sandstep.StateDeleting)
						for _, it := range items {
							ids = append(ids, it.ID)
						}
					}
					if err != nil {
						t.Fatal(err)
					}
					pages++
					worst = max(worst, queries.Load())
					got = append(got, ids...)
					if next == "" || pages > ended+5 { // a cursor that goes nowhere
						if next != "" {
							t.Errorf("%d pages and still a cursor", pages)
						}
						break
					}
					cursor = next
				}
				t.Logf("%d ended %s, pages of %d: %d pages, at most %d queries a page", ended, kind, tc.limit, pages, worst)
				if strings.Join(got, ",") != strings.Join(live, ",") {
					t.Errorf("the pages listed %v, want %v", got, live)
				}
				if worst > huntMaxPageQueries {
					t.Errorf("a page of the live %s took %d queries with %d ended ones; want at most %d, however long the history", kind, worst, ended, huntMaxPageQueries)
				}
			})
		}
	}
}
