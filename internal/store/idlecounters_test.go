package store_test

import (
	"context"
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

// Every user and repository that ever took a slot has a counter, and the
// reaper reads every counter in Live on every run (docs/architecture.md,
// "Failures and the reaper"). A counter that holds nothing is about 140
// bytes: a deployment that has seen a million users read some 140 MB of
// idle counters each run, growing with the history, not the load. A
// counter idle for a day, with no limit of its own, must leave the index
// (its next take makes it again); one holding a slot, one with its own
// limit, and one idle for less than a day stay.
func TestIdleCountersLeaveLive(t *testing.T) {
	const users = 200
	for _, tc := range []struct {
		name     string
		idle     time.Duration
		holding  bool // each user still holds a slot
		limit    bool // each user has a limit of their own
		wantRead int  // counters a reaper run reads from Live after the sweep
	}{
		{name: "idle a day", idle: 25 * time.Hour, wantRead: 0},
		{name: "idle an hour", idle: time.Hour, wantRead: users},
		{name: "holding a slot", idle: 25 * time.Hour, holding: true, wantRead: users},
		{name: "own limit", idle: 25 * time.Hour, limit: true, wantRead: users},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 3, Now: clk.Now})
			c := ctx(t)
			user := func(i int) string { return fmt.Sprintf("user-%04d", i) }
			for i := range users {
				u := user(i)
				if tc.limit {
					if err := st.SetUserLimit(c, u, quota(t, st, u), 2); err != nil {
						t.Fatal(err)
					}
				}
				if err := st.ReserveSlot(c, &sandstep.Sandbox{ID: "sbx_" + u, Owner: u}); err != nil {
					t.Fatal(err)
				}
				if !tc.holding {
					if _, err := st.ReleaseSlot(c, u, "sbx_"+u); err != nil {
						t.Fatal(err)
					}
				}
			}
			clk.Advance(tc.idle)
			for range 10 {
				sw, err := st.Sweep(c)
				if err != nil {
					t.Fatal(err)
				}
				if sw.Done {
					break
				}
			}
			l, err := st.LiveRecords(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(l.Counted); got != tc.wantRead {
				t.Fatalf("a reaper run reads %d counters of %d users from Live, want %d", got, users, tc.wantRead)
			}
			// Whatever left the index, the quota is as it was, and the
			// next take holds its slot exactly and is in the index again.
			u := user(0)
			if err := st.ReserveSlot(c, &sandstep.Sandbox{ID: "sbx_again", Owner: u}); err != nil {
				t.Fatal(err)
			}
			want := 1
			if tc.holding {
				want = 2
			}
			if q := quota(t, st, u); q.Active != want || q.LimitSet != tc.limit {
				t.Errorf("quota after the next take = %+v, want %d held, own limit %v", q, want, tc.limit)
			}
			l, err = st.LiveRecords(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := l.Counted[u]; got != want {
				t.Errorf("the index counts %d for %s after its next take, want %d", got, u, want)
			}
		})
	}
}

// The sweep reads a counter idle, then deletes it: a take or a limit set
// landing between the two must keep the counter, or the slot it holds
// (and the quota's exactness) or the limit is lost.
func TestIdleCounterChangedMeanwhileStays(t *testing.T) {
	for _, tc := range []struct {
		name      string
		meanwhile func(c context.Context, st *store.Store) error
		want      sandstep.Quota
	}{
		{name: "a take", meanwhile: func(c context.Context, st *store.Store) error {
			return st.ReserveSlot(c, &sandstep.Sandbox{ID: "sbx_meanwhile", Owner: "alice"})
		}, want: sandstep.Quota{UserID: "alice", Active: 1, Limit: 3}},
		{name: "a limit set", meanwhile: func(c context.Context, st *store.Store) error {
			q, err := st.GetQuota(c, "alice")
			if err != nil {
				return err
			}
			return st.SetUserLimit(c, "alice", q, 7)
		}, want: sandstep.Quota{UserID: "alice", Limit: 7, LimitSet: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			var st *store.Store
			var deletes atomic.Int64
			st, _, _ = storetest.New(t, store.Options{DefaultQuota: 3, Now: clk.Now}, inFront(t, func(w http.ResponseWriter, r *http.Request, pass http.Handler) {
				if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".DeleteItem") && deletes.Add(1) == 1 {
					if err := tc.meanwhile(r.Context(), st); err != nil {
						t.Error(err)
					}
				}
				pass.ServeHTTP(w, r)
			}))
			c := ctx(t)
			idleThenSwept(t, st, clk, "alice")
			if deletes.Load() != 1 {
				t.Fatalf("the sweep deleted %d items, want it to try the idle counter", deletes.Load())
			}
			if q := quota(t, st, "alice"); q != tc.want {
				t.Errorf("quota after the sweep = %+v, want %+v", q, tc.want)
			}
			l, err := st.LiveRecords(c)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := l.Counted["alice"]; !ok {
				t.Error("the counter left the index")
			}
		})
	}
}

// idleThenSwept takes and gives back one slot of user's, then runs the
// sweep a day later, which finds the user's counter idle.
func idleThenSwept(t *testing.T, st *store.Store, clk *clock, user string) {
	t.Helper()
	c := ctx(t)
	if err := st.ReserveSlot(c, &sandstep.Sandbox{ID: "sbx_first", Owner: user}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReleaseSlot(c, user, "sbx_first"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(25 * time.Hour)
	if _, err := st.Sweep(c); err != nil {
		t.Fatal(err)
	}
}
