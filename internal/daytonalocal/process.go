package daytonalocal

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/sandstep/sandstep/internal/procmark"
)

// shutdownWait bounds how long destroy waits for killed processes to be
// reaped before removing the directory.
const shutdownWait = 5 * time.Second

var errNotAccepting = errors.New("sandbox is not running")

// procTable tracks a sandbox's processes and sessions. Background
// processes a command leaves behind keep running, as in a real sandbox,
// until the sandbox is stopped or deleted, their session is deleted, or the
// server is closed; then they are SIGKILLed.
//
// Every process the sandbox starts carries its mark in the environment,
// and so do their descendants, whatever they do to their session or group
// (setsid, setsid -f, a double fork): stopping or deleting the sandbox
// kills every process carrying the mark (procmark.KillAll). Process groups
// are tracked too, for a session's delete and a command's timeout, which
// kill groups only: from its start until a probe (kill(-pgid, 0)) says it
// is empty. The probe runs when the group's leader exits and at every
// sweep, which keeps the window in which a recycled pid could be mistaken
// for one of ours down to a sweep interval (and a full wrap of the pid
// space would be needed).
type procTable struct {
	mark    procmark.Mark
	orphans *orphans // reaps what the mark sweep killed

	mu        sync.Mutex
	accepting bool // new processes may start
	dead      bool // destroyed for good
	groups    map[int]struct{}
	sessions  map[string]*session
	wg        sync.WaitGroup // process waiters and session workers
}

func newProcTable(mark procmark.Mark, o *orphans) *procTable {
	pt := &procTable{mark: mark, orphans: o, groups: map[int]struct{}{}, sessions: map[string]*session{}}
	o.watch(pt)
	return pt
}

// tracks reports whether pgid is one of the table's process groups.
func (pt *procTable) tracks(pgid int) bool {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	_, ok := pt.groups[pgid]
	return ok
}

func (pt *procTable) setAccepting(ok bool) {
	pt.mu.Lock()
	pt.accepting = ok && !pt.dead
	pt.mu.Unlock()
}

// start starts cmd in a new process group and tracks the group. The caller
// must call exited once cmd.Wait has returned.
func (pt *procTable) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	waited.Lock()
	defer waited.Unlock()
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if !pt.accepting {
		return errNotAccepting
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	waited.pids[cmd.Process.Pid] = true
	pt.groups[cmd.Process.Pid] = struct{}{}
	pt.wg.Add(1)
	return nil
}

// exited is called after a group leader has been reaped.
func (pt *procTable) exited(pgid int) {
	waited.Lock()
	delete(waited.pids, pgid)
	waited.Unlock()
	pt.mu.Lock()
	if !groupAlive(pgid) {
		delete(pt.groups, pgid)
	}
	pt.mu.Unlock()
	pt.wg.Done()
}

// prune forgets groups that have no process left.
func (pt *procTable) prune() {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	for pgid := range pt.groups {
		if !groupAlive(pgid) {
			delete(pt.groups, pgid)
		}
	}
}

func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}

