package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sandstep/sandstep/internal/metrics"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// Inventory is what the reaper reads of the records: every owner's live
// sandboxes and tasks, ended tasks whose notice is pending, held slots and
// quota counters.
type Inventory interface {
	// LiveRecords returns, read at once, the sandbox records not in a
	// terminal state, the tasks not ended, the ended tasks whose
	// completion notice is pending, the counters with their slots, and the
	// deployment's id if one is recorded. It reads an index: eventually
	// consistent, and without what Sweep has not yet put there.
	LiveRecords(ctx context.Context) (*sandstep.Live, error)
	// Counter reads one user's counter, strongly consistent: what it
	// counts, the slots it holds, and the user's slots still held in an
	// earlier layout.
	Counter(ctx context.Context, userID string) (int, []sandstep.Slot, []sandstep.Slot, error)
	// Sweep does one run's share of a sweep of the records, putting into
	// LiveRecords' index what it lacks.
	Sweep(ctx context.Context) (*sandstep.Sweep, error)
	// FoldLegacySlots moves slots kept in an earlier layout (Sweep's
	// Legacy) onto their counters.
	FoldLegacySlots(ctx context.Context, slots []sandstep.Slot) (int, error)
	// RepairQuota sets the user's counter to the slots they hold (those
	// of the earlier layout too) when the two differ (not with dryRun),
	// and reports both.
	RepairQuota(ctx context.Context, userID string, dryRun bool) (counted, held int, err error)
}

// Catalog lists the provider's sandboxes that carry all of labels.
type Catalog interface {
	List(ctx context.Context, labels map[string]string) ([]ProviderSandbox, error)
}

// ActionReap is the audit action of what the reaper changed.
const ActionReap = "sandbox.reap"

// DefaultReapActions bounds the changes of one reaper run.
const DefaultReapActions = 200

// ReapOptions says how the reaper runs.
type ReapOptions struct {
	// DryRun finds and reports, and changes nothing.
	DryRun bool
	// MaxActions bounds the changes of one run (DefaultReapActions when
	// 0); what is left is found again by the next run.
	MaxActions int
	// AfterRestart says no process of this deployment can be at work (the
	// local stack at start): creates in progress are abandoned at once.
	// Tasks are left alone: the local Step Functions API, not yet up,
	// aborts their executions when it starts, and that status change
	// cleans them up.
	AfterRestart bool
}

// ReapReport counts what a run found (and, unless DryRun, dealt with).
type ReapReport struct {
	DryRun bool `json:"dryRun"`
	// Unowned: provider sandboxes of this deployment that no live record
	// owns (none, or a final one), deleted.
	Unowned int `json:"unowned"`
	// Expired: live sandboxes past their deadline (created + ttlMinutes),
	// deleted.
	Expired int `json:"expired"`
	// Abandoned: creating records older than any create can run, failed
	// and their sandbox deleted by name.
	Abandoned int `json:"abandoned"`
	// Gone: records whose sandbox the provider no longer has.
	Gone int `json:"gone"`
	// Finished: deletes left half done, finished.
	Finished int `json:"finished"`
	// Slots: held quota slots whose sandbox is not live, released.
	Slots int `json:"slots"`
	// Quota: counters that drifted from the slots held, repaired.
	Quota int `json:"quota"`
	// Tasks: live tasks whose execution has ended, cleaned up; and ready
	// sandboxes made for a task that no longer holds them, deleted.
	Tasks int `json:"tasks"`
	// Failed: findings that could not be dealt with; found again next run.
	Failed int `json:"failed"`
	// Deferred: findings left to the next run (MaxActions reached, or,
	// for a task's clean-up, too little of the run's time left).
	Deferred int `json:"deferred"`
	// Notices: completion notices attempted again (redrive); not
	// findings, the retries' schedule.
	Notices int `json:"notices"`
	// Lived: records whose sandbox Daytona ended at its ttlMinutes, as its
	// caller asked, marked gone; not findings.
	Lived int `json:"lived"`
}

// Findings is the number of things the run found wrong.
func (r *ReapReport) Findings() int {
	n := 0
	for _, v := range r.kinds() {
		n += v
	}
	return n
}

// kinds are the run's findings by kind, named as in its JSON (the
// ReaperFindings metric's Kind).
func (r *ReapReport) kinds() map[string]int {
	return map[string]int{"unowned": r.Unowned, "expired": r.Expired, "abandoned": r.Abandoned, "gone": r.Gone,
		"finished": r.Finished, "slots": r.Slots, "quota": r.Quota, "tasks": r.Tasks, "failed": r.Failed, "deferred": r.Deferred}
}

