package service

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// throttledMachine starts the first burst executions and answers the rest
// as Step Functions does once its StartExecution bucket is empty.
type throttledMachine struct {
	fakeMachine
	burst   int32
	started sync.Map // name -> true
	n       atomic.Int32
}

func (m *throttledMachine) Start(_ context.Context, name string, _ []byte) (string, error) {
	if m.n.Add(1) > m.burst {
		return "", sandstep.Errorf(sandstep.ETRANSIENT, "stepfunctions: start execution %s: Step Functions is busy; try again", name)
	}
	m.started.Store(name, true)
	return "arn:exec:" + name, nil
}

// A burst of task starts beyond what Step Functions admits leaves no task
// queued without an execution: every refused start is answered as
// transient and its task failed.
func TestTaskStartBurstBeyondThrottle(t *testing.T) {
	const burst, requests = 10, 40
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5})
	m := &throttledMachine{burst: burst}
	svc, err := New(Deps{Provider: newFakeProvider(), Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
		Tasks: st, Objects: newFakeObjects(), Machine: m, Sessions: fakeSessions{}}, Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	var accepted, refused atomic.Int32
	for i := range requests {
		wg.Go(func() {
			call := Call{UserID: fmt.Sprintf("user-%d", i%4), RequestID: fmt.Sprint("r", i)}
			_, err := svc.StartTask(ctx, call, TaskInput{Command: "make"})
			switch sandstep.ErrorCode(err) {
			case "":
				accepted.Add(1)
			case sandstep.ETRANSIENT:
				refused.Add(1)
			default:
				t.Errorf("start %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if accepted.Load() != burst || refused.Load() != requests-burst {
		t.Errorf("accepted %d, refused %d; want %d and %d", accepted.Load(), refused.Load(), burst, requests-burst)
	}
	for u := range 4 {
		tasks, _, err := st.ListTasks(ctx, fmt.Sprintf("user-%d", u), 100, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range tasks {
			_, started := m.started.Load(tk.ID)
			switch {
			case started && tk.Status != sandstep.TaskQueued:
				t.Errorf("task %s started but %s", tk.ID, tk.Status)
			case !started && tk.Status != sandstep.TaskFailed:
				t.Errorf("task %s has no execution and is %s", tk.ID, tk.Status)
			}
		}
	}
}

// slowMachine's StartExecution answers only when its caller's time is up
// (throttled and backing off, or a connection that never answers); with
// lands, its first start of each name starts the execution before that,
// and it answers a start of that name at once, as Step Functions does: with
// the execution while it runs, ExecutionAlreadyExists once it has ended
// (ended).
type slowMachine struct {
	fakeMachine
	lands, ended bool
	mu           sync.Mutex
	running      map[string]bool
}

func (m *slowMachine) Start(ctx context.Context, name string, _ []byte) (string, error) {
	m.mu.Lock()
	running := m.running[name]
	m.running[name] = m.lands
	m.mu.Unlock()
	switch {
	case running && m.ended:
		return "", sandstep.Errorf(sandstep.ECONFLICT, "stepfunctions: start execution %s: an execution of that name exists", name)
	case running:
		return "arn:exec:" + name, nil
	}
	<-ctx.Done()
	return "", ctx.Err()
}

// A start that would use the request's whole time leaves its task failed
// when no execution started, not queued without one until the reaper's
// grace; and started when its execution did, its answer late: asked again,
// Step Functions answers with the running execution, or that it exists.
func TestStartTaskWhoseStartIsNotAnswered(t *testing.T) {
	for _, tc := range []struct {
		name         string
		lands, ended bool
		want         sandstep.TaskStatus
	}{
		{"no execution started", false, false, sandstep.TaskFailed},
		{"the execution started", true, false, sandstep.TaskQueued},
		{"the execution started and ended", true, true, sandstep.TaskQueued},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5})
			m := &slowMachine{lands: tc.lands, ended: tc.ended, running: map[string]bool{}}
			svc, err := New(Deps{Provider: newFakeProvider(), Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
				Tasks: st, Objects: newFakeObjects(), Machine: m, Sessions: fakeSessions{}},
				Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment)})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), startReserve+500*time.Millisecond)
			defer cancel()
			_, startErr := svc.StartTask(ctx, Call{UserID: "alice", RequestID: "r1"}, TaskInput{Command: "make"})
			if (startErr == nil) != tc.lands {
				t.Errorf("StartTask = %v", startErr)
			}
			tasks, _, err := st.ListTasks(context.Background(), "alice", 10, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(tasks) != 1 || tasks[0].Status != tc.want {
				var got []sandstep.TaskStatus
				for _, tk := range tasks {
					got = append(got, tk.Status)
				}
				t.Fatalf("tasks after the start: %v; want one, %s", got, tc.want)
			}
		})
	}
}

// startFails is a state machine that refuses every start for good.
type startFails struct{ fakeMachine }

func (startFails) Start(context.Context, string, []byte) (string, error) {
	return "", sandstep.Errorf(sandstep.EINTERNAL, "states: access denied to StartExecution")
}

// A task whose execution could not be started is accepted (its record
// written), then failed: GET /tasks/{id} shows it failed, and its audit
// trail must say so too (README: "the task's audit trail, as for a
// sandbox": a sandbox's failed create is audited with its error).
func TestTaskWhoseExecutionCouldNotStartIsAudited(t *testing.T) {
	ctx := context.Background()
	p := newFakeProvider()
	svc, st, _ := newTaskService(t, p, func(st *store.Store, d *Deps) {
		d.AuditLog = st
		d.Machine = startFails{}
	})
	if _, err := svc.StartTask(ctx, alice(), TaskInput{Command: "make"}); err == nil {
		t.Fatal("StartTask succeeded; want the start's failure")
	}
	list, _, err := st.ListTasks(ctx, "alice", 10, "")
	if err != nil || len(list) != 1 || list[0].Status != sandstep.TaskFailed {
		t.Fatalf("tasks %+v, %v; want the one failed task", list, err)
	}
	events := readTaskEvents(t, svc, alice(), list[0].ID)
	if len(events) == 0 {
		t.Fatalf("failed task %s (%q) has an empty audit trail; want its start's failure recorded", list[0].ID, list[0].Error)
	}
	// As a failed create's: the start, by whoever asked, with the error.
	if ev := events[0]; ev.Action != ActionTaskStart || ev.UserID != "alice" || ev.Outcome != string(sandstep.EINTERNAL) || ev.Detail["error"] == "" {
		t.Errorf("failed task's trail %+v; want its task.start first, by alice, with the start's error", events)
	}
}
