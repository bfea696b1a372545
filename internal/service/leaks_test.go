package service

import (
	"context"
	"encoding/base64"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// liveSlots is how many slots user holds, read strongly.
func (h *faultHarness) liveSlots(t *testing.T, user string) int {
	t.Helper()
	q, err := h.store.GetQuota(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return q.Active
}

// A CreateTaskSandbox killed after its sandbox was made (and committed
// ready) but before the task recorded it leaves a ready sandbox no task
// names; the task's clean-up finds no SandboxID. The reaper deletes it
// once the task no longer holds it (the sandbox's taskId), long before its
// ttl backstop (the task's timeout + 45 min).
func TestAKilledSandboxStepsSandboxIsDeleted(t *testing.T) {
	h := newFaultHarness(t, 3)
	ctx := context.Background()
	tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Sandbox: fullCreate, Command: "make"}) // default timeout: MAX_TASK_DURATION
	if err != nil {
		t.Fatal(err)
	}
	// Find the call that records the sandbox on the task, and kill the
	// process there.
	h.f.arm(-1, faultNone)
	probe := newFaultHarness(t, 3)
	ptk, err := probe.svc.StartTask(ctx, alice(), TaskInput{Sandbox: fullCreate, Command: "make"})
	if err != nil {
		t.Fatal(err)
	}
	probe.f.arm(-1, faultNone)
	if _, err := probe.svc.CreateTaskSandbox(ctx, TaskStep{TaskID: ptk.ID, UserID: "alice"}); err != nil {
		t.Fatal(err)
	}
	at := -1
	for i, c := range probe.f.trace() {
		if c == "dynamodb task "+string(sandstep.TaskQueued) {
			at = i
		}
	}
	if at < 0 {
		t.Fatalf("no write of the task's sandbox in %q", probe.f.trace())
	}
	h.f.arm(at, faultKill)
	if _, died := h.run(func() error {
		_, err := h.svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: "alice"})
		return err
	}); !died {
		t.Fatalf("the process did not die; calls %q", h.f.trace())
	}
	t.Logf("killed at the last of %q", h.f.trace())
	h.f.disarm()
	// The state machine's Catch: the task's clean-up.
	if _, err := h.svc.CleanUpTask(ctx, tk.ID, &TaskFailure{Error: "Lambda.Unknown", Cause: "the process died"}); err != nil {
		if _, outcome := err.(*OutcomeError); !outcome {
			t.Fatalf("clean-up: %v", err)
		}
	}
	got, err := h.store.GetTask(ctx, tk.ID)
	if err != nil || !got.Status.Terminal() {
		t.Fatalf("task after its clean-up = %+v, %v; want it ended", got, err)
	}
	// The reaper's runs over the next two hours: every task is over.
	h.reap(t)
	for range 8 {
		h.clock.Set(h.clock.Now().Add(15 * time.Minute))
		if _, err := h.reaper.Reap(ctx, ReapOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if live := h.provider.live(); len(live) != 0 {
		t.Errorf("2h after the task ended, %d Daytona sandbox(es) still run: %v", len(live), live)
	}
	if n := h.liveSlots(t, "alice"); n != 0 {
		t.Errorf("2h after the task ended, alice holds %d slot(s), want 0", n)
	}
}

// stopFailingSessions are sessions whose command cannot be stopped: the
// sandbox is started, but its toolbox does not answer the session's
// deletion (a runaway command starving it, say).
type stopFailingSessions struct{ fakeSessions }

func (stopFailingSessions) StopCommand(context.Context, string, string) error {
	return sandstep.Errorf(sandstep.ETRANSIENT, "daytona: stop the task's command: toolbox timed out")
}

// A clean-up whose StopCommand fails (the sandbox started, its toolbox not
// answering) deletes the sandbox all the same: the delete ends the command
// with it, and once the task has ended nothing would ask again.
func TestAnUnstoppableCommandsSandboxIsDeleted(t *testing.T) {
	h := newFaultHarness(t, 3)
	ctx := context.Background()
	h.f.arm(-1, faultNone)
	tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Sandbox: fullCreate, Command: "make"})
	if err != nil {
		t.Fatal(err)
	}
	next, err := h.svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.StartTaskCommand(ctx, *next); err != nil {
		t.Fatal(err)
	}
	// The deployment's clean-ups, whose kill of the command fails.
	opts := Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: h.clock.Now}
	stuck, err := New(Deps{Provider: h.provider, Sandboxes: h.store, Quota: h.store, Idempotency: h.store, Audit: h.store,
		Inventory: h.store, Catalog: h.provider, Tasks: h.store, Objects: h.svc.objects, Machine: endedMachine{}, Sessions: stopFailingSessions{}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	failure := &TaskFailure{Error: "Sandbox.Transient", Cause: "the check failed"}
	// The clean-up step and its 8 retries, then the ended execution's.
	for i := range 10 {
		if _, err := stuck.CleanUpTask(ctx, tk.ID, failure); err == nil {
			t.Fatalf("clean-up %d succeeded", i)
		}
	}
	got, err := h.store.GetTask(ctx, tk.ID)
	if err != nil || !got.Status.Terminal() {
		t.Fatalf("task = %+v, %v; want it ended", got, err)
	}
	// The reaper, every 15 minutes for two hours.
	for range 8 {
		h.clock.Set(h.clock.Now().Add(15 * time.Minute))
		if _, err := stuck.Reap(ctx, ReapOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sb, err := h.store.GetSandbox(ctx, got.SandboxID)
	if err != nil {
		t.Fatal(err)
	}
	if live := h.provider.live(); len(live) != 0 {
		t.Errorf("2h after task %s ended %s, its sandbox %s still runs (record %s)", tk.ID, got.Status, sb.ID, sb.State)
	}
	if n := h.liveSlots(t, "alice"); n != 0 {
		t.Errorf("2h after the task ended, alice holds %d slot(s), want 0", n)
	}
}

// runningTask starts alice's task on h without faults, up to its command
// running.
func runningTask(t *testing.T, h *faultHarness) *sandstep.Task {
	t.Helper()
	ctx := context.Background()
	h.f.arm(-1, faultNone)
	tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Sandbox: fullCreate, Command: "make"})
	if err != nil {
		t.Fatal(err)
	}
	next, err := h.svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.StartTaskCommand(ctx, *next); err != nil {
		t.Fatal(err)
	}
	return tk
}

// A cancel killed after it wrote the task cancelled and stopped the
// execution, before it let go of the sandbox, whose execution's ended
// event is then lost: the reaper deletes the sandbox its ended task still
// names.
func TestAKilledCancelsSandboxIsDeleted(t *testing.T) {
	ctx := context.Background()
	probe := newFaultHarness(t, 3)
	ptk := runningTask(t, probe)
	probe.f.arm(-1, faultNone)
	if _, err := probe.svc.CancelTask(ctx, alice(), ptk.ID); err != nil {
		t.Fatal(err)
	}
	at := -1
	for i, c := range probe.f.trace() {
		if c == "dynamodb deleting" && at < 0 {
			at = i
		}
	}
	if at < 0 {
		t.Fatalf("no release of the sandbox in %q", probe.f.trace())
	}
	h := newFaultHarness(t, 3)
	tk := runningTask(t, h)
	h.f.arm(at, faultKill)
	if _, died := h.run(func() error {
		_, err := h.svc.CancelTask(ctx, alice(), tk.ID)
		return err
	}); !died {
		t.Fatalf("the process did not die; calls %q", h.f.trace())
	}
	t.Logf("killed at the last of %q", h.f.trace())
	h.f.disarm()
	got, err := h.store.GetTask(ctx, tk.ID)
	if err != nil || got.Status != sandstep.TaskCancelled {
		t.Fatalf("task = %+v, %v; want it cancelled", got, err)
	}
	// The execution was stopped; its status change is lost. The reaper,
	// every 15 minutes for two hours.
	for range 8 {
		h.clock.Set(h.clock.Now().Add(15 * time.Minute))
		if _, err := h.reaper.Reap(ctx, ReapOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if live := h.provider.live(); len(live) != 0 {
		t.Errorf("2h after task %s was cancelled, its sandbox still runs: %v", tk.ID, live)
	}
	if n := h.liveSlots(t, "alice"); n != 0 {
		t.Errorf("2h after the cancel, alice holds %d slot(s), want 0", n)
	}
}

// erroredDeletedCatalog lists as Daytona's GET /sandbox does by default
// (includeErroredDeleted false): without the sandboxes whose deletion
// failed (state error, desired state destroyed), which its get by id
// still returns.
type erroredDeletedCatalog struct {
	*fakeProvider
	erroredDeleted map[string]bool
}

func (c erroredDeletedCatalog) List(ctx context.Context, labels map[string]string) ([]ProviderSandbox, error) {
	all, err := c.fakeProvider.List(ctx, labels)
	var out []ProviderSandbox
	for _, ps := range all {
		if !c.erroredDeleted[ps.Name] {
			out = append(out, ps)
		}
	}
	return out, err
}

// A ready record whose sandbox the listing lacks while Daytona's get still
// finds it is the listing lagging, until the record is past its deadline:
// then it is deleted as any other. Daytona's listing lacks for good a
// sandbox whose delete it took in state error (its get still returns it).
func TestReapExpiresASandboxTheListingLacksForGood(t *testing.T) {
	ctx := context.Background()
	clk := &settableClock{t: time.Now()}
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 10, Now: clk.Now})
	p := newFakeProvider()
	cat := erroredDeletedCatalog{p, map[string]bool{}}
	svc := newReaper(t, st, p, st, cat)
	svc.opts.Now = clk.Now
	sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	if sw, err := st.Sweep(ctx); err != nil || !sw.Done {
		t.Fatalf("sweep = %+v, %v", sw, err)
	}
	// Its lifetime's end: Daytona's delete of it fails.
	clk.Set(clk.Now().Add(time.Duration(sb.TTLMinutes) * time.Minute))
	p.mu.Lock()
	p.sandboxes[sb.ID].state = "error"
	p.mu.Unlock()
	cat.erroredDeleted[sb.ID] = true
	// A day of reaper runs, every 5 minutes, all well past the deadline.
	var total ReapReport
	for range 24 * 12 {
		clk.Set(clk.Now().Add(5 * time.Minute))
		rep, err := svc.Reap(ctx, ReapOptions{})
		if err != nil {
			t.Fatal(err)
		}
		total.Expired += rep.Expired
		total.Gone += rep.Gone
		total.Failed += rep.Failed
	}
	got, err := st.GetSandbox(ctx, sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State == sandstep.StateReady || len(p.live()) != 0 {
		t.Errorf("a day past its deadline: record %s, Daytona sandboxes %v; reaper totals %+v (nothing expired, nothing failed)", got.State, p.live(), total)
	}
	if q, _ := st.GetQuota(ctx, "alice"); q.Active != 0 {
		t.Errorf("a day past its deadline alice holds %d slot(s), want 0", q.Active)
	}
}

// flakyReads is the store whose next failReads sandbox reads fail, as a
// throttled DynamoDB read does.
type flakyReads struct {
	*store.Store
	mu        sync.Mutex
	failReads int
}

func (s *flakyReads) GetSandbox(ctx context.Context, id string) (*sandstep.Sandbox, error) {
	s.mu.Lock()
	fail := s.failReads > 0
	if fail {
		s.failReads--
	}
	s.mu.Unlock()
	if fail {
		return nil, sandstep.Errorf(sandstep.ETRANSIENT, "dynamodb: throttled")
	}
	return s.Store.GetSandbox(ctx, id)
}

// CreateTaskSandbox asked again after it succeeded (its answer lost) whose
// read of the task's sandbox fails (throttled) is asked again, rather than
// making a second sandbox in the first one's place on the task.
func TestARetriedSandboxStepKeepsItsSandbox(t *testing.T) {
	ctx := context.Background()
	p := newFakeProvider()
	var reads *flakyReads
	svc, st, clk := newTaskService(t, p, func(st *store.Store, d *Deps) {
		reads = &flakyReads{Store: st}
		d.Sandboxes, d.Machine = reads, endedMachine{}
	})
	tk, err := svc.StartTask(ctx, alice(), TaskInput{Command: "make"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	// Its answer is lost; the state machine asks again, and the read of
	// the task's sandbox is throttled once.
	reads.mu.Lock()
	reads.failReads = 1
	reads.mu.Unlock()
	if _, err := svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: "alice"}); sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
		t.Fatalf("the retry whose read failed: %v, want it transient (asked again)", err)
	}
	second, err := svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if second.SandboxID != first.SandboxID {
		t.Errorf("the retry made a second sandbox %s beside the task's %s", second.SandboxID, first.SandboxID)
	}
	if _, err := svc.StartTaskCommand(ctx, *second); err != nil {
		t.Fatal(err)
	}
	// The task ends (cancelled, say) and is cleaned up without a fault.
	if _, err := svc.CancelTask(ctx, alice(), tk.ID); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		clk.Set(clk.Now().Add(15 * time.Minute))
		if _, err := svc.Reap(ctx, ReapOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if live := p.live(); len(live) != 0 {
		t.Errorf("2h after the task's clean-up, Daytona sandboxes %v still run (first %s, second %s)", live, first.SandboxID, second.SandboxID)
	}
	if q, _ := st.GetQuota(ctx, "alice"); q.Active != 0 {
		t.Errorf("2h after the task's clean-up alice holds %d slot(s), want 0", q.Active)
	}
}

// A clean-up that read the task before a sandbox step still at work (its
// execution stopped by an operator) recorded its sandbox releases nothing
// from that read; the reaper deletes the sandbox the ended task names.
func TestASandboxRecordedBehindTheCleanUpIsDeleted(t *testing.T) {
	ctx := context.Background()
	p := newFakeProvider()
	var tasks *endFailingTasks
	svc, st, clk := newTaskService(t, p, func(st *store.Store, d *Deps) {
		tasks = &endFailingTasks{Store: st}
		d.Tasks, d.Machine = tasks, endedMachine{}
	})
	tk, err := svc.StartTask(ctx, alice(), TaskInput{Command: "make"})
	if err != nil {
		t.Fatal(err)
	}
	// The execution is stopped while its CreateSandbox step runs; that
	// step's write lands between the ended execution's clean-up's read
	// of the task and its write of the task's end.
	var made *TaskStep
	tasks.onEnd(func() {
		var err error
		if made, err = svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: "alice"}); err != nil {
			t.Errorf("the sandbox step: %v", err)
		}
	})
	_, err = svc.CleanUpTask(ctx, tk.ID, &TaskFailure{Error: "Execution.ABORTED", Cause: "the execution ended aborted"})
	if _, outcome := err.(*OutcomeError); !outcome {
		t.Fatalf("clean-up: %v", err)
	}
	got, err := st.GetTask(ctx, tk.ID)
	if err != nil || got.Status != sandstep.TaskFailed || made == nil || got.SandboxID != made.SandboxID {
		t.Fatalf("task = %+v, %v; want it failed, naming the sandbox the step made", got, err)
	}
	for range 8 {
		clk.Set(clk.Now().Add(15 * time.Minute))
		if _, err := svc.Reap(ctx, ReapOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sb, err := st.GetSandbox(ctx, got.SandboxID)
	if err != nil {
		t.Fatal(err)
	}
	if live := p.live(); len(live) != 0 {
		t.Errorf("2h after task %s ended %s, its sandbox %s still runs (record %s)", tk.ID, got.Status, sb.ID, sb.State)
	}
	if q, _ := st.GetQuota(ctx, "alice"); q.Active != 0 {
		t.Errorf("2h after the task ended alice holds %d slot(s), want 0", q.Active)
	}
}

// A sandbox step whose write of the task's sandbox fails (the task
// cancelled meanwhile) deletes the sandbox, the only holder of its clone's
// read-only token, and revokes the token.
func TestDeletedTaskSandboxRevokesItsCloneToken(t *testing.T) {
	ctx := context.Background()
	// Where the task's write of its sandbox comes.
	probe, _ := admissionHarness(t)
	probe.svc.repoAccess = &fakeRepoAccess{life: time.Hour, now: probe.clock.Now}
	pstep := startTask(t, probe, "github:octo/hello", "1")
	probe.f.arm(-1, faultNone)
	if _, err := probe.svc.CreateTaskSandbox(ctx, pstep); err != nil {
		t.Fatal(err)
	}
	at := -1
	for i, c := range probe.f.trace() {
		if c == "dynamodb task "+string(sandstep.TaskQueued) {
			at = i
		}
	}
	if at < 0 {
		t.Fatalf("no write of the task's sandbox in %q", probe.f.trace())
	}

	h, _ := admissionHarness(t)
	access := &fakeRepoAccess{life: time.Hour, now: h.clock.Now}
	h.svc.repoAccess = access
	step := startTask(t, h, "github:octo/hello", "1")
	h.f.arm(at, faultError)
	_, err := h.svc.CreateTaskSandbox(ctx, step)
	if err == nil {
		t.Fatalf("the step succeeded; calls %q", h.f.trace())
	}
	t.Logf("step failed at the last of %q: %v", h.f.trace(), err)
	h.f.disarm()
	if live := h.provider.live(); len(live) != 0 {
		t.Fatalf("sandboxes %v run; want the step's deleted", live)
	}
	if len(access.minted) != 1 || len(access.revoked) != 1 {
		t.Errorf("minted %v, revoked %d; want the clone's token revoked with its sandbox gone", access.minted, len(access.revoked))
	}
}

// newTaskService is a service whose tasks run in p's sandboxes, on a table
// of its own (st) at a clock the test sets; its executions run on, and the
// reaper sees p. set, when given, changes its dependencies first.
func newTaskService(t *testing.T, p *fakeProvider, set func(*store.Store, *Deps)) (*Service, *store.Store, *settableClock) {
	t.Helper()
	clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5, Now: clk.Now})
	deps := Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st, Inventory: st, Catalog: p,
		Tasks: st, Objects: newFakeObjects(), Machine: fakeMachine{}, Sessions: fakeSessions{}}
	if set != nil {
		set(st, &deps)
	}
	svc, err := New(deps, Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return svc, st, clk
}