// reaping is one run of the reaper.
type reaping struct {
	s      *Service
	opts   ReapOptions
	report *ReapReport
	budget int
	now    time.Time
	// acted holds the ids of the findings acted on, so that one found
	// twice (a record's, then its slot's) is dealt with once.
	acted map[string]bool
	// listed is the provider's listing by name; judged holds the ids of
	// the live records the run has judged.
	listed map[string]ProviderSandbox
	judged map[string]bool
	// lives holds the task lives read this run (taskLife), by task id: a
	// sandbox's judgement may ask for its task's more than once.
	lives map[string]taskLifeRead
}

// taskLifeRead is what taskLife read of a task.
type taskLifeRead struct {
	end   time.Time
	known bool
}

// act runs fix for one finding, counted in *count, unless this is a dry run
// (counted only) or the run's budget is spent (deferred). A fix that fails
// is counted failed and logged.
//
// who names what it acts on for its log lines (sandboxId, userId, taskId,
// as every other line about them does); id is the key of acted.
func (r *reaping) act(ctx context.Context, count *int, what, id string, fix func() error, who ...any) {
	r.acted[id] = true
	if r.opts.DryRun {
		*count++
		return
	}
	if r.budget <= 0 {
		r.report.Deferred++
		return
	}
	r.budget--
	if err := fix(); errors.Is(err, errSettled) {
		r.s.opts.Logger.DebugContext(ctx, "reaper: "+what+": settled meanwhile", who...)
		return
	} else if err != nil {
		r.report.Failed++
		r.s.opts.Logger.ErrorContext(ctx, "reaper: "+what+": not done", append(who, "err", err)...)
		return
	}
	*count++
	r.s.opts.Logger.WarnContext(ctx, "reaper: "+what, who...)
}

// createGrace is how old a creating record, a deleting one (since it was
// marked) or a task waiting for its execution must be before the reaper
// takes it over: no invocation, and so no create or delete, runs longer.
func (r *reaping) createGrace() time.Duration {
	if r.opts.AfterRestart {
		return 0
	}
	return abandonedAfter
}

// Reap makes the records, the quota and the provider agree, whatever a
// crash or a failed cleanup left: it runs on a schedule and at the local
// stack's start. It sees only sandboxes carrying this deployment's label,
// never races a create in flight (a create takes its slot before it calls
// the provider, and a sandbox is judged unowned only by slots read after
// the listing), and a second run right after the first finds nothing.
func (s *Service) Reap(ctx context.Context, opts ReapOptions) (*ReapReport, error) {
	if s.inventory == nil || s.catalog == nil {
		return nil, errors.New("service: Reap needs Deps.Inventory and Deps.Catalog")
	}
	if opts.MaxActions <= 0 {
		opts.MaxActions = DefaultReapActions
	}
	r := &reaping{s: s, opts: opts, report: &ReapReport{DryRun: opts.DryRun}, budget: opts.MaxActions, now: s.opts.Now(), acted: map[string]bool{}, judged: map[string]bool{}}
	// First the run's share of a sweep, so that what it puts into the
	// index is judged now (a dry run writes nothing, so sweeps nothing).
	sw := &sandstep.Sweep{}
	if !opts.DryRun {
		sw = r.sweep(ctx)
		// However the run ends: one that fails after its sweep or its
		// first fixes did them, and nothing finds them again.
		defer r.count(ctx)
	}
	// The live records come before the provider's listing: a record ready
	// then has a sandbox the listing shows, unless it is gone. They come
	// from an index of what is live: a run that finds nothing reads it
	// once, whatever the history.
	found, err := s.inventory.LiveRecords(ctx)
	if err != nil {
		return nil, fmt.Errorf("reaper: list records: %w", err)
	}
	records, live, notices, counted, held := found.Sandboxes, found.Tasks, found.Notices, found.Counted, found.Held
	if s.machine == nil || opts.AfterRestart {
		live = nil // no tasks here, or their executions were lost with the stack
	}
	if !s.sendsNotices() {
		notices = nil
	}
	deployment := found.Deployment
	if deployment == "" {
		// None recorded yet: the one home of the id records it.
		if deployment, err = s.opts.Deployment(ctx); err != nil {
			return nil, fmt.Errorf("reaper: the deployment's id: %w", err)
		}
	}
	listed, err := s.catalog.List(ctx, map[string]string{LabelDeployment: deployment})
	if err != nil {
		return nil, fmt.Errorf("reaper: list provider sandboxes: %w", err)
	}
	r.tasks(ctx, live)
	r.taskSandboxes(ctx, records, found.Tasks)
	// A listed sandbox that neither a live record nor a held slot owns may
	// be a create that took its slot after the read (a create takes it
	// before it calls the provider; the index may also lag, or lack what no
	// sweep has put there yet): its owner's counter (its label names the
	// owner) is read again, strongly consistent, after the listing, to
	// judge by. A slot still held as an item of the earlier layout owns
	// its sandbox too, until a sweep folds it. One without a usable owner
	// label is judged by its record alone (see recheck).
	strays := unowned(listed, records, held)
	if len(strays) > 0 {
		o, err := s.recheck(ctx, strays, ownership{counted: counted, held: held, records: records})
		if err != nil {
			return nil, fmt.Errorf("reaper: read what owns a listed sandbox: %w", err)
		}
		counted, held, records = o.counted, o.held, o.records
		strays = unowned(listed, records, append(slices.Clip(held), o.legacy...))
	}
	r.sandboxes(ctx, listed, records, strays)
	r.quota(ctx, counted, r.slots(ctx, held))
	r.report.Notices = s.redrive(ctx, notices, opts.DryRun, r.createGrace(), r.executionRunning)
	rep := r.report
	s.opts.Logger.InfoContext(ctx, "reaper", "dryRun", rep.DryRun, "findings", rep.Findings(), "unowned", rep.Unowned,
		"expired", rep.Expired, "abandoned", rep.Abandoned, "gone", rep.Gone, "finished", rep.Finished, "slots", rep.Slots,
		"quota", rep.Quota, "tasks", rep.Tasks, "failed", rep.Failed, "deferred", rep.Deferred, "notices", rep.Notices, "lived", rep.Lived,
		"sweptPages", sw.Pages, "indexed", sw.Indexed, "sweepDone", sw.Done)
	return rep, nil
}

