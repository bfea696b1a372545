package cost

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A write carries what the meter held and its time; a write that failed
// carried nothing, so the next one carries it; and the write itself,
// counted once Take has counted it, is not counted twice.
func TestMeterTakeAndCommit(t *testing.T) {
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMeter(func() time.Time { return clock }, 512, 2)
	m.DynamoDB(false, 1)
	m.S3(true)
	clock = clock.Add(40 * time.Millisecond)

	failed := m.Take() // this write fails: nothing is committed
	m.DynamoDB(false, 1)
	m.DynamoDB(true, 1)
	clock = clock.Add(10 * time.Millisecond)

	taken := m.Take()
	rec := taken.AddTo(nil)
	m.DynamoDB(true, TaskWriteUnits) // the write carrying it, as the client counts it
	m.Commit(taken)
	want := sandstep.TaskUsage{LambdaInvocations: 1, StateTransitions: 2, LambdaMs: 50, LambdaMBMs: 50 * 512,
		DynamoDBReadRequests: 2, DynamoDBReadUnits: 2, DynamoDBWriteRequests: 2, DynamoDBWriteUnits: 1 + TaskWriteUnits, S3GetRequests: 1}
	if got := *rec; got.Carried == nil || func() bool { got.Carried = nil; return got != want }() {
		t.Errorf("record\n%+v, want\n%+v and the take's key", *rec, want)
	}
	if failed.usage.DynamoDBReadRequests != 1 {
		t.Errorf("the failed write's take %+v", failed.usage)
	}
	if p := m.Pending(); p != (sandstep.TaskUsage{}) {
		t.Errorf("after the commit the meter holds %+v, want nothing", p)
	}

	clock = clock.Add(5 * time.Millisecond)
	next := m.Take().AddTo(rec)
	if next.LambdaMs != 55 || next.LambdaInvocations != 1 || next.DynamoDBWriteRequests != 3 {
		t.Errorf("the next write adds %+v, want 5 ms and itself", *next)
	}
	if rec.LambdaMs != 50 {
		t.Error("AddTo changed the record it added to")
	}
}

// A write whose answer was lost landed: made again (by the store, or as
// the invocation's next write), it finds the take's key on the record and
// adds only what was metered since. Another take, or another invocation's,
// adds all it carries.
func TestATakeIsCarriedOnce(t *testing.T) {
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	tests := []struct {
		name string
		// again is what the second write carries, given the meter whose
		// take the first write carried.
		again func(m *Meter) Taken
		want  int // task writes on the record after both (each take counts its own)
	}{
		{name: "the same write made again", again: func(m *Meter) Taken { return m.Take() }, want: 1},
		// What was metered since is added: the landed write, as the client
		// counted it.
		{name: "the invocation's next write, the first never committed", again: func(m *Meter) Taken {
			m.DynamoDB(true, 1)
			return m.Take()
		}, want: 2},
		{name: "the invocation's next write, the first committed", again: func(m *Meter) Taken {
			first := m.Take()
			m.DynamoDB(true, TaskWriteUnits) // the first write, as the client counts it
			m.Commit(first)
			return m.Take()
		}, want: 2},
		{name: "another invocation's write", again: func(*Meter) Taken { return NewMeter(now, 128, 1).Take() }, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMeter(now, 128, 1)
			rec := m.Take().AddTo(nil) // landed, its answer lost
			rec = tt.again(m).AddTo(rec)
			if rec.DynamoDBWriteRequests != tt.want {
				t.Errorf("%d writes on the record, want %d", rec.DynamoDBWriteRequests, tt.want)
			}
		})
	}
}

func TestNoMeterCountsNothing(t *testing.T) {
	var m *Meter
	m.DynamoDB(true, 1)
	m.S3(false)
	m.Commit(m.Take())
	if MeterFrom(context.Background()) != nil || m.Pending() != (sandstep.TaskUsage{}) {
		t.Error("a context without a meter has one")
	}
	ctx := WithMeter(context.Background(), NewMeter(nil, 128, 1))
	if MeterFrom(ctx) == nil {
		t.Error("the meter put in the context is not found")
	}
}