// The reaper deletes a task's ready sandbox once its task no longer holds
// it, and only then: a running task's, one kept for its caller, and one a
// step may still record are left alone.
func TestReaperReleasesWhatATaskNoLongerHolds(t *testing.T) {
	tests := []struct {
		name string
		keep bool
		// ran is how long the task has run when then does to it what the
		// case is about, at now; the reaper runs after that.
		ran   time.Duration
		then  func(t *testing.T, st *store.Store, tk *sandstep.Task, now time.Time)
		after time.Duration
		// ended says the task's execution has ended (else it runs: a
		// live task's, or an ended one's Collect or clean-up to come).
		ended   bool
		deleted bool
	}{
		{name: "a running task's", then: func(*testing.T, *store.Store, *sandstep.Task, time.Time) {}, after: time.Hour},
		{name: "an ended task's, its clean-up still to come", ran: 2 * time.Hour, then: endAs(sandstep.TaskSucceeded), after: 5 * time.Minute},
		{name: "an ended task's, not released", then: endAs(sandstep.TaskFailed), after: 20 * time.Minute, ended: true, deleted: true},
		{name: "an ended task's, its execution still at work", then: endAs(sandstep.TaskTimedOut), after: 20 * time.Minute},
		{name: "kept for the caller of a task that succeeded", keep: true, then: endAs(sandstep.TaskSucceeded), after: time.Hour, ended: true},
		{name: "kept, but the task was cancelled", keep: true, then: endAs(sandstep.TaskCancelled), after: 20 * time.Minute, ended: true, deleted: true},
		{name: "the running task names another", then: rerecord(sandstep.TaskRunning, "sbx_another"), after: 20 * time.Minute, deleted: true},
		{name: "not yet recorded by its queued task: a step may be at work", then: unrecorded, after: 5 * time.Minute},
		{name: "never recorded by its queued task", then: unrecorded, after: 20 * time.Minute, deleted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			p := newFakeProvider()
			svc, st, clk := newTaskService(t, p, nil)
			tk, step := runningTaskIn(t, svc, TaskInput{Command: "make", TimeoutSeconds: intp(3 * 3600), KeepSandbox: tt.keep})
			clk.Set(clk.Now().Add(tt.ran))
			tt.then(t, st, tk, clk.Now())
			clk.Set(clk.Now().Add(tt.after))
			if tt.ended {
				svc.machine = endedMachine{}
			}
			if _, err := svc.Reap(ctx, ReapOptions{}); err != nil {
				t.Fatal(err)
			}
			sb, err := st.GetSandbox(ctx, step.SandboxID)
			if err != nil {
				t.Fatal(err)
			}
			if gone := sb.State == sandstep.StateDeleted; gone != tt.deleted || len(p.live()) == 0 != tt.deleted {
				t.Errorf("sandbox %s, Daytona's %v; want deleted: %v", sb.State, p.live(), tt.deleted)
			}
			if q, _ := st.GetQuota(ctx, "alice"); (q.Active == 0) != tt.deleted {
				t.Errorf("alice holds %d slot(s); want the sandbox's released: %v", q.Active, tt.deleted)
			}
		})
	}
}

