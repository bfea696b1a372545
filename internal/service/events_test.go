package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// The audit trail of a sandbox or task is its owner's to read, a page at a
// time; to anyone else it does not exist, exactly as the sandbox or task.
func TestEventsOfOwnSandboxAndTask(t *testing.T) {
	ctx := context.Background()
	h := newFaultHarness(t, 5)
	h.svc.auditLog = h.store
	sb, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Exec(ctx, alice(), sb.ID, ExecInput{Command: "true"}); err != nil {
		t.Fatal(err)
	}
	tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "true"})
	if err != nil {
		t.Fatal(err)
	}
	list := map[string]func(Call, string, ListInput) (*EventList, error){
		"sandbox": func(c Call, id string, in ListInput) (*EventList, error) { return h.svc.SandboxEvents(ctx, c, id, in) },
		"task":    func(c Call, id string, in ListInput) (*EventList, error) { return h.svc.TaskEvents(ctx, c, id, in) },
	}
	ids := map[string]string{"sandbox": sb.ID, "task": tk.ID}
	tests := []struct {
		name      string
		call      Call
		id        func(kind string) string
		in        ListInput
		wantCode  sandstep.Code
		wantField string
	}{
		{name: "owner", call: alice(), id: func(k string) string { return ids[k] }},
		{name: "owner, one a page", call: alice(), id: func(k string) string { return ids[k] }, in: ListInput{Limit: intp(1)}},
		{name: "someone else", call: Call{UserID: "bob"}, id: func(k string) string { return ids[k] }, wantCode: sandstep.ENOTFOUND},
		{name: "no such id", call: alice(), id: func(k string) string {
			if k == "task" {
				return "tsk_" + "aaaaaaaaaaaaaaaaaaaaaaaaaa"
			}
			return "sbx_aaaaaaaaaaaaaaaaaaaaaaaaaa"
		}, wantCode: sandstep.ENOTFOUND},
		{name: "limit 0", call: alice(), id: func(k string) string { return ids[k] }, in: ListInput{Limit: intp(0)}, wantCode: sandstep.EINVALID, wantField: "limit"},
		{name: "limit over the most", call: alice(), id: func(k string) string { return ids[k] }, in: ListInput{Limit: intp(MaxListLimit + 1)}, wantCode: sandstep.EINVALID, wantField: "limit"},
		{name: "bad cursor", call: alice(), id: func(k string) string { return ids[k] }, in: ListInput{Cursor: "nonsense"}, wantCode: sandstep.EINVALID, wantField: "cursor"},
		{name: "no caller", call: Call{}, id: func(k string) string { return ids[k] }, wantCode: sandstep.EUNAUTHENTICATED},
	}
	for _, tc := range tests {
		for kind, do := range list {
			t.Run(tc.name+"/"+kind, func(t *testing.T) {
				var all []sandstep.AuditEvent
				in := tc.in
				for {
					page, err := do(tc.call, tc.id(kind), in)
					if tc.wantCode != "" {
						if sandstep.ErrorCode(err) != tc.wantCode || sandstep.ErrorField(err) != tc.wantField {
							t.Fatalf("err = %v, want %s on %q", err, tc.wantCode, tc.wantField)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					if in.Limit != nil && len(page.Items) > *in.Limit {
						t.Fatalf("page of %d, limit %d", len(page.Items), *in.Limit)
					}
					all = append(all, page.Items...)
					if page.NextCursor == "" {
						break
					}
					in.Cursor = page.NextCursor
				}
				want := map[string][]string{"sandbox": {ActionCreate, ActionExec}, "task": {ActionTaskStart}}[kind]
				if len(all) != len(want) {
					t.Fatalf("events %+v, want actions %v", all, want)
				}
				for i, ev := range all {
					if ev.Action != want[i] || ev.UserID != "alice" {
						t.Errorf("event %d = %+v, want %s by alice", i, ev, want[i])
					}
				}
			})
		}
	}
}

// readTaskEvents reads every audit event of task id, page by page.
func readTaskEvents(t *testing.T, svc *Service, call Call, id string) []sandstep.AuditEvent {
	t.Helper()
	return readEvents(t, "TaskEvents", func(in ListInput) (*EventList, error) { return svc.TaskEvents(context.Background(), call, id, in) })
}

// readSandboxEvents reads every audit event of sandbox id as call.
func readSandboxEvents(t *testing.T, svc *Service, call Call, id string) []sandstep.AuditEvent {
	t.Helper()
	return readEvents(t, "SandboxEvents", func(in ListInput) (*EventList, error) { return svc.SandboxEvents(context.Background(), call, id, in) })
}

// readEvents reads every page list gives.
func readEvents(t *testing.T, name string, list func(ListInput) (*EventList, error)) []sandstep.AuditEvent {
	t.Helper()
	var all []sandstep.AuditEvent
	cursor := ""
	for range 50 {
		page, err := list(ListInput{Limit: intp(100), Cursor: cursor})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
	t.Fatalf("%s never ended", name)
	return nil
}

// withAuditLog wires the audit trail's reader, as the app does.
func withAuditLog(st *store.Store, d *Deps) { d.AuditLog = st }

// countActions counts the events of action.
func countActions(events []sandstep.AuditEvent, action string) int {
	n := 0
	for _, ev := range events {
		if ev.Action == action {
			n++
		}
	}
	return n
}

// actionsOf is the events' actions, each with its status, for a message.
func actionsOf(events []sandstep.AuditEvent) []string {
	var out []string
	for _, ev := range events {
		s := ev.Action
		if st := ev.Detail["status"]; st != "" {
			s += "(" + st + ")"
		}
		out = append(out, s)
	}
	return out
}

// A task that fails is cleaned up by the state machine's last step, and
// then once more by the ended execution's event (the TaskEnded rule
// fires on FAILED, which the clean-up's own Task.Failed causes), or by a
// retry of the clean-up step: the task ended once, and its audit trail
// must say task.finish once.
func TestTaskEndAuditedOnceHoweverManyCleanUps(t *testing.T) {
	ctx := context.Background()
	p := newFakeProvider()
	svc, _, _ := newTaskService(t, p, withAuditLog)
	tk, _ := runningTaskIn(t, svc, TaskInput{Command: "make"})
	// The state machine caught a step's failure and runs its clean-up.
	if _, err := svc.CleanUpTaskStep(ctx, tk.ID, &TaskFailure{Error: "Sandbox.Transient", Cause: "daytona down"}); err == nil {
		t.Fatal("clean-up of a failed task answered no outcome error")
	}
	// The execution then fails with Task.Failed: EventBridge's FAILED
	// status change reaches the delete function (task-ended).
	if _, err := svc.CleanUpTask(ctx, tk.ID, &TaskFailure{Error: "Task.Failed", Cause: "the task failed"}); err == nil {
		t.Log("task-ended answered no error")
	}
	events := readTaskEvents(t, svc, alice(), tk.ID)
	if n := countActions(events, ActionTaskFinish); n != 1 {
		t.Errorf("task's audit trail %v holds %d task.finish events; want exactly one for its one end", actionsOf(events), n)
	}
}

// A task that succeeds is ended by its collect; the clean-up after it,
// asked again (a retried step, the reaper), ends nothing: one task.finish,
// with the status the collect wrote.
func TestTaskEndAuditedByTheWriteThatEndsIt(t *testing.T) {
	ctx := context.Background()
	h := newTaskHarness(t, nil)
	h.sessions.exit(0)
	step := TaskStep{TaskID: h.task.ID, UserID: h.task.Owner, SandboxID: h.task.SandboxID}
	if _, err := h.svc.CheckTask(ctx, step); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.CollectTask(ctx, step); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := h.svc.CleanUpTaskStep(ctx, h.task.ID, nil); err != nil {
			t.Fatalf("clean-up: %v", err)
		}
	}
	events, _, err := h.store.ListAudit(ctx, "", h.task.ID, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := countActions(events, ActionTaskFinish); n != 1 {
		t.Fatalf("task's audit trail %v holds %d task.finish events; want one", actionsOf(events), n)
	}
	for _, ev := range events {
		if ev.Action == ActionTaskFinish && (ev.Detail["status"] != string(sandstep.TaskSucceeded) || ev.UserID != "alice") {
			t.Errorf("task.finish = %+v; want status succeeded, by alice", ev)
		}
	}
}

// DELETE /tasks/{id} again "is no error" (README): a client whose answer
// was lost asks again. The task was cancelled once; its trail must say
// task.cancel once, not once per DELETE that found it cancelled already.
func TestCancelAskedAgainIsAuditedOnce(t *testing.T) {
	ctx := context.Background()
	p := newFakeProvider()
	svc, _, _ := newTaskService(t, p, withAuditLog)
	tk, _ := runningTaskIn(t, svc, TaskInput{Command: "make"})
	for i := range 2 {
		got, err := svc.CancelTask(ctx, alice(), tk.ID)
		if err != nil || got.Status != sandstep.TaskCancelled {
			t.Fatalf("cancel #%d = %+v, %v; want cancelled", i+1, got, err)
		}
	}
	events := readTaskEvents(t, svc, alice(), tk.ID)
	if n := countActions(events, ActionTaskCancel); n != 1 {
		t.Errorf("task's audit trail %v holds %d task.cancel events; want exactly one: the task was cancelled once", actionsOf(events), n)
	}
}

// A cancel whose release fails (Daytona down as the sandbox is deleted)
// answers the error, and its caller asks again: the task was cancelled by
// the first call, and its trail must say task.cancel once.
func TestCancelWhoseReleaseFailedIsAuditedOnce(t *testing.T) {
	ctx := context.Background()
	p := newFakeProvider()
	svc, _, _ := newTaskService(t, p, withAuditLog)
	tk, _ := runningTaskIn(t, svc, TaskInput{Command: "make"})
	p.failOn("delete", sandstep.Errorf(sandstep.ETRANSIENT, "daytona: 503"))
	if _, err := svc.CancelTask(ctx, alice(), tk.ID); err == nil {
		t.Fatal("cancel whose sandbox's delete failed answered no error")
	}
	p.failOn("delete", nil)
	if got, err := svc.CancelTask(ctx, alice(), tk.ID); err != nil || got.Status != sandstep.TaskCancelled {
		t.Fatalf("cancel asked again = %+v, %v; want cancelled", got, err)
	}
	events := readTaskEvents(t, svc, alice(), tk.ID)
	if n := countActions(events, ActionTaskCancel); n != 1 {
		t.Errorf("task's audit trail %v holds %d task.cancel events; want one: the task was cancelled once", actionsOf(events), n)
	}
}

// lateEndTasks is the store whose first write that ends a task lands but
// is answered late, as a throttled write's may: the store's write time ran
// out (context.DeadlineExceeded) before DynamoDB's answer came, or, with
// expire, the answer comes only once the write's own context has expired
// (its error, as the AWS SDK returns it).
type lateEndTasks struct {
	*store.Store
	expire bool
	mu     sync.Mutex
	done   bool
}

func (s *lateEndTasks) TransitionTask(ctx context.Context, id string, from []sandstep.TaskStatus, to sandstep.TaskStatus, f func(*sandstep.Task)) (*sandstep.Task, error) {
	got, err := s.Store.TransitionTask(ctx, id, from, to, f)
	s.mu.Lock()
	first := err == nil && to.Terminal() && !slices.Contains(from, to) && !s.done
	s.done = s.done || first
	s.mu.Unlock()
	switch {
	case first && s.expire:
		<-ctx.Done()
		return nil, fmt.Errorf("store: transition task: %w", ctx.Err())
	case first:
		return nil, context.DeadlineExceeded
	}
	return got, err
}

// A write that ends a task may land with its answer lost. Asked again, a
// step finds the task ended and ends nothing: the trail must still say how
// the task ended, once.
func TestTaskEndWhoseAnswerWasLostIsAudited(t *testing.T) {
	tests := []struct {
		name   string
		action string
		// end ends the running task, asked again as its caller would.
		end func(t *testing.T, svc *Service, tk *sandstep.Task)
	}{
		{"clean-up of a failed step", ActionTaskFinish, func(t *testing.T, svc *Service, tk *sandstep.Task) {
			failure := &TaskFailure{Error: "Sandbox.Transient", Cause: "daytona down"}
			var outcome *OutcomeError
			for try := 0; ; try++ {
				_, err := svc.CleanUpTaskStep(context.Background(), tk.ID, failure)
				switch {
				case errors.As(err, &outcome):
					return
				case try > 0 || sandstep.ErrorCode(err) != sandstep.ETRANSIENT:
					t.Fatalf("clean-up (try %d) = %v; want the task's outcome, or once asked again (transient)", try, err)
				}
			}
		}},
		{"cancel", ActionTaskCancel, func(t *testing.T, svc *Service, tk *sandstep.Task) {
			for range 2 {
				if got, err := svc.CancelTask(context.Background(), alice(), tk.ID); err != nil || got.Status != sandstep.TaskCancelled {
					t.Fatalf("cancel = %+v, %v; want cancelled", got, err)
				}
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc, _, _ := newTaskService(t, newFakeProvider(), func(st *store.Store, d *Deps) {
				d.AuditLog = st
				d.Tasks = &lateEndTasks{Store: st}
			})
			tk, _ := runningTaskIn(t, svc, TaskInput{Command: "make"})
			tc.end(t, svc, tk)
			events := readTaskEvents(t, svc, alice(), tk.ID)
			if n := countActions(events, tc.action); n != 1 {
				t.Errorf("task's audit trail %v holds %d %s events; want one: the task ended once", actionsOf(events), n, tc.action)
			}
		})
	}
}

// A clean-up ends its task with its own write time (writeContext): when
// that time runs out with the write landed, the context the store was
// given has expired, while the clean-up's caller still has time. The end
// must still be read back, counted and audited once.
func TestCleanUpEndLandedPastItsWriteTimeIsAudited(t *testing.T) {
	clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5, Now: clk.Now})
	deps := Deps{Provider: newFakeProvider(), Sandboxes: st, Quota: st, Idempotency: st, Audit: st, Inventory: st, AuditLog: st,
		Tasks: &lateEndTasks{Store: st, expire: true}, Objects: newFakeObjects(), Machine: fakeMachine{}, Sessions: fakeSessions{}}
	deps.Catalog = deps.Provider.(*fakeProvider)
	svc, err := New(deps, Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now, WriteTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := runningTaskIn(t, svc, TaskInput{Command: "make"})
	failure := &TaskFailure{Error: "Sandbox.Transient", Cause: "daytona down"}
	var outcome *OutcomeError
	for try := 0; ; try++ {
		_, err := svc.CleanUpTaskStep(context.Background(), tk.ID, failure)
		if errors.As(err, &outcome) {
			break
		}
		if try > 0 {
			t.Fatalf("clean-up (try %d) = %v; want the task's outcome", try, err)
		}
	}
	events := readTaskEvents(t, svc, alice(), tk.ID)
	if n := countActions(events, ActionTaskFinish); n != 1 {
		t.Errorf("task's audit trail %v holds %d %s events; want one: the task ended once", actionsOf(events), n, ActionTaskFinish)
	}
}
