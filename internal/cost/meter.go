package cost

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Meter counts what one invocation of a task step uses that is not yet
// on the task's record: its time, its state transitions, its DynamoDB and
// S3 requests. The task's writes take what it holds onto the record
// (Take, then Commit once the write succeeded), so counting costs no
// round trip of its own; what an invocation uses after its last write of
// the task is not counted. Its methods may be called concurrently, and on
// a nil *Meter do nothing.
type Meter struct {
	mu       sync.Mutex
	now      func() time.Time
	memoryMB int64
	// from: the invocation's time before it is on the record.
	from    time.Time
	pending sandstep.TaskUsage
	// id names the invocation; commits counts the writes that carried
	// its usage. Together they name what a write carries (Taken.key).
	id      string
	commits int
}

// NewMeter starts the meter of one invocation, allocated memoryMB, that
// stands for transitions states of the task's state machine. now nil is
// time.Now.
func NewMeter(now func() time.Time, memoryMB, transitions int) *Meter {
	if now == nil {
		now = time.Now
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	m := &Meter{now: now, memoryMB: int64(memoryMB), from: now(), id: hex.EncodeToString(id[:])}
	m.pending.LambdaInvocations = 1
	m.pending.StateTransitions = transitions
	return m
}

type meterKey struct{}

// WithMeter returns ctx carrying m.
func WithMeter(ctx context.Context, m *Meter) context.Context {
	return context.WithValue(ctx, meterKey{}, m)
}

// MeterFrom is ctx's meter, or nil.
func MeterFrom(ctx context.Context) *Meter {
	m, _ := ctx.Value(meterKey{}).(*Meter)
	return m
}

// DynamoDB counts one DynamoDB request of units request units.
func (m *Meter) DynamoDB(write bool, units int) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if write {
		m.pending.DynamoDBWriteRequests++
		m.pending.DynamoDBWriteUnits += units
	} else {
		m.pending.DynamoDBReadRequests++
		m.pending.DynamoDBReadUnits += units
	}
}

// S3 counts one S3 request: a GET (or HEAD), or one of PUT's class.
func (m *Meter) S3(get bool) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if get {
		m.pending.S3GetRequests++
	} else {
		m.pending.S3PutRequests++
	}
}

// Stands sets the states the invocation stands for that no write has
// carried yet, for a step that learns them as it runs (the others are
// given theirs by NewMeter).
func (m *Meter) Stands(states int) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending.StateTransitions = states
}

// Taken is what one write of the task carries onto its record, and the
// key it is carried under: taken again before a Commit, it has the same.
type Taken struct {
	usage sandstep.TaskUsage
	until time.Time
	key   string
}

// TaskWriteUnits is what Take counts for the write that carries it: a
// task's record is between 1 and 2 KB (docs/performance.md, "Task cost").
// A write that takes more leaves the difference to the next write; one
// that takes less, owes it.
const TaskWriteUnits = 2

// Take is what the meter holds now, with the time until now and the
// write that will carry it (a DynamoDB write of TaskWriteUnits), to add
// to the record (AddTo) in that write. Nothing changes until Commit: a
// write that fails, or is tried again, takes again.
func (m *Meter) Take() Taken {
	if m == nil {
		return Taken{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	u := m.pending
	ms := max(now.Sub(m.from), 0).Milliseconds()
	u.LambdaMs += ms
	u.LambdaMBMs += ms * m.memoryMB
	u.DynamoDBWriteRequests++
	u.DynamoDBWriteUnits += TaskWriteUnits
	return Taken{usage: u, until: m.from.Add(time.Duration(ms) * time.Millisecond), key: m.id + "/" + strconv.Itoa(m.commits)}
}

// Commit forgets what a successful write carried. The write itself has
// been counted by then (by the client), and Take had counted it already.
func (m *Meter) Commit(t Taken) {
	if m == nil || t.until.IsZero() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.from = t.until
	m.commits++
	// The time is not held in pending (Take works it out from from).
	u := t.usage
	u.LambdaMs, u.LambdaMBMs = 0, 0
	addCounts(&m.pending, u, -1)
}

// Pending is what the meter holds and no write has carried yet: the
// invocation's loss, if it ends now (tests, logs).
func (m *Meter) Pending() sandstep.TaskUsage {
	if m == nil {
		return sandstep.TaskUsage{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pending
}

// AddTo returns u (nil: nothing so far) plus what t carries, as a new
// value: the record being written may share u with the one read. A
// record that already carries t's key has what that write carried: a
// write whose answer was lost landed, and is made again (by the store, or
// as the invocation's next write), so only what was metered since is
// added.
func (t Taken) AddTo(u *sandstep.TaskUsage) *sandstep.TaskUsage {
	var sum sandstep.TaskUsage
	if u != nil {
		sum = *u
	}
	if t.key == "" {
		return &sum
	}
	addCounts(&sum, t.usage, 1)
	if c := sum.Carried; c != nil && c.Key == t.key {
		addCounts(&sum, c.Usage, -1)
	}
	sum.Carried = &sandstep.CarriedUsage{Key: t.key, Usage: t.usage}
	return &sum
}

// addCounts adds sign times a's counters to sum's.
func addCounts(sum *sandstep.TaskUsage, a sandstep.TaskUsage, sign int) {
	n := func(v int) int { return sign * v }
	sum.LambdaInvocations += n(a.LambdaInvocations)
	sum.LambdaMs += int64(sign) * a.LambdaMs
	sum.LambdaMBMs += int64(sign) * a.LambdaMBMs
	sum.StateTransitions += n(a.StateTransitions)
	sum.DynamoDBReadRequests += n(a.DynamoDBReadRequests)
	sum.DynamoDBWriteRequests += n(a.DynamoDBWriteRequests)
	sum.DynamoDBReadUnits += n(a.DynamoDBReadUnits)
	sum.DynamoDBWriteUnits += n(a.DynamoDBWriteUnits)
	sum.S3GetRequests += n(a.S3GetRequests)
	sum.S3PutRequests += n(a.S3PutRequests)
}
