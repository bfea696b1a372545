package daytonalocal

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Log markers, by stream: each output line in a session command's log
// starts with one of these.
var (
	markerStdout = []byte{1, 1, 1}
	markerStderr = []byte{2, 2, 2}
	markers      = [2][]byte{stdoutStream: markerStdout, stderrStream: markerStderr}
)

// sessionWrapper runs one session command: it restores the session's
// exported variables and working directory, sources the command file, and
// saves both again on exit (also on `exit n`), keeping the command's status.
const sessionWrapper = `__dl_env=$1 __dl_pwd=$2 __dl_cmd=$3
set --
if [ -f "$__dl_env" ]; then . "$__dl_env"; fi
if [ -f "$__dl_pwd" ]; then read -r __dl_dir < "$__dl_pwd" && cd "$__dl_dir" 2>/dev/null; fi
trap '__dl_rc=$?; export -p > "$__dl_env"; pwd > "$__dl_pwd"; exit $__dl_rc' EXIT
. "$__dl_cmd"
`

// session is a toolbox session: a queue of commands run one after another.
// Each command is a fresh shell (see sessionWrapper), so `cd` and `export`
// persist between commands but plain variables, functions, aliases and
// `set` options do not. Its stdout and stderr are captured line by line
// into one log with Daytona's markers; a partial last line gets a newline
// when the command ends. Each stream's output beyond Options.MaxOutputBytes
// is dropped, keeping its first bytes so byte offsets stay stable.
type session struct {
	id      string
	dir     string // bookkeeping: env and pwd state, command files
	envFile string
	pwdFile string
	wake    chan struct{}

	mu       sync.Mutex
	commands []*command
	byID     map[string]*command
	queue    []*command
	deleted  bool
}

// command is one session command and its log.
type command struct {
	id     string
	text   string
	stdinR *os.File // the command's stdin; input is written to stdinW
	stdinW *os.File

	mu      sync.Mutex
	raw     []byte // with line markers
	plain   []byte // combined, without markers
	caps    streamCaps
	changed chan struct{} // closed and replaced on every change
	exit    *int
	done    chan struct{} // closed once exit is set
	pgid    int           // process group, once started
}

func newCommand(text string, limit int) (*command, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	return &command{id: newID(), text: text, stdinR: r, stdinW: w, caps: streamCaps{limit: limit},
		changed: make(chan struct{}), done: make(chan struct{})}, nil
}

func (c *command) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// appendLine records one line (ending in '\n', or a piece of a very long
// line) of stdout or stderr, as far as the stream's cap allows.
func (c *command) appendLine(stream int, line []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if line = c.caps.cut(stream, line); len(line) == 0 {
		return
	}
	c.raw = append(append(c.raw, markers[stream]...), line...)
	c.plain = append(c.plain, line...)
	c.broadcastLocked()
}

func (c *command) finish(code int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exit != nil {
		return
	}
	c.exit = &code
	close(c.done)
	c.broadcastLocked()
	c.stdinW.Close()
	c.stdinR.Close()
}

func (c *command) dto() commandDTO {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := commandDTO{ID: c.id, Command: c.text}
	if c.exit != nil {
		code := *c.exit
		d.ExitCode = &code
	}
	return d
}

// logs returns the raw log (with markers), the marker-free log, whether
// the command has finished, and a channel closed on the next change.
func (c *command) logs() (raw, plain []byte, finished bool, changed <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.raw, c.plain, c.exit != nil, c.changed
}

// demux splits a raw log into stdout and stderr.
func demux(raw []byte) (stdout, stderr []byte) {
	cur := &stdout
	for len(raw) > 0 {
		switch {
		case bytes.HasPrefix(raw, markerStdout):
			cur = &stdout
			raw = raw[len(markerStdout):]
			continue
		case bytes.HasPrefix(raw, markerStderr):
			cur = &stderr
			raw = raw[len(markerStderr):]
			continue
		}
		i := bytes.IndexAny(raw[1:], "\x01\x02") + 1
		if i == 0 {
			i = len(raw)
		}
		*cur = append(*cur, raw[:i]...)
		raw = raw[i:]
	}
	return stdout, stderr
}