// count adds the run's findings to its metrics, ReaperFindings by kind.
func (r *reaping) count(ctx context.Context) {
	for kind, n := range r.report.kinds() {
		if n > 0 {
			metrics.Add(ctx, metrics.ReaperFindings, metrics.Count, float64(n), metrics.Dim("Kind", kind))
		}
	}
}

// sweep does the run's share of a sweep of the records and folds the
// slots of the earlier layout it finds onto their counters. A failure is
// counted; the run goes on with the index as it is, the next run's share
// where this one's stopped.
func (r *reaping) sweep(ctx context.Context) *sandstep.Sweep {
	inv := r.s.inventory
	sw, err := inv.Sweep(ctx)
	if err == nil && len(sw.Legacy) > 0 {
		_, err = inv.FoldLegacySlots(ctx, sw.Legacy)
	}
	if err != nil {
		r.report.Failed++
		r.s.opts.Logger.ErrorContext(ctx, "reaper: sweep", "err", err)
		return &sandstep.Sweep{}
	}
	if sw.Failed > 0 {
		r.report.Failed += sw.Failed
		r.s.opts.Logger.ErrorContext(ctx, "reaper: sweep: live items not indexed", "count", sw.Failed)
	}
	return sw
}

// ownership is what the reaper judges a listed sandbox's owner by.
type ownership struct {
	counted map[string]int      // by user, what their counter counts
	held    []sandstep.Slot     // the slots the counters hold
	legacy  []sandstep.Slot     // slots still held as items of the earlier layout
	records []*sandstep.Sandbox // the live records
}

// recheck reads again, strongly consistent, what may own the strays, and
// returns o with what it read in place of what o had: each labelled
// owner's counter (with the owner's slots of the earlier layout), and the
// record of a stray whose owner label is missing or no user id. Every
// version labels a sandbox with its owner before its deployment, so such
// a sandbox was never a create of ours: only a live record (the index
// lagging) keeps it.
func (s *Service) recheck(ctx context.Context, strays []ProviderSandbox, o ownership) (ownership, error) {
	o.counted, o.held = maps.Clone(o.counted), slices.Clone(o.held)
	read := map[string]error{} // by owner, its counter's read
	for _, ps := range strays {
		err, done := read[ps.Owner]
		if ps.Owner != "" && !done {
			err = s.recount(ctx, ps.Owner, &o)
			read[ps.Owner] = err
		}
		switch code := sandstep.ErrorCode(err); {
		case ps.Owner != "" && err == nil:
		case ps.Owner == "", code == sandstep.EINVALID:
			rec, err := s.sandboxes.GetSandbox(ctx, ps.Name)
			switch code := sandstep.ErrorCode(err); {
			case code == sandstep.ENOTFOUND, code == sandstep.EINVALID: // not a name of ours
			case err != nil:
				return o, err
			case !rec.State.Terminal():
				o.records = append(slices.Clip(o.records), rec)
			}
		default:
			return o, err
		}
	}
	return o, nil
}

// recount puts the owner's counter, read again, in o in place of what o
// had of it.
func (s *Service) recount(ctx context.Context, owner string, o *ownership) error {
	n, slots, legacy, err := s.inventory.Counter(ctx, owner)
	if err != nil {
		return err
	}
	o.held = slices.DeleteFunc(o.held, func(sl sandstep.Slot) bool { return sl.UserID == owner })
	delete(o.counted, owner)
	if n != 0 || len(slots) > 0 {
		o.counted[owner] = n
	}
	o.held, o.legacy = append(o.held, slots...), append(o.legacy, legacy...)
	return nil
}

