package service

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/metrics"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// sweepLeavesAndCounterFails is a store whose sweep leaves items it could
// not index and whose counters cannot be read again.
type sweepLeavesAndCounterFails struct {
	failingSweep
}

func (s sweepLeavesAndCounterFails) Counter(context.Context, string) (int, []sandstep.Slot, []sandstep.Slot, error) {
	return 0, nil, nil, sandstep.Errorf(sandstep.ETRANSIENT, "the database is busy")
}

// What a run did before it failed is still counted in ReaperFindings: the
// run's sweep leaves an item it cannot index (counted failed, "which the
// reaper-failed alarm watches", docs/architecture.md) and is not tried
// again before the next sweep, a day later; a run that then fails (a
// listing Daytona does not answer, a stray's owner not read again) wrote
// no ReaperFindings at all, so the reaper-failed alarm never heard of it.
func TestReaperRunThatFailsStillCountsWhatItFound(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(p *fakeProvider)
	}{
		{"Daytona's listing fails", func(p *fakeProvider) {
			p.fail = map[string]error{"list": sandstep.Errorf(sandstep.ETRANSIENT, "Daytona answered 503")}
		}},
		{"a stray's owner is not read again", func(p *fakeProvider) {
			p.sandboxes["stray"] = &fakeSandbox{id: "dt-stray", state: "started",
				labels: map[string]string{LabelDeployment: testDeployment, LabelOwner: "bob"}}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 10})
			p := newFakeProvider()
			tt.setup(p)
			inv := sweepLeavesAndCounterFails{failingSweep{st, &sandstep.Sweep{Pages: 1, Failed: 2, Done: true}, nil}}
			svc := newReaper(t, st, p, inv, p)
			set := &metrics.Set{}
			if _, err := svc.Reap(metrics.NewContext(context.Background(), set), ReapOptions{}); err == nil {
				t.Fatal("Reap succeeded; want the run's failure")
			}
			var emf bytes.Buffer
			if err := set.WriteTo(&emf, "test", time.Now()); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(emf.String(), `"Kind":"failed","ReaperFindings":2`) {
				t.Errorf("metrics %q; want ReaperFindings{Kind=failed} 2, the items the run's sweep could not index", emf.String())
			}
		})
	}
}
