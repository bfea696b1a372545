package daytonalocal

import (
	"os"
	"strconv"
	"testing"

	"github.com/sandstep/sandstep/internal/testutil"
)

// escapers leaves three processes behind in a sandbox, each writing its
// pid to a file: one that made itself a session leader (setsid without a
// fork), one that setsid -f forked off, and one orphaned by a double fork.
// The first two leave the command's process group; all three outlive the
// command's shell.
const escapers = `setsid sh -c 'echo $$ > setsid.pid; exec sleep 300' >/dev/null 2>&1 &
setsid -f sh -c 'echo $$ > setsid-f.pid; exec sleep 300' >/dev/null 2>&1
( (sh -c 'echo $$ > double.pid; exec sleep 300' >/dev/null 2>&1 &) & )
`

// startEscapers runs escapers in the sandbox, through execute and through
// a session command, and returns the pids of the six processes left.
func (h *harness) startEscapers(id string) []int {
	h.t.Helper()
	h.execute(id, "mkdir -p x; cd x\n"+escapers)
	h.tb(id, "POST", "/process/session", map[string]any{"sessionId": "escape"})
	h.sessionExec(id, "escape", "mkdir -p y; cd y\n"+escapers, false)
	var pids []int
	for _, dir := range []string{"x", "y"} {
		for _, f := range []string{"setsid.pid", "setsid-f.pid", "double.pid"} {
			pids = append(pids, h.readPID(id, dir+"/"+f))
		}
	}
	for _, pid := range pids {
		if processGone(pid) {
			h.t.Fatalf("process %d is not running before the test acts", pid)
		}
	}
	return pids
}

// checkAllGone waits until none of pids exists, not even as a zombie: a
// process the server adopted must be reaped by it.
func checkAllGone(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		proc := "/proc/" + strconv.Itoa(pid)
		eventually(t, "process "+strconv.Itoa(pid)+" to be gone and reaped", func() bool {
			_, err := os.Stat(proc)
			return os.IsNotExist(err)
		})
	}
}

// zombieChildren lists the pids of the test process's zombie children.
func zombieChildren() map[int]bool {
	out := map[int]bool{}
	for _, p := range testutil.Processes() {
		if p.PPID == os.Getpid() && !p.Live() {
			out[p.PID] = true
		}
	}
	return out
}

// checkNoNewZombieChild waits until no child of the test process, which
// runs the servers, is a zombie, except those that were before (a killed
// child server's; see startChild).
func checkNoNewZombieChild(t *testing.T, before map[int]bool) {
	t.Helper()
	eventually(t, "no new zombie child of the test process", func() bool {
		for pid := range zombieChildren() {
			if !before[pid] {
				return false
			}
		}
		return true
	})
}

func TestEscapedProcessesDie(t *testing.T) {
	tests := []struct {
		name string
		end  func(h *harness, id string)
	}{
		{"delete", func(h *harness, id string) {
			if r := h.api("DELETE", "/sandbox/"+id, nil); r.status != 200 {
				h.t.Fatalf("delete: %d %s", r.status, r.body)
			}
		}},
		{"stop", func(h *harness, id string) {
			if r := h.api("POST", "/sandbox/"+id+"/stop", nil); r.status != 200 {
				h.t.Fatalf("stop: %d %s", r.status, r.body)
			}
		}},
		{"server close", func(h *harness, id string) {
			h.ts.Close()
			if err := h.srv.Close(); err != nil {
				h.t.Fatalf("Close: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			zombies := zombieChildren()
			h := newHarness(t, Options{})
			sb := h.create(nil)
			pids := h.startEscapers(sb.ID)
			tt.end(h, sb.ID)
			checkAllGone(t, pids)
			checkNoNewZombieChild(t, zombies)
		})
	}
}