// unowned returns the listed sandboxes, not destroyed, that no live
// record owns and no held slot names (a held slot's sandbox is the slot's
// to judge).
func unowned(listed []ProviderSandbox, records []*sandstep.Sandbox, held []sandstep.Slot) []ProviderSandbox {
	owned := make(map[string]bool, len(records)+len(held))
	for _, sl := range held {
		owned[sl.SandboxID] = true
	}
	for _, rec := range records {
		owned[rec.ID] = true
	}
	var strays []ProviderSandbox
	for _, ps := range listed {
		if !owned[ps.Name] && ps.State != "destroyed" {
			strays = append(strays, ps)
		}
	}
	return strays
}

// sandboxes deals with every live record, then deletes the strays.
func (r *reaping) sandboxes(ctx context.Context, listed []ProviderSandbox, records []*sandstep.Sandbox, strays []ProviderSandbox) {
	r.listed = make(map[string]ProviderSandbox, len(listed))
	for _, ps := range listed {
		r.listed[ps.Name] = ps
	}
	for _, rec := range records {
		r.judged[rec.ID] = true
		if r.acted[rec.ID] {
			continue // found as a task's sandbox already: counted once
		}
		r.record(ctx, rec, r.alive(rec.ID))
	}
	for _, ps := range strays {
		if ps.State == "destroying" && r.now.Sub(ps.Since) < r.createGrace() {
			continue // a delete of ours at work at Daytona, listed a while
		}
		r.act(ctx, &r.report.Unowned, "deleted a sandbox no live record owns", ps.Name, func() error {
			if err := r.s.provider.Delete(ctx, ps.ID); err != nil {
				return err
			}
			r.auditStray(ctx, ps)
			return nil
		}, "sandboxId", ps.Name, "userId", ps.Owner)
	}
}

// alive says whether the listing shows the sandbox named id, not being
// destroyed.
func (r *reaping) alive(id string) bool {
	ps, found := r.listed[id]
	return found && ps.State != "destroyed" && ps.State != "destroying"
}

// auditStray writes sandbox.reap of a deleted stray that has a record
// (one over while its sandbox still ran): its owner sees in its trail
// that the reaper deleted it. A name of no record of ours has no trail.
func (r *reaping) auditStray(ctx context.Context, ps ProviderSandbox) {
	rec, err := r.s.sandboxes.GetSandbox(ctx, ps.Name)
	switch code := sandstep.ErrorCode(err); {
	case code == sandstep.ENOTFOUND, code == sandstep.EINVALID:
	case err != nil:
		r.s.opts.Logger.ErrorContext(ctx, "reaper: the record of a deleted stray not read; its deletion not audited", "sandboxId", ps.Name, "err", err)
	default:
		r.s.audit(ctx, Call{UserID: rec.Owner, RequestID: "reaper"}, rec, ActionReap, nil, map[string]string{"finding": "unowned"})
	}
}

// record deals with one live record; alive says whether the provider has
// its sandbox.
func (r *reaping) record(ctx context.Context, rec *sandstep.Sandbox, alive bool) {
	s := r.s
	call := Call{UserID: rec.Owner, RequestID: "reaper"}
	switch {
	case rec.State == sandstep.StateCreating:
		if r.now.Sub(rec.CreatedAt) < r.createGrace() {
			return // a create at work
		}
		r.act(ctx, &r.report.Abandoned, "abandoned create failed", rec.ID, func() error {
			rec, err := r.readAgain(ctx, rec.ID, sandstep.StateCreating)
			if err != nil {
				return err
			}
			// By name: the create may have made it without learning its id.
			if err := s.provider.Delete(ctx, rec.ID); err != nil {
				return err
			}
			s.abandon(ctx, rec, errAbandoned)
			s.audit(ctx, call, rec, ActionReap, nil, map[string]string{"finding": "abandoned"})
			return nil
		}, recordAttrs(rec)...)
	case rec.State == sandstep.StateDeleting:
		if r.now.Sub(rec.UpdatedAt) < r.createGrace() {
			return // a delete at work: Daytona's delete may take its time
		}
		r.act(ctx, &r.report.Finished, "half-done delete finished", rec.ID, func() error {
			// The index lags: a delete its owner finished, or asked
			// again (marked anew), since is that delete's.
			rec, err := r.readAgain(ctx, rec.ID, sandstep.StateDeleting)
			if err != nil {
				return err
			}
			if r.now.Sub(rec.UpdatedAt) < r.createGrace() {
				return errSettled
			}
			return r.delete(ctx, call, rec)
		}, recordAttrs(rec)...)
	case !alive:
		r.vanished(ctx, rec)
	case r.expired(ctx, rec):
		r.act(ctx, &r.report.Expired, "sandbox past its deadline deleted", rec.ID, func() error { return r.expire(ctx, rec) }, recordAttrs(rec)...)
	}
}

