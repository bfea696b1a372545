package service

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
	"github.com/sandstep/sandstep/internal/testutil"
)

// fakeObjects is an in-memory object store that counts writes.
type fakeObjects struct {
	mu   sync.Mutex
	objs map[string][]byte
	puts int
}

func newFakeObjects() *fakeObjects { return &fakeObjects{objs: map[string][]byte{}} }

func (o *fakeObjects) Put(_ context.Context, key string, body []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.objs[key] = bytes.Clone(body)
	o.puts++
	return nil
}

func (o *fakeObjects) Get(_ context.Context, key string) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b, ok := o.objs[key]
	if !ok {
		return nil, sandstep.Errorf(sandstep.ENOTFOUND, "object %s not found", key)
	}
	return bytes.Clone(b), nil
}

func (o *fakeObjects) List(_ context.Context, prefix, after string, limit int) ([]string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var keys []string
	for k := range o.objs {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys[:min(limit, len(keys))], nil
}

func (o *fakeObjects) Link(_ context.Context, key string, _ time.Duration) (string, error) {
	return "https://objects.test/" + key, nil
}

func (o *fakeObjects) writes() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.puts
}

// fakeMachine and fakeSessions stand in for the state machine and the
// provider's sessions where a test drives the steps itself.
type fakeMachine struct{}

func (fakeMachine) Start(context.Context, string, []byte) (string, error) { return "arn:exec", nil }
func (fakeMachine) Stop(context.Context, string, string, string) error    { return nil }
func (fakeMachine) Wake(context.Context, string, []byte) error            { return nil }
func (fakeMachine) Running(context.Context, string) (bool, time.Time, error) {
	return true, time.Time{}, nil
}
func (fakeMachine) ExecutionARN(name string) string { return "arn:exec:" + name }

type fakeSessions struct{}

func (fakeSessions) StartCommand(context.Context, string, string, string) (string, error) {
	return "cmd-1", nil
}
func (fakeSessions) CommandExit(context.Context, string, string, string) (*int, error) {
	return nil, nil
}
func (fakeSessions) StopCommand(context.Context, string, string) error    { return nil }
func (fakeSessions) KeepFor(context.Context, string, time.Duration) error { return nil }

// exitSessions is fakeSessions whose command has the exit code the test
// sets (nil: still running).
type exitSessions struct {
	fakeSessions
	mu      sync.Mutex
	code    *int
	stopped bool // StopCommand was called
	// goneOnStop answers, once stopped, as Daytona does after the
	// session's deletion: the command is gone from its running sandbox.
	goneOnStop bool
	exitErr    error           // CommandExit's answer, when set
	stopErr    error           // StopCommand's answer, when set
	stops      int             // StopCommand calls
	kept       []time.Duration // KeepFor's lifetimes, in order
}

func (s *exitSessions) KeepFor(_ context.Context, _ string, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kept = append(s.kept, d)
	return nil
}

func (s *exitSessions) keptFor() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.kept)
}

func (s *exitSessions) StopCommand(context.Context, string, string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stops++
	if s.stopErr != nil {
		return s.stopErr
	}
	s.stopped = true
	return nil
}

func (s *exitSessions) stopCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stops
}

func (s *exitSessions) wasStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

func (s *exitSessions) CommandExit(context.Context, string, string, string) (*int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped && s.goneOnStop {
		return nil, sandstep.Errorf(sandstep.EINTERNAL, "the task's command is gone from its running sandbox")
	}
	return s.code, s.exitErr
}

func (s *exitSessions) failExit(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exitErr = err
}

func (s *exitSessions) exit(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.code = &code
}

// shellProvider is fakeProvider whose Exec runs the command line with
// /bin/sh in a directory standing for the sandbox's home, so a task's
// output files are real files read by the service's own shell lines.
type shellProvider struct {
	*fakeProvider
	dir   string
	mu    sync.Mutex
	execs int
	fail  error
	// gate, when set, holds every Exec until it is closed.
	gate chan struct{}
	// after, when set, sees the result of the n-th Exec (from 1) and may
	// change it, or fail the call, as Daytona's client would.
	after func(n int, res *ExecResult) error
	// left is what each Exec's context left of its time (0: no deadline).
	left []time.Duration
}

