package sfnlocal

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// runnerStartTimeout bounds the runner's start (loading the library) and
// each definition's validation.
const runnerStartTimeout = time.Minute

// runnerMsg is a message from the runner (runner.cjs documents them).
type runnerMsg struct {
	T              string          `json:"t"`
	Exec           string          `json:"exec"`
	Name           string          `json:"name"`
	Node           string          `json:"node"`
	Event          *runnerEvent    `json:"event"`
	Call           int64           `json:"call"`
	State          string          `json:"state"`
	Resource       string          `json:"resource"`
	Input          json.RawMessage `json:"input"`
	Tokens         []string        `json:"tokens"`
	TimeoutSeconds *float64        `json:"timeoutSeconds"`
	// TimeoutSecondsPath is the state's, which the server applies.
	TimeoutSecondsPath string          `json:"timeoutSecondsPath"`
	HeartbeatSeconds   *float64        `json:"heartbeatSeconds"`
	Status             string          `json:"status"`
	Output             json.RawMessage `json:"output"`
	Error              *string         `json:"error"`
	Cause              *string         `json:"cause"`
}

// runnerEvent is one event of the library's log, slimmed by the runner.
type runnerEvent struct {
	Type      string          `json:"type"`
	State     string          `json:"state"`
	StateType string          `json:"stateType"`
	Index     *int            `json:"index"`
	Input     json.RawMessage `json:"input"`
	Output    json.RawMessage `json:"output"`
	Error     *string         `json:"error"`
	Cause     *string         `json:"cause"`
}

// runnerConfig says how to start a runner.
type runnerConfig struct {
	node, dir string
	// polyfill loads polyfill.cjs; only a test leaves it out.
	polyfill bool
	log      *slog.Logger
	// onMsg receives every message but ready and machine replies, in order,
	// from one goroutine.
	onMsg func(*runner, *runnerMsg)
	// onExit is called once the process has exited, unless stop ended it.
	onExit func(*runner, error)
}

// runner is the Node process. Its messages out are queued, so that sending
// never blocks on a pipe the runner is not reading.
type runner struct {
	cmd     *exec.Cmd
	replies chan *runnerMsg
	exited  chan struct{}
	exitErr error
	stderr  *tailBuffer

	mu       sync.Mutex
	queue    [][]byte
	wake     chan struct{}
	closing  bool
	stopping bool
}

// RunnerInstalled says why the runner cannot start from the working
// directory (or a parent: a test's package directory), nil when it can:
// the runner's npm packages not installed, or no node on PATH.
func RunnerInstalled() error {
	wd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("sfnlocal: %w", err)
	}
	dir, err := FindRunnerDir(wd)
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("sfnlocal: the runner needs Node.js: %w", err)
	}
	return runnerInstalled(dir)
}

func runnerInstalled(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "aws-local-stepfunctions", "package.json")); err != nil {
		return fmt.Errorf("sfnlocal: the runner's npm packages are not installed in %s (run `make sfnlocal-deps`, i.e. npm ci there): %w", dir, err)
	}
	return nil
}

