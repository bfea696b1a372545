package store_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// A counter that drifted to 0 while a slot of the earlier layout is still
// held (USER#<u>/SLOT#<id>) looks idle to the sweep, which reads the
// counter before the slot items sorting after it, and deletes it; the
// fold then makes the counter again holding the slot but counting
// nothing (no active). The reaper's repair must still set it to the slots
// held, or the user's next takes start from 0 and hold one more than the
// limit.
func TestRepairAfterAnIdleCounterWithALegacySlotIsDeleted(t *testing.T) {
	clk := newClock()
	st, client, table := storetest.New(t, store.Options{DefaultQuota: 2, Now: clk.Now})
	c := ctx(t)
	if err := st.ReserveSlot(c, &sandstep.Sandbox{ID: "sbx_a", Owner: "u"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReleaseSlot(c, "u", "sbx_a"); err != nil {
		t.Fatal(err)
	}
	// A slot of the earlier layout, held, that the counter does not count.
	if _, err := client.PutItem(c, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"PK": strAV("USER#u"), "SK": strAV("SLOT#sbx_old"), "type": strAV("slot"), "userId": strAV("u"),
		"sandboxId": strAV("sbx_old"), "state": strAV("committed"), "reservedAt": strAV(clk.Now().Format(time.RFC3339Nano))}}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(25 * time.Hour)
	sw, err := st.Sweep(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.FoldLegacySlots(c, sw.Legacy); err != nil {
		t.Fatal(err)
	}
	if counted, held, err := st.RepairQuota(c, "u", false); err != nil || held != 1 {
		t.Fatalf("RepairQuota = %d, %d, %v; want 1 held", counted, held, err)
	}
	if n, slots, _, err := st.Counter(c, "u"); err != nil || n != len(slots) {
		t.Fatalf("after the repair the counter counts %d with %d held (%v); want them equal", n, len(slots), err)
	}
	for _, id := range []string{"sbx_b", "sbx_c"} {
		_ = st.ReserveSlot(c, &sandstep.Sandbox{ID: id, Owner: "u"})
	}
	if _, slots, _, err := st.Counter(c, "u"); err != nil || len(slots) > 2 {
		t.Errorf("user of limit 2 holds %d slots (%v)", len(slots), err)
	}
}