// killGroup SIGKILLs a process group. pgid must be a group this server
// started: never 0 or 1, which would signal the server's own group or
// every process.
func killGroup(pgid int) {
	if pgid > 1 {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// killTracked SIGKILLs those of the given groups that are still tracked
// (so a group that is gone, and whose id may have been reused, is left
// alone).
func (pt *procTable) killTracked(pgids []int) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	for _, pgid := range pgids {
		if _, ok := pt.groups[pgid]; ok {
			killGroup(pgid)
		}
	}
}

// killAll SIGKILLs every process carrying the sandbox's mark, sweeping
// until none is left (or shutdownWait has passed), then deletes every
// session and SIGKILLs every tracked process group. The caller has
// stopped new processes from starting (setAccepting).
func (pt *procTable) killAll() {
	pt.mu.Lock()
	sessions := make([]*session, 0, len(pt.sessions))
	for id, ss := range pt.sessions {
		sessions = append(sessions, ss)
		delete(pt.sessions, id)
	}
	pt.mu.Unlock()
	// The mark first, so that every process it kills is known to be the
	// sandbox's when it is to be reaped; the groups then for a process
	// that dropped its environment.
	ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	res, _ := procmark.KillAll(ctx, procmark.Exactly(pt.mark))
	pt.orphans.add(res.Killed)
	for _, ss := range sessions {
		ss.terminate(pt)
	}
	pt.mu.Lock()
	for pgid := range pt.groups {
		killGroup(pgid)
	}
	pt.mu.Unlock()
}

// shutdown stops the table for good: no new process, everything killed,
// and a bounded wait for the killed processes to be reaped.
func (pt *procTable) shutdown() {
	pt.mu.Lock()
	pt.dead, pt.accepting = true, false
	pt.mu.Unlock()
	pt.killAll()
	waitAtMost(&pt.wg, shutdownWait)
}

func (pt *procTable) isDead() bool {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.dead
}

// forgettable reports whether the table is destroyed and has no process
// group left, not even of zombies: nothing of it is left to reap.
func (pt *procTable) forgettable() bool {
	if !pt.isDead() {
		return false
	}
	pt.prune()
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return len(pt.groups) == 0
}

// waitAtMost waits for wg, or d at most, and reports whether wg finished.
func waitAtMost(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// environ builds a command's environment from scratch: the server's own
// environment is not inherited (it may hold credentials), except PATH.
// The sandbox's create-time env overrides the defaults, and the request's
// envs override both.
func (sb *sandbox) environ(extra map[string]string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	env := map[string]string{
		"PATH":                 path,
		"HOME":                 sb.dir,
		"USER":                 sb.user,
		"LOGNAME":              sb.user,
		"LANG":                 "C.UTF-8",
		"DAYTONA_SANDBOX_ID":   sb.id,
		"DAYTONA_SANDBOX_USER": sb.user,
	}
	for k, v := range sb.env {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	env[sb.procs.mark.Key] = sb.procs.mark.Value // last: a request cannot unset it
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// exitCode is the shell convention: the status, or 128+signal.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

type execOutcome struct {
	exitCode int
	output   []byte
	timedOut bool
}

// runExecute runs one /process/execute command as `/bin/sh -c` in its own
// process group. Its result is stdout and stderr together, each cut at
// Options.MaxOutputBytes, as read from two pipes (see capture). On timeout
// (answered 408 PROCESS_EXECUTION_TIMEOUT) or when ctx ends the whole
// group is SIGKILLed. Without a timeout a command runs until it ends, as
// with the v0.190 daemon. Output is read as piped.drain says.
func (s *Server) runExecute(ctx context.Context, sb *sandbox, command, cwd string, envs map[string]string, timeout time.Duration) (execOutcome, error) {
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Dir = cwd
	cmd.Env = sb.environ(envs)
	out := newCapture(s.opts.MaxOutputBytes)
	pipes, err := startPiped(sb.procs, cmd, out.read)
	if err != nil {
		return execOutcome{}, err
	}
	pgid := cmd.Process.Pid
	waitDone := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(waitDone)
	}()

	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	res := execOutcome{}
	select {
	case <-waitDone:
	case <-deadline:
		res.timedOut = true
		killGroup(pgid)
		<-waitDone
	case <-ctx.Done():
		killGroup(pgid)
		<-waitDone
	}
	sb.procs.exited(pgid)
	pipes.drain(drainGrace, drainLimit)

	output, truncated, attrs := out.result()
	if truncated {
		s.log.Warn("daytonalocal execute output truncated", append([]any{"sandbox", sb.id}, attrs...)...)
	}
	res.output = output
	res.exitCode = exitCode(cmd.ProcessState)
	return res, nil
}

func (s *Server) handleExecute(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	var req executeRequest
	if !s.readJSON(w, r, &req, false) {
		return
	}
	if req.Command == "" {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "command is required")
		return
	}
	if req.Timeout != nil && *req.Timeout < 0 {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "timeout must not be negative")
		return
	}
	for k, v := range req.Envs {
		if !validEnvName(k) || containsNUL(v) {
			s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "envs: invalid variable %q", k)
			return
		}
	}
	cwd := sb.dir
	if req.Cwd != "" {
		p, err := sb.resolve(req.Cwd)
		if err != nil {
			s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "cwd: %s", err.Error())
			return
		}
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "cwd: %s is not a directory", req.Cwd)
			return
		}
		cwd = p
	}
	var timeout time.Duration
	if req.Timeout != nil {
		timeout = time.Duration(*req.Timeout) * time.Second
	}
	res, err := s.runExecute(r.Context(), sb, req.Command, cwd, req.Envs, timeout)
	if errors.Is(err, errNotAccepting) {
		s.toolboxError(w, r, http.StatusBadRequest, codeBadRequest, sourceProxy, "sandbox %s is not started", sb.id)
		return
	}
	if err != nil {
		s.log.Error("daytonalocal execute", "sandbox", sb.id, "error", err)
		s.daemonError(w, r, http.StatusInternalServerError, codeInternal, "failed to start the command")
		return
	}
	if res.timedOut {
		s.daemonError(w, r, http.StatusRequestTimeout, codeExecTimeout, "command execution timeout")
		return
	}
	if r.Context().Err() != nil {
		return
	}
	writeJSON(w, http.StatusOK, executeResponse{ExitCode: res.exitCode, Result: string(res.output)})
}

func containsNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}