// launchRunner starts runner.cjs and waits for it to be ready.
func launchRunner(cfg runnerConfig) (*runner, error) {
	dir, err := filepath.Abs(cfg.dir)
	if err != nil {
		return nil, fmt.Errorf("sfnlocal: %w", err)
	}
	cfg.dir = dir
	if err := runnerInstalled(cfg.dir); err != nil {
		return nil, err
	}
	node := cfg.node
	if node == "" {
		node = "node"
	}
	path, err := exec.LookPath(node)
	if err != nil {
		return nil, fmt.Errorf("sfnlocal: Node.js is needed to run executions: %w", err)
	}
	args := []string{"--no-warnings"}
	if cfg.polyfill {
		args = append(args, "--require", filepath.Join(cfg.dir, "polyfill.cjs"))
	}
	args = append(args, filepath.Join(cfg.dir, "runner.cjs"))
	cmd := exec.Command(path, args...)
	cmd.Dir = cfg.dir
	cmd.Env = runnerEnv(os.Environ())
	// Its own process group: a Ctrl-C meant for the stack must not kill
	// it before the server closes. It exits when its stdin closes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("sfnlocal: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("sfnlocal: %w", err)
	}
	r := &runner{
		cmd:     cmd,
		replies: make(chan *runnerMsg, 16),
		exited:  make(chan struct{}),
		stderr:  &tailBuffer{log: cfg.log},
		wake:    make(chan struct{}, 1),
	}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("sfnlocal: starting the runner: %w", err)
	}
	go r.write(stdin)
	go r.read(stdout, cfg)

	msg, err := r.reply(runnerStartTimeout)
	if err != nil {
		return nil, err
	}
	if msg.T != "ready" {
		r.stop()
		return nil, fmt.Errorf("sfnlocal: the runner said %q before it was ready", msg.T)
	}
	cfg.log.Debug("sfnlocal: runner ready", "node", msg.Node, "pid", cmd.Process.Pid)
	return r, nil
}

// runnerEnv is the environment without NODE_OPTIONS, which could load
// anything into the runner.
func runnerEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "NODE_OPTIONS=") })
}

// reply waits for the runner's next reply (ready, machine).
func (r *runner) reply(timeout time.Duration) (*runnerMsg, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case msg := <-r.replies:
		return msg, nil
	case <-r.exited:
		// Replies sent just before the exit are still there.
		select {
		case msg := <-r.replies:
			return msg, nil
		default:
		}
		return nil, fmt.Errorf("sfnlocal: the runner exited (%v): %s", r.exitErr, r.stderr.tail())
	case <-t.C:
		r.stop()
		return nil, fmt.Errorf("sfnlocal: the runner did not answer within %s: %s", timeout, r.stderr.tail())
	}
}

