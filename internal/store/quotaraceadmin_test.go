package store_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// 100 creates at once, on several instances, while one administrator
// clears the user's limit of 5 (the default is 10) and another then sets
// 30: every slot taken is counted, none beyond the last limit, and a
// second wave fills the user to exactly 30.
func TestQuotaExactUnderCreatesWhileClearAndSetLand(t *testing.T) {
	sts := storetest.Instances(t, 4, store.Options{DefaultQuota: 10})
	c := ctx(t)
	if err := sts[0].SetUserLimit(c, "u", quota(t, sts[0], "u"), 5); err != nil {
		t.Fatal(err)
	}
	var ok atomic.Int64
	wave := func(name string) {
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Go(func() {
				err := sts[i%len(sts)].ReserveSlot(c, &sandstep.Sandbox{ID: fmt.Sprintf("%s%d", name, i), Owner: "u"})
				switch code := sandstep.ErrorCode(err); {
				case err == nil:
					ok.Add(1)
				case code != sandstep.EQUOTA:
					t.Errorf("reserve %s%d: %v", name, i, err)
				}
			})
		}
		wg.Go(func() {
			if name != "a" {
				return
			}
			if err := sts[1].ClearUserLimit(c, "u", quota(t, sts[1], "u")); err != nil {
				t.Errorf("clear: %v", err)
			}
			if err := sts[2].SetUserLimit(c, "u", quota(t, sts[2], "u"), 30); err != nil {
				t.Errorf("set: %v", err)
			}
		})
		wg.Wait()
	}
	wave("a")
	active, held, _, err := sts[3].Counter(c, "u")
	if err != nil {
		t.Fatal(err)
	}
	if int64(active) != ok.Load() || len(held) != active || active > 30 {
		t.Fatalf("after the first wave: %d taken, counter %d, %d held; want equal and at most 30", ok.Load(), active, len(held))
	}
	wave("b")
	active, held, _, err = sts[3].Counter(c, "u")
	if err != nil {
		t.Fatal(err)
	}
	if q := quota(t, sts[0], "u"); ok.Load() != 30 || active != 30 || len(held) != 30 || q.Limit != 30 || !q.LimitSet {
		t.Errorf("after the second wave: %d taken, counter %d, %d held, quota %+v; want 30 each, limit 30 set", ok.Load(), active, len(held), q)
	}
}