func (p *shellProvider) Exec(ctx context.Context, _ string, cmd Command) (*ExecResult, error) {
	p.mu.Lock()
	p.execs++
	fail, gate, after, n := p.fail, p.gate, p.after, p.execs
	if d, ok := ctx.Deadline(); ok {
		p.left = append(p.left, time.Until(d))
	} else {
		p.left = append(p.left, 0)
	}
	p.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, sandstep.Wrap(ctx.Err(), sandstep.ETIMEOUT, "the command did not finish in time")
		}
	}
	if err := ready(ctx, cmd); err != nil {
		return nil, err
	}
	if fail != nil {
		return nil, fail
	}
	var stdout, stderr bytes.Buffer
	c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd.Line)
	c.Dir, c.Stdout, c.Stderr = p.dir, &stdout, &stderr
	code := 0
	if err := c.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			return nil, err
		}
		code = ee.ExitCode()
	}
	res := &ExecResult{ExitCode: code, Stdout: stdout.String(), Stderr: stderr.String()}
	if after != nil {
		if err := after(n, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func (p *shellProvider) execCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.execs
}

func (p *shellProvider) failWith(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = err
}

// endFailingTasks is the store, whose writes that end a task fail with
// fail while it is set, after running beforeEnd (once) when that is set.
type endFailingTasks struct {
	*store.Store
	mu        sync.Mutex
	fail      error
	beforeEnd func()
}

func (s *endFailingTasks) TransitionTask(ctx context.Context, id string, from []sandstep.TaskStatus, to sandstep.TaskStatus, f func(*sandstep.Task)) (*sandstep.Task, error) {
	if to.Terminal() {
		s.mu.Lock()
		fail, before := s.fail, s.beforeEnd
		s.beforeEnd = nil
		s.mu.Unlock()
		if before != nil {
			before()
		}
		if fail != nil {
			return nil, fail
		}
	}
	return s.Store.TransitionTask(ctx, id, from, to, f)
}

// failEnds makes the writes that end a task fail with err (nil: succeed).
func (s *endFailingTasks) failEnds(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// onEnd runs f before the next write that ends a task.
func (s *endFailingTasks) onEnd(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beforeEnd = f
}

// taskHarness is a service with a running task whose command's output the
// test writes, on a clock the test moves.
type taskHarness struct {
	svc      *Service
	provider *shellProvider
	objects  *fakeObjects
	store    *store.Store
	clock    *settableClock
	task     *sandstep.Task
	daytona  string
	logs     *testutil.Buffer
	sessions *exitSessions
	tasks    *endFailingTasks
}

// newTaskHarness starts the harness; set, when given, changes the
// service's options (testLimits by default).
func newTaskHarness(t *testing.T, set func(*Options)) *taskHarness {
	t.Helper()
	clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5, Now: clk.Now})
	p := &shellProvider{fakeProvider: newFakeProvider(), dir: t.TempDir()}
	objs := newFakeObjects()
	logs := &testutil.Buffer{}
	opts := Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	if set != nil {
		set(&opts)
	}
	sessions := &exitSessions{}
	tasks := &endFailingTasks{Store: st}
	svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
		Tasks: tasks, Objects: objs, Machine: fakeMachine{}, Sessions: sessions}, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(p.dir, taskDir), 0o755); err != nil {
		t.Fatal(err)
	}
	now := clk.Now()
	tk := &sandstep.Task{ID: NewTaskID(), Owner: "alice", Status: sandstep.TaskRunning, SandboxID: sb.ID,
		TimeoutSeconds: 3600, CreatedAt: now, StartedAt: &now, SessionID: "task-s", CommandID: "cmd-1"}
	if err := st.PutTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	if err := objs.Put(ctx, specKey(tk.ID), []byte(`{"command": "true"}`)); err != nil {
		t.Fatal(err)
	}
	h := &taskHarness{svc: svc, provider: p, objects: objs, store: st, clock: clk, task: tk, daytona: sb.DaytonaID, logs: logs, sessions: sessions, tasks: tasks}
	h.print(t, "stdout", "")
	h.print(t, "stderr", "")
	return h
}

