package service

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// runningWriteFails makes the write marking a task running (queued to
// running) answer an error: once, or every time; after applying it (an
// answer lost on the way) or instead. With ownAnswers no write is made to
// fail: each is the store's own. With failRead the task's read right
// after a write that answered an error fails too.
type runningWriteFails struct {
	Tasks
	applied    bool
	code       sandstep.Code // the error's; ETRANSIENT when ""
	every      bool
	ownAnswers bool
	failRead   bool

	mu        sync.Mutex
	done      bool
	readFails bool
}

func (f *runningWriteFails) TransitionTask(ctx context.Context, id string, from []sandstep.TaskStatus, to sandstep.TaskStatus, update func(*sandstep.Task)) (*sandstep.Task, error) {
	if to != sandstep.TaskRunning || len(from) != 1 || from[0] != sandstep.TaskQueued {
		return f.Tasks.TransitionTask(ctx, id, from, to, update)
	}
	f.mu.Lock()
	fail := !f.ownAnswers && (f.every || !f.done)
	f.done = true
	f.mu.Unlock()
	var t *sandstep.Task
	var err error
	if !fail || f.applied {
		t, err = f.Tasks.TransitionTask(ctx, id, from, to, update)
	}
	if fail && err == nil {
		t, err = nil, sandstep.Errorf(cmp.Or(f.code, sandstep.ETRANSIENT), "store: the database is unreachable; try again")
	}
	if err != nil && f.failRead {
		f.mu.Lock()
		f.readFails = true
		f.mu.Unlock()
	}
	return t, err
}

func (f *runningWriteFails) GetTask(ctx context.Context, id string) (*sandstep.Task, error) {
	f.mu.Lock()
	fail := f.readFails
	f.readFails = false
	f.mu.Unlock()
	if fail {
		return nil, sandstep.Errorf(sandstep.ETRANSIENT, "store: the database is unreachable; try again")
	}
	return f.Tasks.GetTask(ctx, id)
}

// A failed write marking the task running never kills the command it
// started: another invocation's mark may be on its way. Landed (its answer
// lost), the command is the task's and the step answers as if it had
// heard; not landed, the step fails, for the state machine to ask again
// (the retry's line finds the command ran) or clean up.
func TestStartTaskCommandWhenMarkingItRunningFails(t *testing.T) {
	for _, tt := range []struct {
		name    string
		applied bool
	}{
		{"the write landed", true},
		{"the write did not land", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newFakeProvider()
			sess := &exitSessions{}
			svc, st, _ := newStepService(t, p, sess, func(st Tasks) Tasks { return &runningWriteFails{Tasks: st, applied: tt.applied} })
			ctx := context.Background()
			tk, step := taskWithSandbox(t, svc, TaskInput{Command: "make"})
			next, err := svc.StartTaskCommand(ctx, *step)
			if sess.wasStopped() {
				t.Errorf("command killed (step %+v, %v)", next, err)
			}
			if tt.applied != (err == nil) {
				t.Errorf("StartTaskCommand = %+v, %v; want an error only when the write did not land", next, err)
			}
			rec, err := st.GetTask(ctx, tk.ID)
			if want := map[bool]sandstep.TaskStatus{true: sandstep.TaskRunning, false: sandstep.TaskQueued}[tt.applied]; err != nil || rec.Status != want {
				t.Errorf("task = %+v, %v; want %s", rec, err, want)
			}
		})
	}
}

// lostStart is exitSessions whose first start loses its answer: the
// command started, and ran, but the step was told it failed.
type lostStart struct {
	exitSessions
	run   func() // what the first try's command does
	lines []string
}

func (s *lostStart) StartCommand(_ context.Context, _, _, line string) (string, error) {
	s.mu.Lock()
	s.lines = append(s.lines, line)
	first := len(s.lines) == 1
	s.mu.Unlock()
	if first {
		s.run()
		return "", sandstep.Errorf(sandstep.ETRANSIENT, "daytona: POST /process/session/task/exec: 502 Bad Gateway")
	}
	return "cmd-1", nil
}

// The state machine asks a start again when the first try's answer was
// lost, its command running by then. The retry must ask for the same line
// (whose command, run after the first try's in the session, finds it ran
// and does not run it again) and must not replace the output files that
// command is writing: a new, empty file in their place leaves its output
// in one nobody reads.
func TestStartTaskCommandAskedAgainKeepsTheFirstTrysCommandAndOutput(t *testing.T) {
	p := &diskProvider{shellProvider: &shellProvider{fakeProvider: newFakeProvider(), dir: t.TempDir()}}
	stdout := filepath.Join(p.dir, taskDir, "stdout")
	sess := &lostStart{run: func() {
		f, err := os.OpenFile(stdout, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		f.WriteString("first try's output\n")
	}}
	svc, _, _ := newStepService(t, p, sess, nil)
	ctx := context.Background()
	_, step := taskWithSandbox(t, svc, TaskInput{Command: "make"})
	if _, err := svc.StartTaskCommand(ctx, *step); sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
		t.Fatalf("first try: %v, want transient", err)
	}
	if _, err := svc.StartTaskCommand(ctx, *step); err != nil {
		t.Fatalf("asked again: %v", err)
	}
	if len(sess.lines) != 2 || sess.lines[0] != sess.lines[1] {
		t.Errorf("lines asked for: %q; want the same line twice", sess.lines)
	}
	if b, err := os.ReadFile(stdout); err != nil || string(b) != "first try's output\n" {
		t.Errorf("stdout after the retry = %q, %v; want the first try's command's output", b, err)
	}
}

// shellSessions runs each started line for real in the sandbox's directory,
// as Daytona's session would: its redirections write the output files.
type shellSessions struct {
	exitSessions
	dir    string
	starts int
}

func (s *shellSessions) StartCommand(_ context.Context, _, _, line string) (string, error) {
	c := exec.Command("/bin/sh", "-c", line)
	c.Dir = s.dir
	_ = c.Run()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starts++
	return fmt.Sprintf("cmd-%d", s.starts), nil
}

// A start asked again (the write marking the task running failed) whose
// line runs the command afresh (shellSessions runs each line in a shell of
// its own, as a session that lost the first try's marks would): the
// task's output is that run's alone, not the earlier run's with it.
func TestARestartedTaskCommandsOutputIsItsOwn(t *testing.T) {
	p := &diskProvider{shellProvider: &shellProvider{fakeProvider: newFakeProvider(), dir: t.TempDir()}}
	sess := &shellSessions{dir: p.dir}
	svc, _, _ := newStepService(t, p, sess, func(st Tasks) Tasks { return &runningWriteFails{Tasks: st} })
	ctx := context.Background()
	tk, step := taskWithSandbox(t, svc, TaskInput{Command: "echo step-one"})
	if _, err := svc.StartTaskCommand(ctx, *step); err == nil {
		t.Fatal("first try: no error, want the refused write's")
	}
	if _, err := svc.StartTaskCommand(ctx, *step); err != nil {
		t.Fatalf("retry: %v", err)
	}
	sess.exit(0)
	if _, err := svc.CheckTask(ctx, TaskStep{TaskID: tk.ID, UserID: tk.Owner, SandboxID: step.SandboxID}); err != nil {
		t.Fatal(err)
	}
	logs, err := svc.ReadTaskLogs(ctx, alice(), tk.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, c := range logs.Chunks {
		if c.Stream == "stdout" {
			out.WriteString(c.Data)
		}
	}
	if got := out.String(); got != "step-one\n" {
		t.Errorf("the task's stdout = %q, want one run's output", got)
	}
}
