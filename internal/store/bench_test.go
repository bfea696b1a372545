package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// BenchmarkQuotaCycle measures reserve → commit → release cycles (three
// TransactWriteItems) against the embedded minidyn server over HTTP. Each
// minidyn transaction copies the whole table, so the table is emptied (with
// the timer stopped) every 100 cycles to measure the store, not the table's
// growth.
func BenchmarkQuotaCycle(b *testing.B) {
	mini, url := storetest.Server(b)
	client := storetest.DB(b, url)
	c := context.Background()
	if err := store.CreateTable(c, client, storetest.Table); err != nil {
		b.Fatal(err)
	}
	st, err := store.New(client, storetest.Table, store.Options{DefaultQuota: 5, IdempotencyTTL: storetest.DefaultIdempotencyTTL})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := fmt.Sprint("sbx-", i)
		if err := reserve(c, st, "bench", id); err != nil {
			b.Fatal(err)
		}
		if err := st.CommitSandbox(c, &sandstep.Sandbox{ID: id, Owner: "bench", State: sandstep.StateCreating}); err != nil {
			b.Fatal(err)
		}
		if released, err := st.ReleaseSlot(c, "bench", id); err != nil || !released {
			b.Fatalf("release: %v, %v", released, err)
		}
		i++
		if i%100 == 0 {
			b.StopTimer()
			if err := mini.ClearTable(storetest.Table); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "cycles/s")
}