// vanished deals with a live record whose sandbox the listing lacks. One
// that ended at its deadline (ttlMinutes, which its caller asked for) is
// no finding; one that vanished before it is. Daytona's listing is
// eventually consistent, its get is not: one the get still finds was
// lagged, or left out for good (one in error whose delete Daytona took),
// and past its deadline is deleted as any other.
func (r *reaping) vanished(ctx context.Context, rec *sandstep.Sandbox) {
	s := r.s
	call := Call{UserID: rec.Owner, RequestID: "reaper"}
	count, what := &r.report.Gone, "record of a vanished sandbox marked gone"
	if !r.now.Before(sandboxDeadline(rec)) && !r.taskLifeLeft(ctx, rec) {
		count, what = &r.report.Lived, "record of a sandbox that lived its ttlMinutes marked gone"
	}
	ps, err := s.provider.Get(ctx, cmp.Or(rec.DaytonaID, rec.ID))
	switch {
	case err == nil && ps.State != "destroyed" && ps.State != "destroying":
		if r.expired(ctx, rec) {
			r.act(ctx, &r.report.Expired, "sandbox past its deadline deleted", rec.ID, func() error { return r.expire(ctx, rec) }, recordAttrs(rec)...)
		}
		return
	case err != nil && sandstep.ErrorCode(err) != sandstep.ENOTFOUND:
		// Not known to be gone: no finding yet, the next run asks again.
		r.report.Failed++
		s.opts.Logger.ErrorContext(ctx, "reaper: the sandbox of a record the listing lacks not read", "sandboxId", rec.ID, "userId", rec.Owner, "err", err)
		return
	}
	r.act(ctx, count, what, rec.ID, func() error {
		switch now := s.markGone(ctx, call, rec).State; {
		case now == sandstep.StateGone:
			return nil
		case now == sandstep.StateDeleting || now.Terminal():
			// Its owner deleted it between the records' read and
			// the listing: the delete finishes it.
			return errSettled
		}
		return errors.New("the record was not marked gone")
	}, recordAttrs(rec)...)
}

// expired says whether rec, a live record, is past the deadline its
// sandbox's ttlMinutes set, by more than a create's grace; for a task's
// sandbox, past the life its task's start gave it too (keptByTask).
func (r *reaping) expired(ctx context.Context, rec *sandstep.Sandbox) bool {
	return r.now.After(sandboxDeadline(rec).Add(abandonedAfter)) && !r.keptByTask(ctx, rec)
}

// keptByTask says whether rec is a task's sandbox that its task's start
// kept alive until now: the command's deadline plus the clean-up margin
// (within a create's grace). A start of a version before 854bc55 moved
// Daytona's life so but not the record's ttlMinutes, and a running
// execution calls that version for hours after a deploy. A task that
// cannot be read keeps its sandbox until the next run asks again.
func (r *reaping) keptByTask(ctx context.Context, rec *sandstep.Sandbox) bool {
	end, known := r.taskLife(ctx, rec)
	return !known || !end.IsZero() && !r.now.After(end.Add(abandonedAfter))
}

// taskLifeLeft says whether rec is a task's sandbox still within the life
// its task's start gave it, by more than a create's grace: one that
// vanishes then did not live its life. The start gives Daytona the life
// before it sends the command and takes the deadline after, so Daytona's
// life ends before the deadline plus the margin by as long as the send
// took; the grace keeps a sandbox Daytona ended at it lived. A task not
// read says no: the record's ttlMinutes judges.
func (r *reaping) taskLifeLeft(ctx context.Context, rec *sandstep.Sandbox) bool {
	end, known := r.taskLife(ctx, rec)
	return known && r.now.Before(end.Add(-abandonedAfter))
}

// startedMarginFloor is the shortest clean-up margin a start gave a task's
// sandbox in a version a running execution may still call (it names
// function versions for hours after a deploy): 30 minutes before 7731ef1,
// whose start gives TaskCleanupMargin. A start since 854bc55 records the
// life it gives on the sandbox's ttlMinutes, which the reaper judges
// first: a longer life is kept by the record, and a sandbox an earlier
// version kept for less is judged by the life it was given, not this
// version's (counted lived when Daytona ended it there, deleted 15
// minutes past it when Daytona did not).
const startedMarginFloor = 30 * time.Minute