// pump copies one output stream into the log line by line. A line without
// a newline is written when the stream ends, with a newline added.
func pump(c *command, r io.Reader, stream int) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			switch err {
			case nil, bufio.ErrBufferFull:
				c.appendLine(stream, line)
			default:
				c.appendLine(stream, append(append([]byte{}, line...), '\n'))
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

// enqueue adds a command to the session's queue.
func (ss *session) enqueue(c *command) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.deleted {
		return errSessionGone
	}
	ss.commands = append(ss.commands, c)
	ss.byID[c.id] = c
	ss.queue = append(ss.queue, c)
	select {
	case ss.wake <- struct{}{}:
	default:
	}
	return nil
}

var errSessionGone = errors.New("session was deleted")

// terminate marks the session deleted, finishes its queued commands (exit
// code -1: they never ran) and kills the process groups of all its
// commands: the running one and whatever earlier ones left in the
// background.
func (ss *session) terminate(pt *procTable) {
	ss.mu.Lock()
	if ss.deleted {
		ss.mu.Unlock()
		return
	}
	ss.deleted = true
	queued := ss.queue
	ss.queue = nil
	cmds := append([]*command{}, ss.commands...)
	ss.mu.Unlock()
	select {
	case ss.wake <- struct{}{}:
	default:
	}
	for _, c := range queued {
		c.finish(-1)
	}
	var pgids []int
	for _, c := range cmds {
		if pgid := c.pgidOf(); pgid > 0 {
			pgids = append(pgids, pgid)
		}
	}
	pt.killTracked(pgids)
}

func (c *command) pgidOf() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pgid
}

// runSession is the session's worker: it runs queued commands in order
// until the session is deleted.
func (s *Server) runSession(sb *sandbox, ss *session) {
	defer sb.procs.wg.Done()
	defer os.RemoveAll(ss.dir)
	for {
		ss.mu.Lock()
		for len(ss.queue) == 0 && !ss.deleted {
			ss.mu.Unlock()
			<-ss.wake
			ss.mu.Lock()
		}
		if ss.deleted {
			ss.mu.Unlock()
			return
		}
		c := ss.queue[0]
		ss.queue = ss.queue[1:]
		// Start under ss.mu, so terminate either sees this command's
		// process group or stops it from starting.
		p, err := s.startSessionCommand(sb, ss, c)
		if err != nil {
			ss.mu.Unlock()
			c.appendLine(stderrStream, []byte("daytonalocal: cannot start command: "+err.Error()+"\n"))
			c.finish(127)
			continue
		}
		ss.mu.Unlock()
		s.waitSessionCommand(sb, c, p)
	}
}

type runningCommand struct {
	cmd *exec.Cmd
	out *piped
}

