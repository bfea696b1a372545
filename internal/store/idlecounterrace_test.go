package store_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// A user whose idle counter a sweep deleted races 100 creates: exactly
// the limit are taken, and the counter is back in Live holding them.
func TestRaceFromADeletedCounter(t *testing.T) {
	const workers, limit = 100, 5
	clk := newClock()
	var calls atomic.Int64
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: limit, Now: clk.Now}, inFront(t, func(w http.ResponseWriter, r *http.Request, pass http.Handler) {
		if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".Scan") {
			calls.Add(1)
		}
		pass.ServeHTTP(w, r)
	}))
	c := ctx(t)
	idleThenSwept(t, st, clk, "alice")
	if l, err := st.LiveRecords(c); err != nil || len(l.Counted) != 0 {
		t.Fatalf("counters in Live after the sweep: %v, %v", l, err)
	}
	calls.Store(0)
	if err := st.ReserveSlot(c, &sandstep.Sandbox{ID: "sbx_probe", Owner: "bob"}); err != nil {
		t.Fatal(err)
	}
	t.Logf("a first take of a user with no counter: %d calls", calls.Load())
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range workers {
		wg.Go(func() {
			<-start
			err := st.ReserveSlot(c, &sandstep.Sandbox{ID: fmt.Sprintf("sbx_%d", i), Owner: "alice"})
			switch sandstep.ErrorCode(err) {
			case "":
				ok.Add(1)
			case sandstep.EQUOTA:
				refused.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	if ok.Load() != limit || refused.Load() != workers-limit {
		t.Fatalf("%d taken, %d refused; want %d and %d", ok.Load(), refused.Load(), limit, workers-limit)
	}
	n, held, _, err := st.Counter(c, "alice")
	if err != nil || n != limit || len(held) != limit {
		t.Fatalf("counter %d, held %d, %v; want %d", n, len(held), err, limit)
	}
	l, err := st.LiveRecords(c)
	if err != nil || l.Counted["alice"] != limit {
		t.Fatalf("Live counts %v, %v; want alice %d", l.Counted, err, limit)
	}
}