// taskLife is the end of the life rec's task's start gave it, the
// command's deadline plus the shortest clean-up margin a start still
// called gave (startedMarginFloor; zero: none, as for a
// sandbox no task made, or whose task is gone or never started); known is
// false when the task could not be read.
func (r *reaping) taskLife(ctx context.Context, rec *sandstep.Sandbox) (end time.Time, known bool) {
	if rec.TaskID == "" || r.s.tasks == nil {
		return time.Time{}, true
	}
	if l, ok := r.lives[rec.TaskID]; ok {
		return l.end, l.known
	}
	end, known = r.readTaskLife(ctx, rec)
	if r.lives == nil {
		r.lives = map[string]taskLifeRead{}
	}
	r.lives[rec.TaskID] = taskLifeRead{end, known}
	return end, known
}

// readTaskLife reads taskLife's answer from the task's record.
func (r *reaping) readTaskLife(ctx context.Context, rec *sandstep.Sandbox) (end time.Time, known bool) {
	t, err := r.s.tasks.GetTask(ctx, rec.TaskID)
	switch {
	case sandstep.ErrorCode(err) == sandstep.ENOTFOUND:
		return time.Time{}, true
	case err != nil:
		r.s.opts.Logger.WarnContext(ctx, "reaper: the task of a sandbox past its deadline not read; judged at the next run",
			"sandboxId", rec.ID, "taskId", rec.TaskID, "err", err)
		return time.Time{}, false
	case t.Deadline == nil:
		return time.Time{}, true
	}
	return t.Deadline.Add(startedMarginFloor), true
}

// expire deletes the sandbox of rec, past its deadline. An owner's delete
// that ended it, or is ending it, is that delete's to record; a crashed
// one is finished by a later run's half-done pass, once the index shows it
// deleting.
func (r *reaping) expire(ctx context.Context, rec *sandstep.Sandbox) error {
	rec, err := r.readAgain(ctx, rec.ID, sandstep.StateReady)
	if err != nil {
		return err
	}
	if !r.expired(ctx, rec) {
		// Its life was moved since the index's copy (keepForCollect
		// records the new ttlMinutes): alive by its record.
		return errSettled
	}
	call := Call{UserID: rec.Owner, RequestID: "reaper"}
	r.s.audit(ctx, call, rec, ActionReap, nil, map[string]string{"finding": "expired"})
	return r.delete(ctx, call, rec)
}

// delete deletes rec's sandbox and, when an ended task held it, ends the
// task's sandbox time there: the clean-up that would have (settleTask)
// never came or could not delete it, and the task would otherwise be
// counted until now, its cost growing, for as long as it is read (README,
// "Task cost"). A ready one its task does not hold is an attempt's that
// was killed after Daytona's create: its life, which Daytona billed, is
// added as a discarded attempt's is (one deleting was counted by its
// attempt). Not recorded, the run counts a failure: the delete stands.
func (r *reaping) delete(ctx context.Context, call Call, rec *sandstep.Sandbox) error {
	s := r.s
	if _, err := s.delete(ctx, call, rec); err != nil || rec.TaskID == "" || s.tasks == nil {
		return err
	}
	t, err := s.tasks.GetTask(ctx, rec.TaskID)
	switch {
	case err != nil:
	case t.SandboxID == rec.ID && t.Status.Terminal() && t.Usage != nil && t.Usage.SandboxFrom != nil && t.Usage.SandboxTo == nil:
		_, err = s.settleTask(ctx, t)
	case t.SandboxID != rec.ID && rec.State == sandstep.StateReady:
		lost := discardedSandbox{made: cmp.Or(rec.MadeAt, &rec.CreatedAt).UTC(), deleted: s.opts.Now(), sb: rec}
		_, err = s.tasks.TransitionTask(ctx, t.ID, []sandstep.TaskStatus{t.Status}, t.Status, lost.addTo)
	}
	if err != nil && sandstep.ErrorCode(err) != sandstep.ENOTFOUND {
		// No later run comes back to a final record: the run's failure,
		// which the reaper-failed alarm watches, not a line alone.
		r.report.Failed++
		s.opts.Logger.ErrorContext(ctx, "reaper: the end of a deleted sandbox's time not recorded on its task", "sandboxId", rec.ID, "taskId", rec.TaskID, "err", err)
	}
	return nil
}

// readAgain reads the record the index showed in state want, strongly,
// before the reaper acts on it: the index lags, and a record that has left
// want (or is gone) since is someone else's to settle (errSettled).
func (r *reaping) readAgain(ctx context.Context, id string, want sandstep.State) (*sandstep.Sandbox, error) {
	rec, err := r.s.sandboxes.GetSandbox(ctx, id)
	switch {
	case sandstep.ErrorCode(err) == sandstep.ENOTFOUND, err == nil && rec.State != want:
		return nil, errSettled
	case err != nil:
		return nil, err
	}
	return rec, nil
}