func (s *Server) startSessionCommand(sb *sandbox, ss *session, c *command) (*runningCommand, error) {
	cmdFile := filepath.Join(ss.dir, "cmd-"+c.id+".sh")
	if err := os.WriteFile(cmdFile, []byte(c.text+"\n"), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command("/bin/sh", "-c", sessionWrapper, "daytona-session", ss.envFile, ss.pwdFile, cmdFile)
	cmd.Dir = sb.dir
	cmd.Env = sb.environ(nil)
	cmd.Stdin = c.stdinR
	out, err := startPiped(sb.procs, cmd, func(stream int, r io.Reader) { pump(c, r, stream) })
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.pgid = cmd.Process.Pid
	c.mu.Unlock()
	return &runningCommand{cmd: cmd, out: out}, nil
}

// waitSessionCommand waits for the command's shell, then for its output
// (see piped.drain), and only then publishes the exit code, so a finished
// command's log is complete.
func (s *Server) waitSessionCommand(sb *sandbox, c *command, p *runningCommand) {
	_ = p.cmd.Wait()
	sb.procs.exited(p.cmd.Process.Pid)
	p.out.drain(drainGrace, drainLimit)
	c.mu.Lock()
	truncated, attrs := c.caps.truncated(), c.caps.logAttrs()
	c.mu.Unlock()
	if truncated {
		s.log.Warn("daytonalocal session command output truncated", append([]any{"sandbox", sb.id, "command", c.id}, attrs...)...)
	}
	c.finish(exitCode(p.cmd.ProcessState))
}

// sessionOf finds a session, writing 404 when it is missing.
func (s *Server) sessionOf(w http.ResponseWriter, r *http.Request, sb *sandbox) *session {
	id := r.PathValue("sessionId")
	sb.procs.mu.Lock()
	ss := sb.procs.sessions[id]
	sb.procs.mu.Unlock()
	if ss == nil {
		s.daemonError(w, r, http.StatusNotFound, codeNotFound, "session %s not found", id)
	}
	return ss
}

// commandOf finds a session's command, writing 404 when either is missing.
func (s *Server) commandOf(w http.ResponseWriter, r *http.Request, sb *sandbox) *command {
	ss := s.sessionOf(w, r, sb)
	if ss == nil {
		return nil
	}
	id := r.PathValue("commandId")
	ss.mu.Lock()
	c := ss.byID[id]
	ss.mu.Unlock()
	if c == nil {
		s.daemonError(w, r, http.StatusNotFound, codeNotFound, "command %s not found in session %s", id, ss.id)
	}
	return c
}

func (ss *session) dto() sessionDTO {
	ss.mu.Lock()
	cmds := append([]*command{}, ss.commands...)
	ss.mu.Unlock()
	d := sessionDTO{SessionID: ss.id, Commands: make([]commandDTO, 0, len(cmds))}
	for _, c := range cmds {
		d.Commands = append(d.Commands, c.dto())
	}
	return d
}

func (s *Server) handleCreateSession(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	var req createSessionRequest
	if !s.readJSON(w, r, &req, false) {
		return
	}
	if strings.TrimSpace(req.SessionID) == "" {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "sessionId is required")
		return
	}
	dir := filepath.Join(sb.stateDir, "sessions", newID())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.log.Error("daytonalocal create session directory", "sandbox", sb.id, "error", err)
		s.daemonError(w, r, http.StatusInternalServerError, codeInternal, "failed to create the session")
		return
	}
	ss := &session{
		id:      req.SessionID,
		dir:     dir,
		envFile: filepath.Join(dir, "env"),
		pwdFile: filepath.Join(dir, "pwd"),
		wake:    make(chan struct{}, 1),
		byID:    map[string]*command{},
	}
	pt := sb.procs
	pt.mu.Lock()
	switch {
	case !pt.accepting:
		pt.mu.Unlock()
		os.RemoveAll(dir)
		s.toolboxError(w, r, http.StatusBadRequest, codeBadRequest, sourceProxy, "sandbox %s is not started", sb.id)
		return
	case pt.sessions[req.SessionID] != nil:
		pt.mu.Unlock()
		os.RemoveAll(dir)
		s.daemonError(w, r, http.StatusConflict, codeConflict, "session %s already exists", req.SessionID)
		return
	}
	pt.sessions[req.SessionID] = ss
	pt.wg.Add(1)
	pt.mu.Unlock()
	go s.runSession(sb, ss)
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) handleListSessions(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	sb.procs.mu.Lock()
	all := make([]*session, 0, len(sb.procs.sessions))
	for _, ss := range sb.procs.sessions {
		all = append(all, ss)
	}
	sb.procs.mu.Unlock()
	out := make([]sessionDTO, 0, len(all))
	for _, ss := range all {
		out = append(out, ss.dto())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SessionID < out[j].SessionID })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleGetSession(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	if ss := s.sessionOf(w, r, sb); ss != nil {
		writeJSON(w, http.StatusOK, ss.dto())
	}
}