// endAs ends the running task as status without releasing its sandbox,
// as a clean-up killed part-way leaves it.
func endAs(status sandstep.TaskStatus) func(*testing.T, *store.Store, *sandstep.Task, time.Time) {
	return rerecord(status, "")
}

// rerecord writes the task status (ended at now, if it ends), naming
// sandboxID (""; the one it has).
func rerecord(status sandstep.TaskStatus, sandboxID string) func(*testing.T, *store.Store, *sandstep.Task, time.Time) {
	return func(t *testing.T, st *store.Store, tk *sandstep.Task, now time.Time) {
		t.Helper()
		if _, err := st.TransitionTask(context.Background(), tk.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, status, func(r *sandstep.Task) {
			if sandboxID != "" {
				r.SandboxID = sandboxID
			}
			if status.Terminal() {
				r.FinishedAt = &now
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// unrecorded is the task as it was before its sandbox step recorded the
// sandbox: queued, naming none.
func unrecorded(t *testing.T, st *store.Store, tk *sandstep.Task, _ time.Time) {
	t.Helper()
	if _, err := st.TransitionTask(context.Background(), tk.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskQueued, func(r *sandstep.Task) {
		r.SandboxID, r.SessionID, r.CommandID = "", "", ""
	}); err != nil {
		t.Fatal(err)
	}
}

// README: an error's "sandboxId" names "a sandbox the failed request left
// behind", and for POST /api/agent/execute "an error after it was made
// whose delete also failed names it in sandboxId". A create whose
// sandbox Daytona made but whose setup failed (here the upload), and whose
// clean-up delete failed too, leaves the sandbox listed deleting and
// counted in the caller's quota: the answer must name it, so the caller
// can look at it or delete it.
func TestFailedSetupWhoseDeleteFailedNamesTheSandbox(t *testing.T) {
	files := []File{{Path: "run.sh", ContentBase64: base64.StdEncoding.EncodeToString([]byte("echo hi\n"))}}
	tests := []struct {
		name string
		run  func(ctx context.Context, s *Service) error
	}{
		{"POST /sandboxes", func(ctx context.Context, s *Service) error {
			_, err := s.CreateSandbox(ctx, alice(), CreateSandboxInput{Files: files})
			return err
		}},
		{"POST /api/agent/execute", func(ctx context.Context, s *Service) error {
			_, err := s.AgentExecute(ctx, alice(), AgentExecuteInput{CreateSandboxInput: CreateSandboxInput{Files: files}, Command: "sh run.sh"})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h := newHarness(t, 3)
			h.provider.failOn("upload", sandstep.Errorf(sandstep.ETRANSIENT, "toolbox unavailable"))
			h.provider.failOn("delete", sandstep.Errorf(sandstep.ETRANSIENT, "daytona down"))
			err := tt.run(ctx, h.svc)
			if err == nil {
				t.Fatal("the request succeeded; want its upload's failure")
			}
			list, lerr := h.svc.ListSandboxes(ctx, alice(), SandboxListInput{})
			if lerr != nil {
				t.Fatal(lerr)
			}
			if len(list.Items) != 1 || list.Items[0].State != sandstep.StateDeleting {
				t.Fatalf("listed after the failure: %d items %+v; want the one sandbox left deleting", len(list.Items), list.Items)
			}
			left := list.Items[0].ID
			if live := h.provider.live(); len(live) != 1 {
				t.Fatalf("provider sandboxes = %v; want the one left behind", live)
			}
			if n := h.active(t, "alice"); n != 1 {
				t.Fatalf("active slots = %d; want the one the left sandbox holds", n)
			}
			if got := sandstep.ErrorSandboxID(err); got != left {
				t.Errorf("error %v (%s) names sandbox %q; want %q, the sandbox it left behind (deleting, holding a slot)", err, sandstep.ErrorCode(err), got, left)
			}
		})
	}
}