// sandboxDeadline is when the provider's ttlMinutes backstop ends the
// sandbox; the reaper deletes one still alive well after it.
func sandboxDeadline(sb *sandstep.Sandbox) time.Time {
	return sb.CreatedAt.Add(time.Duration(sb.TTLMinutes) * time.Minute)
}

// taskSandboxes deletes the ready sandboxes made for a task that no
// longer holds them: it ended without releasing its sandbox (a clean-up
// killed or failing part-way), or never recorded it (a step killed after
// the create), or names another. live are the tasks not ended, which
// hold theirs. Each is judged by its task read again, strongly, once no
// step that could still record it can be at work.
func (r *reaping) taskSandboxes(ctx context.Context, records []*sandstep.Sandbox, live []*sandstep.Task) {
	s := r.s
	if s.tasks == nil {
		return
	}
	held := make(map[string]bool, len(live))
	for _, t := range live {
		held[t.SandboxID] = true
	}
	for _, rec := range records {
		if rec.TaskID == "" || rec.State != sandstep.StateReady || held[rec.ID] || r.now.Sub(rec.UpdatedAt) < r.createGrace() {
			continue
		}
		t, err := s.tasks.GetTask(ctx, rec.TaskID)
		switch {
		case sandstep.ErrorCode(err) == sandstep.ENOTFOUND:
		case err != nil:
			r.report.Failed++
			s.opts.Logger.ErrorContext(ctx, "reaper: the task of a sandbox not read", "sandboxId", rec.ID, "userId", rec.Owner, "taskId", rec.TaskID, "err", err)
			continue
		case t.SandboxID == rec.ID && (!t.Status.Terminal() || t.KeepSandbox && t.Status != sandstep.TaskCancelled):
			continue // the task's, or kept for its caller until its deadline
		case t.Status.Terminal() && t.FinishedAt != nil && r.now.Sub(*t.FinishedAt) < r.createGrace():
			continue // its clean-up, which follows the end, may be at work
		case t.SandboxID == rec.ID:
			// Ended, not released: its execution's own clean-up does it,
			// unless the execution has ended too (a Collect may still be
			// reading the sandbox).
			if running, _, err := r.executionRunning(ctx, t); err != nil || running {
				if err != nil {
					r.report.Failed++
					s.opts.Logger.ErrorContext(ctx, "reaper: execution status unknown", "taskId", t.ID, "userId", t.Owner, "err", err)
				}
				continue
			}
		}
		r.act(ctx, &r.report.Tasks, "sandbox its task no longer holds deleted", rec.ID, func() error {
			rec, err := r.readAgain(ctx, rec.ID, sandstep.StateReady)
			if err != nil {
				return err
			}
			s.audit(ctx, Call{UserID: rec.Owner, RequestID: "reaper"}, rec, ActionReap, nil, map[string]string{"finding": "task", "taskId": rec.TaskID})
			return r.delete(ctx, Call{UserID: rec.Owner, RequestID: "reaper"}, rec)
		}, "sandboxId", rec.ID, "userId", rec.Owner, "taskId", rec.TaskID)
	}
}

// executionRunning says whether t's execution is still running, and when
// one that is not stopped (zero when not known): not running, at no known
// time, where there is no state machine, or after a restart (none can be;
// the local Step Functions API is not up yet to say so).
func (r *reaping) executionRunning(ctx context.Context, t *sandstep.Task) (bool, time.Time, error) {
	s := r.s
	if r.opts.AfterRestart || s.machine == nil {
		return false, time.Time{}, nil
	}
	return s.machine.Running(ctx, cmp.Or(t.ExecutionARN, s.machine.ExecutionARN(t.ID)))
}

// tasks cleans up live tasks whose execution is no longer running (its
// status-change event was lost, or its start failed after the task was
// accepted).
func (r *reaping) tasks(ctx context.Context, live []*sandstep.Task) {
	s := r.s
	for _, t := range live {
		if r.now.Sub(t.CreatedAt) < r.createGrace() {
			continue // its execution may be starting
		}
		running, stopped, err := r.executionRunning(ctx, t)
		if err != nil {
			r.report.Failed++
			s.opts.Logger.ErrorContext(ctx, "reaper: execution status unknown", "taskId", t.ID, "userId", t.Owner, "err", err)
			continue
		}
		if running || !stopped.IsZero() && r.now.Sub(stopped) < r.createGrace() {
			// Running, or ended a moment ago: its status change's clean-up
			// (task-ended), which records the execution's own error, is
			// due; the reaper is the backstop for one whose event was lost.
			continue
		}
		if !r.opts.DryRun && lastStoreTime(ctx, false) < cancelStoreTime {
			// Its clean-up stores the task's last output first: a run
			// short of that time leaves it to the next.
			r.report.Deferred++
			continue
		}
		r.act(ctx, &r.report.Tasks, "task whose execution ended cleaned up", t.ID, func() error {
			_, err := s.CleanUpTask(ctx, t.ID, &TaskFailure{Error: "Execution.Gone", Cause: "the task's execution is no longer running"})
			if _, outcome := err.(*OutcomeError); outcome {
				return nil
			}
			return err
		}, "taskId", t.ID, "userId", t.Owner, "sandboxId", t.SandboxID)
	}
}

