package procmark

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Find returns the live processes carrying a mark m selects, the calling
// process excepted.
func Find(m Matcher) []Proc {
	self := os.Getpid()
	var out []Proc
	unsure := map[Proc]int{} // read empty: how many times
	for _, pid := range pids("/proc") {
		if pid == self {
			continue
		}
		// The environment first: most processes are not marked, and one
		// read each is half the sweep's cost.
		env, err := readEnviron(pid)
		switch {
		case err != nil:
		case len(env) == 0:
			if st, err := ReadStat(pid); err == nil && !st.Exited() && st.Flags&pfKthread == 0 {
				unsure[st.Proc()] = 1
			}
		case m.matches(env):
			if st, err := ReadStat(pid); err == nil && !st.Exited() {
				out = append(out, st.Proc())
			}
		}
	}
	// A process inside an execve has no environment to read for a moment
	// (its old memory is gone, its new one not yet set up), nor has one
	// started with none (env -i). Look again: a few times, and for as long
	// as the new memory is not set up, up to execWait.
	deadline := time.Now().Add(execWait)
	for len(unsure) > 0 && time.Now().Before(deadline) {
		time.Sleep(250 * time.Microsecond)
		for p, n := range unsure {
			env, err := readEnviron(p.PID)
			st, serr := ReadStat(p.PID)
			switch {
			case err != nil || serr != nil || st.Start != p.Start || st.Exited():
				delete(unsure, p)
			case len(env) > 0:
				if m.matches(env) {
					out = append(out, p)
				}
				delete(unsure, p)
			case st.EnvEnd != 0 && n >= 3:
				delete(unsure, p) // an empty environment, it seems
			default:
				unsure[p] = n + 1
			}
		}
	}
	return out
}

// execWait bounds how long Find waits for a process inside an execve.
const execWait = 50 * time.Millisecond

// pfKthread is the kernel's PF_KTHREAD flag, in /proc/<pid>/stat.
const pfKthread = 0x00200000

func readEnviron(pid int) ([]byte, error) {
	return os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
}

// pids lists the numeric entries of a /proc directory.
func pids(dir string) []int {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	out := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			out = append(out, pid)
		}
	}
	return out
}

// Carries reports whether p is still the process it was (same start
// time), has not exited and carries a mark m selects.
func Carries(p Proc, m Matcher) bool {
	st, err := ReadStat(p.PID)
	if err != nil || st.Start != p.Start || st.Exited() {
		return false
	}
	env, err := readEnviron(p.PID)
	return err == nil && m.matches(env)
}

// kill SIGKILLs p if it still is the marked process found. A pidfd pins
// the process while it is checked, so a recycled pid is never signalled.
func kill(p Proc, m Matcher) bool {
	fd, err := unix.PidfdOpen(p.PID, 0)
	if errors.Is(err, unix.ENOSYS) {
		// Before Linux 5.3: check, then kill by pid.
		return Carries(p, m) && unix.Kill(p.PID, unix.SIGKILL) == nil
	}
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return Carries(p, m) && unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0) == nil
}

// ReadStat reads /proc/<pid>/stat.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	return parseStat(string(b))
}

// Children returns the calling process's children, zombies included.
func Children() []Stat {
	self := os.Getpid()
	var kids []int
	tasks := pids("/proc/self/task")
	for _, tid := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/children")
		if err != nil {
			kids = nil
			break
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				kids = append(kids, pid)
			}
		}
	}
	if kids == nil { // no children files (CONFIG_PROC_CHILDREN): read every stat
		kids = pids("/proc")
	}
	var out []Stat
	for _, pid := range kids {
		if st, err := ReadStat(pid); err == nil && st.PPID == self {
			out = append(out, st)
		}
	}
	return out
}

var subreaper struct {
	once sync.Once
	err  error
}

// SetSubreaper makes the calling process a child subreaper
// (PR_SET_CHILD_SUBREAPER): orphaned descendants are re-parented to it
// and must be reaped by it (see Reap). It lasts for the process's life.
func SetSubreaper() error {
	subreaper.once.Do(func() {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			subreaper.err = fmt.Errorf("procmark: prctl(PR_SET_CHILD_SUBREAPER): %w", err)
		}
	})
	return subreaper.err
}

// Reap reaps p if it is an exited child of the calling process, and
// reports whether it did. Only processes no one else waits for may be
// passed: reaping one that an exec.Cmd started steals its exit status.
func Reap(p Proc) bool {
	st, err := ReadStat(p.PID)
	if err != nil || st.Start != p.Start || st.PPID != os.Getpid() || !st.Exited() {
		return false
	}
	var ws unix.WaitStatus
	pid, err := unix.Wait4(p.PID, &ws, unix.WNOHANG, nil)
	return err == nil && pid == p.PID
}