// print appends s to the command's stream, as the command writes it.
func (h *taskHarness) print(t *testing.T, stream, s string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(h.provider.dir, taskDir, stream), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// watch stores the output as the state machine's watch does while the
// command runs.
func (h *taskHarness) watch(t *testing.T) { h.storeOutput(t, false) }

// storeOutput stores the output as a check does; ended says the command
// has ended.
func (h *taskHarness) storeOutput(t *testing.T, ended bool) {
	t.Helper()
	tk, err := h.store.GetTask(context.Background(), h.task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.storeOutput(context.Background(), tk, h.daytona, ended); err != nil {
		t.Fatalf("storeOutput: %v", err)
	}
}

// end records the command's end as the watch and collect do: the last
// output stored, the task succeeded.
func (h *taskHarness) end(t *testing.T) {
	t.Helper()
	tk := h.record(t)
	if err := h.svc.storeEndedOutput(context.Background(), tk, h.daytona, time.Minute); err != nil {
		t.Fatalf("storeEndedOutput: %v", err)
	}
	if _, err := h.store.TransitionTask(context.Background(), h.task.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskSucceeded, nil); err != nil {
		t.Fatal(err)
	}
}

// keptChunk is a chunk of the task's output as a writer keeps it; ms
// orders the chunks of one seq and stream (offset -1: none).
type keptChunk struct {
	seq    int64
	stream string
	offset int64
	ms     int64
	data   string
}

// keep stores chunks as writers do, then records the task in status to,
// changed by set (its LogSeq and LogBytes, what the writers recorded).
func (h *taskHarness) keep(t *testing.T, chunks []keptChunk, to sandstep.TaskStatus, set func(*sandstep.Task)) {
	t.Helper()
	putChunks(t, h.objects, h.task.ID, chunks)
	if _, err := h.store.TransitionTask(context.Background(), h.task.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, to, set); err != nil {
		t.Fatal(err)
	}
}

// inTurn is chunks as one writer stores them, each at its stream's bytes
// before it (their offsets set), and the bytes of each stream.
func inTurn(chunks []keptChunk) ([]keptChunk, [2]int64) {
	var bytes [2]int64
	out := slices.Clone(chunks)
	for k, c := range out {
		i := streamIndex(c.stream)
		out[k].offset = bytes[i]
		bytes[i] += int64(len(c.data))
	}
	return out, bytes
}

// putChunks stores chunks of task id's output as writers keep them.
func putChunks(t *testing.T, objects Objects, id string, chunks []keptChunk) {
	t.Helper()
	for _, c := range chunks {
		if err := objects.Put(context.Background(), logKey(id, c.seq, c.stream, c.offset, time.UnixMilli(c.ms)), []byte(c.data)); err != nil {
			t.Fatal(err)
		}
	}
}

// record is the task's record as stored now.
func (h *taskHarness) record(t *testing.T) *sandstep.Task {
	t.Helper()
	tk, err := h.store.GetTask(context.Background(), h.task.ID)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// advance moves the clock on by d.
func (h *taskHarness) advance(d time.Duration) { h.clock.Set(h.clock.Now().Add(d)) }

// read reads one page after cursor.
func (h *taskHarness) read(t *testing.T, cursor string) *TaskLogs {
	t.Helper()
	page, err := h.svc.ReadTaskLogs(context.Background(), alice(), h.task.ID, cursor)
	if err != nil {
		t.Fatalf("ReadTaskLogs(%q): %v", cursor, err)
	}
	return page
}

// reader follows a task's output as a client does, keeping its cursor and
// what it was given of each stream.
type reader struct {
	cursor string
	got    map[string]string
	fresh  int // fresh chunks it was given
}

func newReader() *reader { return &reader{got: map[string]string{}} }

// next reads one page and returns it.
func (r *reader) next(t *testing.T, h *taskHarness) *TaskLogs {
	t.Helper()
	page := h.read(t, r.cursor)
	for _, ch := range page.Chunks {
		r.got[ch.Stream] += ch.Data
		if ch.Fresh {
			r.fresh++
		}
	}
	r.cursor = page.NextCursor
	return page
}

// taskWithSandbox starts alice's task in and makes its sandbox, as the
// state machine's first steps do, and returns the task and the step that
// starts its command.
// runningTaskIn is taskWithSandbox whose command has started.
func runningTaskIn(t *testing.T, svc *Service, in TaskInput) (*sandstep.Task, *TaskStep) {
	t.Helper()
	tk, step := taskWithSandbox(t, svc, in)
	if _, err := svc.StartTaskCommand(context.Background(), *step); err != nil {
		t.Fatal(err)
	}
	return tk, step
}

func taskWithSandbox(t *testing.T, svc *Service, in TaskInput) (*sandstep.Task, *TaskStep) {
	t.Helper()
	ctx := context.Background()
	tk, err := svc.StartTask(ctx, alice(), in)
	if err != nil {
		t.Fatal(err)
	}
	step, err := svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: tk.Owner})
	if err != nil {
		t.Fatal(err)
	}
	return tk, step
}

// newStepService is a service on a store whose clock is the one returned,
// stepping tasks through p and sessions; wrap, when given, puts a fake in
// front of the store's tasks.
func newStepService(t *testing.T, p Provider, sessions Sessions, wrap func(Tasks) Tasks) (*Service, *store.Store, *settableClock) {
	t.Helper()
	clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5, Now: clk.Now})
	var tasks Tasks = st
	if wrap != nil {
		tasks = wrap(st)
	}
	svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
		Tasks: tasks, Objects: newFakeObjects(), Machine: fakeMachine{}, Sessions: sessions},
		Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return svc, st, clk
}