// slots releases held slots whose sandbox record is final, or missing
// past the create grace (a create that died before its record was
// written: its sandbox, if the provider made it, is deleted by name
// first), and returns the slots still held. A live record the run has not
// judged (the index lacks it: an earlier version wrote it without the key)
// is judged here as the index's are, not a day later after a sweep.
func (r *reaping) slots(ctx context.Context, held []sandstep.Slot) []sandstep.Slot {
	s := r.s
	kept := held[:0:0]
	for _, sl := range held {
		if r.acted[sl.SandboxID] {
			// Its record's finding has dealt with it; quota's repair reads
			// the counter again before it changes anything.
			continue
		}
		rec, err := s.sandboxes.GetSandbox(ctx, sl.SandboxID)
		missing := sandstep.ErrorCode(err) == sandstep.ENOTFOUND
		if err == nil && !rec.State.Terminal() && !r.judged[rec.ID] {
			r.judged[rec.ID] = true
			if r.record(ctx, rec, r.alive(rec.ID)); r.acted[rec.ID] {
				continue // its record's finding deals with the slot
			}
		}
		switch {
		case err == nil && !rec.State.Terminal(),
			missing && r.now.Sub(sl.ReservedAt) < r.createGrace(), // a create at work
			// Ended a moment ago: the call that ended it (a failed
			// create's clean-up, a status finding it gone) releases the
			// slot in its next write; one still held once no invocation
			// can be at work is the reaper's.
			err == nil && r.now.Sub(rec.UpdatedAt) < r.createGrace():
			kept = append(kept, sl)
			continue
		case err != nil && !missing:
			r.report.Failed++
			s.opts.Logger.ErrorContext(ctx, "reaper: the record of a held slot not read", "sandboxId", sl.SandboxID, "userId", sl.UserID, "err", err)
			kept = append(kept, sl)
			continue
		}
		released := false
		r.act(ctx, &r.report.Slots, "slot of a sandbox that is not live released", sl.SandboxID, func() error {
			if missing {
				if err := s.provider.Delete(ctx, sl.SandboxID); err != nil {
					return err
				}
			}
			freed, err := s.quota.ReleaseSlot(ctx, sl.UserID, sl.SandboxID)
			if err != nil {
				return err
			}
			released = true // not held any more, whoever freed it
			if !freed {
				// Freed since the scan read it: a task's clean-up earlier
				// in this run, or its owner's delete.
				return errSettled
			}
			return nil
		}, "sandboxId", sl.SandboxID, "userId", sl.UserID)
		if !released {
			kept = append(kept, sl)
		}
	}
	return kept
}

// quota repairs the counters that differ from the slots held
// (RepairQuota counts those of the earlier layout too: a create counted
// each). counters were read with the slots, before slots released any: a counter
// a release just corrected differs here, and RepairQuota's own read finds
// no drift.
func (r *reaping) quota(ctx context.Context, counters map[string]int, held []sandstep.Slot) {
	s := r.s
	count := map[string]int{}
	for _, sl := range held {
		count[sl.UserID]++
	}
	for user, n := range counters {
		if n == count[user] {
			continue
		}
		// The scans are no snapshot: RepairQuota looks again, consistently,
		// and repairs only a counter that still differs; it only looks when
		// the run may change nothing (a dry run, or its budget spent).
		look := r.opts.DryRun || r.budget <= 0
		counted, holding, err := s.inventory.RepairQuota(ctx, user, look)
		switch {
		case err != nil:
			r.report.Failed++
			s.opts.Logger.ErrorContext(ctx, "reaper: quota counter not repaired", "userId", user, "err", err)
		case counted == holding: // no drift after all
		case r.opts.DryRun:
			r.report.Quota++
		case look:
			r.report.Deferred++
		default:
			r.budget--
			r.report.Quota++
			s.opts.Logger.WarnContext(ctx, "reaper: quota counter repaired", "userId", user)
		}
	}
}

// errSettled is a finding someone else settled after the reaper read
// it: nothing to do, and nothing failed.
var errSettled = errors.New("settled meanwhile")

// errAbandoned is the cause recorded on an abandoned create.
var errAbandoned = sandstep.Errorf(sandstep.EINTERNAL, "the create was abandoned: the process creating the sandbox ended before it was ready")

// recordAttrs names rec and its owner on a log line.
func recordAttrs(rec *sandstep.Sandbox) []any {
	return []any{"sandboxId", rec.ID, "userId", rec.Owner}
}
