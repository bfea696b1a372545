package service

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// interleavedStart is exitSessions on which two invocations of the start
// step interleave: the first's StartCommand lets the second run up to its
// own StartCommand (its nudge file uploaded over the first's), and the
// second's answers only once the first has marked the task running.
type interleavedStart struct {
	exitSessions
	mu2      sync.Mutex
	starts   int
	lines    []string
	second   func()        // the second invocation, run in the first's StartCommand
	reached  chan struct{} // the second is in its StartCommand
	released chan struct{} // the first has marked the task running
}

func (s *interleavedStart) StartCommand(_ context.Context, _, _, line string) (string, error) {
	s.mu2.Lock()
	s.starts++
	s.lines = append(s.lines, line)
	n := s.starts
	s.mu2.Unlock()
	if n == 1 {
		go s.second()
		<-s.reached
		return "cmd-first", nil
	}
	close(s.reached)
	<-s.released
	return "cmd-second", nil
}

// nudgeHeader is the file a task's line nudges with (curl's -H @file).
var nudgeHeader = regexp.MustCompile(`-H @'?([^' ]+)'?`)

// lineNudgeSecrets are the secrets the lines' wrappers nudge with, read
// from the files the lines name, in the lines' order.
func lineNudgeSecrets(t *testing.T, p *fakeProvider, daytonaID string, lines []string) []string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	sb, err := p.byID(daytonaID)
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, line := range lines {
		m := nudgeHeader.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("the line nudges with no file: %s", line)
		}
		header := strings.TrimSpace(string(sb.files[m[1]]))
		secret, ok := strings.CutPrefix(header, "Authorization: Bearer ")
		if !ok {
			t.Fatalf("nudge file %s = %q", m[1], header)
		}
		secrets = append(secrets, secret)
	}
	return secrets
}

// A start asked again while the first invocation still runs (the state
// machine's Lambda.ClientExecutionTimeoutException): the second uploads
// its nudge file over the first's, the first marks the task running with
// its own hash, and the second, refused, answers the running task. A
// line the session runs nudges with a secret the record knows; otherwise
// every nudge of the task would be refused, and its end would wait for
// the backstop (10 minutes) instead of seconds.
func TestStartAskedAgainKeepsTheNudgeTheRecordKnows(t *testing.T) {
	p := newFakeProvider()
	sess := &interleavedStart{reached: make(chan struct{}), released: make(chan struct{})}
	svc, st, _ := newStepService(t, p, sess, nil)
	ctx := context.Background()
	tk, err := svc.StartTask(ctx, Call{UserID: "alice", RequestID: "req-1", APIURL: "https://api.example.com"}, TaskInput{Command: "make"})
	if err != nil {
		t.Fatal(err)
	}
	if tk.APIURL == "" {
		t.Fatal("the task expects no nudge; the test needs one")
	}
	step, err := svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: tk.Owner})
	if err != nil {
		t.Fatal(err)
	}
	var secondErr error
	done := make(chan struct{})
	sess.second = func() {
		defer close(done)
		_, secondErr = svc.StartTaskCommand(ctx, *step)
	}
	_, firstErr := svc.StartTaskCommand(ctx, *step)
	close(sess.released)
	<-done
	if firstErr != nil || secondErr != nil {
		t.Fatalf("starts: %v, %v", firstErr, secondErr)
	}
	rec, err := st.GetTask(ctx, tk.ID)
	if err != nil || rec.Status != sandstep.TaskRunning {
		t.Fatalf("task = %+v, %v; want running", rec, err)
	}
	if n := sess.stopCount(); n != 0 {
		t.Fatalf("the task's command was killed (%d stops)", n)
	}
	sb, err := st.GetSandbox(ctx, step.SandboxID)
	if err != nil {
		t.Fatal(err)
	}
	// The session runs both lines, one after the other; each nudges once
	// the command has ended. One of them must be let through.
	var refused []error
	for _, secret := range lineNudgeSecrets(t, p, sb.DaytonaID, sess.lines) {
		err := svc.NudgeTask(ctx, tk.ID, secret)
		if err == nil {
			return
		}
		refused = append(refused, err)
	}
	t.Errorf("every line's nudge, with the secret its file holds, is refused: %v (the end waits for the backstop)", refused)
}
