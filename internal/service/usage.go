package service

import (
	"context"
	"time"

	"github.com/sandstep/sandstep/internal/cost"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// A task's usage (README, "Task cost"): each step's invocation carries a
// cost.Meter in its context, and every write of the task's record takes
// what the meter holds onto the record, in the write it makes anyway.

// meteredTasks is the Tasks role with the meter emptied into each write.
type meteredTasks struct{ Tasks }

func (m meteredTasks) PutTask(ctx context.Context, t *sandstep.Task) error {
	meter := cost.MeterFrom(ctx)
	if meter == nil {
		return m.Tasks.PutTask(ctx, t)
	}
	taken := meter.Take()
	c := *t
	c.Usage = taken.AddTo(t.Usage)
	if err := m.Tasks.PutTask(ctx, &c); err != nil {
		return err
	}
	meter.Commit(taken)
	t.Usage = c.Usage
	return nil
}

func (m meteredTasks) TransitionTask(ctx context.Context, id string, from []sandstep.TaskStatus, to sandstep.TaskStatus, update func(*sandstep.Task)) (*sandstep.Task, error) {
	meter := cost.MeterFrom(ctx)
	if meter == nil {
		return m.Tasks.TransitionTask(ctx, id, from, to, update)
	}
	var taken cost.Taken
	t, err := m.Tasks.TransitionTask(ctx, id, from, to, func(r *sandstep.Task) {
		// A record without usage is an older version's (every task this
		// version accepts has one from its first write): what it used is
		// not known, and a part of it would be shown as its whole cost.
		known := r.Usage != nil
		if update != nil {
			update(r)
		}
		// Taken again on each attempt: a write that failed carried nothing.
		taken = cost.Taken{}
		if known {
			taken = meter.Take()
			r.Usage = taken.AddTo(r.Usage)
		}
	})
	if err == nil {
		meter.Commit(taken)
	}
	return t, err
}

// preparedUsage is the Prepare step of a task accepted through the API,
// counted when it is accepted: that step only reads the record (one
// invocation, one state, one read) and writes nothing that could carry
// it. Its time is not known then, and is not counted.
func preparedUsage() *sandstep.TaskUsage {
	return &sandstep.TaskUsage{LambdaInvocations: 1, StateTransitions: 1, DynamoDBReadRequests: 1, DynamoDBReadUnits: 1}
}

// unprepared takes back from r the Prepare preparedUsage counted: its
// execution was refused, so that step never ran. Nothing left, the task
// shows no usage (README, "Completion notices": absent when the task
// never got as far as its first step), not a usage of zeros.
func unprepared(r *sandstep.Task) {
	if r.Usage == nil {
		return
	}
	u, p := *r.Usage, preparedUsage()
	u.LambdaInvocations -= p.LambdaInvocations
	u.StateTransitions -= p.StateTransitions
	u.DynamoDBReadRequests -= p.DynamoDBReadRequests
	u.DynamoDBReadUnits -= p.DynamoDBReadUnits
	r.Usage = &u
	if u == (sandstep.TaskUsage{}) {
		r.Usage = nil
	}
}

// Prices answers the deployment's price table (PRICE_TABLE_REF's
// document, or cost.Defaults); it is asked on first need.
type Prices func(context.Context) (*cost.Table, error)

// priced fills in what a reader sees of t's usage and its estimated
// cost, as of now. A price table that cannot be read leaves the cost out
// (the usage is still shown) and says why in the log.
func (s *Service) priced(ctx context.Context, t *sandstep.Task) *sandstep.Task {
	if t == nil || t.Usage == nil {
		return t
	}
	c := *t
	c.Usage = cost.Shown(t.Usage, s.opts.Now())
	table, err := s.prices(ctx)
	if err != nil {
		s.opts.Logger.ErrorContext(ctx, "task cost not estimated", "taskId", t.ID, "err", err)
		return &c
	}
	c.Cost = cost.Estimate(c.Usage, table)
	return &c
}

func (s *Service) prices(ctx context.Context) (*cost.Table, error) {
	if s.opts.Prices == nil {
		return cost.Defaults(), nil
	}
	return s.opts.Prices(ctx)
}

// sandboxUsage starts the usage of t's sandbox sb: its size, and its life
// from Daytona's create (a record without that time: from the record's).
func sandboxUsage(r *sandstep.Task, sb *sandstep.Sandbox) {
	u := cost.Taken{}.AddTo(r.Usage)
	u.VCPU, u.MemoryGiB, u.DiskGiB = cost.Size(sb.Size, sb.Resources)
	from := sb.CreatedAt.UTC()
	if sb.MadeAt != nil {
		from = sb.MadeAt.UTC()
	}
	// The lives of sandboxes that ended before it (discardedSandbox.addTo)
	// stay in the span, its start moved back by them.
	if u.SandboxFrom != nil && u.SandboxTo != nil {
		from = from.Add(-max(u.SandboxTo.Sub(*u.SandboxFrom), 0))
	}
	u.SandboxFrom, u.SandboxTo = &from, nil
	r.Usage = u
}

// discardedSandbox is the sandbox a failed attempt of a task's create
// made and deleted (none: made zero): Daytona bills its life all the same.
type discardedSandbox struct {
	made, deleted time.Time
	sb            *sandstep.Sandbox
}

// add is createPlan.discarded.
func (d *discardedSandbox) add(sb *sandstep.Sandbox, deleted time.Time) {
	d.made, d.deleted, d.sb = *sb.MadeAt, deleted, sb
}

// addTo adds the sandbox's life to r's usage, and its size when the usage
// has none yet (no sandbox of the task's lived): a record without usage
// (an older version's) stays without. The life goes into the span older
// versions know (its start moved back by it; an ended span when none
// was), not a field of its own: they write the task whole, without the
// fields they do not know, and its cost would go down.
func (d *discardedSandbox) addTo(r *sandstep.Task) {
	if d.sb == nil || r.Usage == nil {
		return
	}
	u := cost.Taken{}.AddTo(r.Usage)
	if u.SandboxFrom == nil {
		at := d.deleted.UTC()
		u.SandboxFrom, u.SandboxTo = &at, &at
	}
	from := u.SandboxFrom.Add(-max(d.deleted.Sub(d.made), 0))
	u.SandboxFrom = &from
	if u.VCPU == 0 {
		u.VCPU, u.MemoryGiB, u.DiskGiB = cost.Size(d.sb.Size, d.sb.Resources)
	}
	r.Usage = u
}

// sandboxEnded ends the usage of t's sandbox at at, once.
func sandboxEnded(r *sandstep.Task, at time.Time) {
	if r.Usage == nil || r.Usage.SandboxFrom == nil || r.Usage.SandboxTo != nil {
		return
	}
	u := *r.Usage
	at = at.UTC()
	u.SandboxTo = &at
	r.Usage = &u
}