func (s *Server) handleDeleteSession(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	id := r.PathValue("sessionId")
	sb.procs.mu.Lock()
	ss := sb.procs.sessions[id]
	delete(sb.procs.sessions, id)
	sb.procs.mu.Unlock()
	if ss == nil {
		s.daemonError(w, r, http.StatusNotFound, codeNotFound, "session %s not found", id)
		return
	}
	ss.terminate(sb.procs)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleSessionExec(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	var req sessionExecuteRequest
	if !s.readJSON(w, r, &req, false) {
		return
	}
	if strings.TrimSpace(req.Command) == "" {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "command is required")
		return
	}
	ss := s.sessionOf(w, r, sb)
	if ss == nil {
		return
	}
	c, err := newCommand(req.Command, s.opts.MaxOutputBytes)
	if err != nil {
		s.log.Error("daytonalocal session exec", "sandbox", sb.id, "error", err)
		s.daemonError(w, r, http.StatusInternalServerError, codeInternal, "failed to create the command")
		return
	}
	if err := ss.enqueue(c); err != nil {
		c.finish(-1)
		s.daemonError(w, r, http.StatusNotFound, codeNotFound, "session %s not found", ss.id)
		return
	}
	if req.RunAsync || req.Async {
		writeJSON(w, http.StatusAccepted, sessionExecuteResponse{CmdID: c.id})
		return
	}
	select {
	case <-c.done:
	case <-r.Context().Done():
		return
	}
	raw, plain, _, _ := c.logs()
	stdout, stderr := demux(raw)
	output := string(plain)
	if splitOutput(r) {
		output = string(raw)
	}
	so, se := string(stdout), string(stderr)
	code := *c.dto().ExitCode
	writeJSON(w, http.StatusOK, sessionExecuteResponse{CmdID: c.id, Output: &output, Stdout: &so, Stderr: &se, ExitCode: &code})
}

func (s *Server) handleGetCommand(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	if c := s.commandOf(w, r, sb); c != nil {
		writeJSON(w, http.StatusOK, c.dto())
	}
}

func (s *Server) handleSendInput(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	var req sessionSendInputRequest
	if !s.readJSON(w, r, &req, false) {
		return
	}
	if req.Data == nil {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "data is required")
		return
	}
	c := s.commandOf(w, r, sb)
	if c == nil {
		return
	}
	c.mu.Lock()
	finished := c.exit != nil
	c.mu.Unlock()
	if finished {
		s.daemonError(w, r, http.StatusGone, "COMMAND_ALREADY_COMPLETED", "command %s has already completed", c.id)
		return
	}
	_ = c.stdinW.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.stdinW.Write([]byte(*req.Data)); err != nil {
		if errors.Is(err, os.ErrClosed) {
			s.daemonError(w, r, http.StatusGone, "COMMAND_ALREADY_COMPLETED", "command %s has already completed", c.id)
			return
		}
		s.daemonError(w, r, http.StatusInternalServerError, codeInternal, "failed to write input: %v", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleCommandLogs(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	c := s.commandOf(w, r, sb)
	if c == nil {
		return
	}
	if v := r.URL.Query().Get("follow"); v != "" {
		follow, err := strconv.ParseBool(v)
		if err != nil {
			s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "follow must be a boolean")
			return
		}
		if follow {
			if !isWebSocketUpgrade(r) {
				s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "follow=true needs a WebSocket upgrade")
				return
			}
			s.followLogs(w, r, sb, c)
			return
		}
	}
	raw, plain, _, _ := c.logs()
	switch {
	case sdkAtLeast(r, 0, 167, 0):
		stdout, stderr := demux(raw)
		writeJSON(w, http.StatusOK, sessionCommandLogsResponse{Output: string(raw), Stdout: string(stdout), Stderr: string(stderr)})
	case strings.EqualFold(r.Header.Get("X-Daytona-Split-Output"), "true"):
		writeText(w, raw)
	default:
		writeText(w, plain)
	}
}

func writeText(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// splitOutput reports whether a client gets logs with markers: SDK
// version 0.167.0 or newer, or X-Daytona-Split-Output: true.
func splitOutput(r *http.Request) bool {
	return sdkAtLeast(r, 0, 167, 0) || strings.EqualFold(r.Header.Get("X-Daytona-Split-Output"), "true")
}

// sdkAtLeast compares the X-Daytona-SDK-Version header with a version.
func sdkAtLeast(r *http.Request, major, minor, patch int) bool {
	v := strings.TrimPrefix(strings.TrimSpace(r.Header.Get("X-Daytona-SDK-Version")), "v")
	if v == "" {
		return false
	}
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	want := []int{major, minor, patch}
	for i := range 3 {
		n := 0
		if i < len(parts) {
			var err error
			if n, err = strconv.Atoi(parts[i]); err != nil {
				return false
			}
		}
		if n != want[i] {
			return n > want[i]
		}
	}
	return true
}

func isWebSocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}