// send queues a message for the runner.
func (r *runner) send(msg any) {
	b, err := json.Marshal(msg)
	if err != nil {
		panic(fmt.Sprintf("sfnlocal: a runner message does not encode: %v", err))
	}
	r.mu.Lock()
	if !r.closing {
		r.queue = append(r.queue, append(b, '\n'))
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// write copies the queue to the runner's stdin, and closes stdin once
// stop asked for it and the queue is empty.
func (r *runner) write(stdin io.WriteCloser) {
	defer stdin.Close()
	for {
		r.mu.Lock()
		q := r.queue
		r.queue = nil
		closing := r.closing
		r.mu.Unlock()
		for _, b := range q {
			if _, err := stdin.Write(b); err != nil {
				return // it exited; read reports why
			}
		}
		if closing && len(q) == 0 {
			return
		}
		select {
		case <-r.wake:
		case <-r.exited:
			return
		}
	}
}

func (r *runner) read(stdout io.Reader, cfg runnerConfig) {
	br := bufio.NewReaderSize(stdout, 1<<16)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && err == nil {
			var msg runnerMsg
			if jerr := json.Unmarshal(line, &msg); jerr != nil {
				cfg.log.Error("sfnlocal: a runner message that is not JSON", "line", string(line), "err", jerr)
				continue
			}
			switch msg.T {
			case "ready", "machine":
				r.replies <- &msg
			default:
				cfg.onMsg(r, &msg)
			}
		}
		if err != nil {
			break
		}
	}
	r.exitErr = r.cmd.Wait()
	close(r.exited)
	r.mu.Lock()
	stopping := r.stopping
	r.mu.Unlock()
	if !stopping && cfg.onExit != nil {
		cfg.onExit(r, r.exitErr)
	}
}

// stop closes the runner's stdin, which ends it, and kills it if it has not
// exited within a few seconds.
func (r *runner) stop() error {
	r.mu.Lock()
	r.closing, r.stopping = true, true
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	select {
	case <-r.exited:
	case <-time.After(3 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
	var ee *exec.ExitError
	if r.exitErr != nil && !errors.As(r.exitErr, &ee) {
		return fmt.Errorf("sfnlocal: the runner: %w", r.exitErr)
	}
	return nil
}

// tailBuffer logs the runner's stderr line by line and keeps its end for
// error messages.
type tailBuffer struct {
	log     *slog.Logger
	mu      sync.Mutex
	partial []byte
	lines   []string
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	for {
		i := strings.IndexByte(string(t.partial), '\n')
		if i < 0 {
			break
		}
		line := string(t.partial[:i])
		t.partial = t.partial[i+1:]
		t.log.Warn("sfnlocal: runner stderr", "line", line)
		t.lines = append(t.lines, line)
		if len(t.lines) > 20 {
			t.lines = t.lines[1:]
		}
	}
	return len(p), nil
}

func (t *tailBuffer) tail() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.Join(append(slices.Clone(t.lines), string(t.partial)), "\n")
	if strings.TrimSpace(s) == "" {
		return "(nothing on stderr)"
	}
	return strings.TrimSpace(s)
}

// startRunner launches a runner and gives it the state machines; an
// invalid definition is an error naming its state machine.
func (s *Server) startRunner() (*runner, error) {
	r, err := launchRunner(runnerConfig{
		node: s.opts.Node, dir: s.opts.RunnerDir, polyfill: true, log: s.log,
		onMsg: s.onRunnerMessage, onExit: s.runnerExited,
	})
	if err != nil {
		return nil, err
	}
	for _, m := range s.sortedMachines() {
		r.send(map[string]any{"t": "machine", "name": m.Name, "definition": json.RawMessage(m.Definition)})
		msg, err := r.reply(runnerStartTimeout)
		if err != nil {
			return nil, err
		}
		if msg.Error != nil {
			r.stop()
			return nil, fmt.Errorf("sfnlocal: state machine %q is not valid ASL: %s", m.Name, *msg.Error)
		}
	}
	return r, nil
}

// ensureRunner returns the runner, starting a new one after a crash.
func (s *Server) ensureRunner() (*runner, error) {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	s.mu.Lock()
	r, closed := s.runner, s.closed
	s.mu.Unlock()
	if closed {
		return nil, s.unavailable()
	}
	if r != nil {
		return r, nil
	}
	r, err := s.startRunner()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		go r.stop()
		return nil, s.unavailable()
	}
	s.runner = r
	return r, nil
}

// onRunnerMessage handles the runner's messages about executions.
func (s *Server) onRunnerMessage(r *runner, msg *runnerMsg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.execs[msg.Exec]
	if s.closed || e == nil || e.runner != r {
		return
	}
	switch msg.T {
	case "event":
		if e.rec.Status == StatusRunning && msg.Event != nil {
			s.onEvent(e, msg.Event)
		}
	case "call":
		if e.rec.Status == StatusRunning {
			s.onCall(e, msg)
		} else {
			// Stopped while the runner was on its way here.
			r.send(map[string]any{"t": "result", "exec": msg.Exec, "call": msg.Call, "error": "States.Runtime", "cause": "the execution has ended"})
		}
	case "end":
		var out *string
		if msg.Status == StatusSucceeded {
			out = ptr(jsonText(msg.Output))
		}
		s.finish(e, msg.Status, out, msg.Error, msg.Cause)
		e.runner = nil
	default:
		s.log.Error("sfnlocal: an unknown runner message", "t", msg.T)
	}
}

// runnerExited fails the executions of a runner that died; the next
// StartExecution starts another.
func (s *Server) runnerExited(r *runner, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runner == r {
		s.runner = nil
	}
	if s.closed {
		return
	}
	s.log.Error("sfnlocal: the runner exited", "err", err, "stderr", r.stderr.tail())
	cause := fmt.Sprintf("the local Step Functions runner exited (%v): %s", err, r.stderr.tail())
	for _, e := range s.execs {
		if e.runner == r && e.rec.Status == StatusRunning {
			s.finish(e, StatusFailed, nil, ptr("States.Runtime"), &cause)
		}
	}
}
