package daytonalocal

import (
	"sync"
	"time"

	"github.com/sandstep/sandstep/internal/procmark"
)

// markKey is the environment variable that marks every process a sandbox
// starts; its value is "<root id>/<sandbox id>" (see Server.markOf).
const markKey = "DAYTONALOCAL_MARK"

// reapEvery is how often the server looks for orphans it adopted.
const reapEvery = time.Second

// waited holds the pids of the shells that the servers of this process
// started and an exec.Cmd waits for: never reaped by orphans, which would
// steal their exit status. A start holds it (write) from fork to record,
// a reaping pass (read) throughout, so that a pass never sees a shell
// started but not yet recorded.
var waited = struct {
	sync.RWMutex
	pids map[int]bool
}{pids: map[int]bool{}}

// orphans reaps the sandbox processes this server adopted as a child
// subreaper: a process whose parent died is re-parented to the server and,
// once it exits, stays a zombie until the server waits for it. Only
// processes known to be a sandbox's are reaped, never a shell in waited
// nor a child some other part of the program started: a process seen
// alive with this root's mark, or one in a process group a sandbox's
// shell leads.
type orphans struct {
	root procmark.Matcher // every mark of this server's root

	mu     sync.Mutex
	seen   map[procmark.Proc]bool
	tables map[*procTable]bool // until destroyed and without a group
}

func newOrphans(root procmark.Matcher) *orphans {
	return &orphans{root: root, seen: map[procmark.Proc]bool{}, tables: map[*procTable]bool{}}
}

// watch adds a sandbox's process table, whose groups mark their members
// as the sandbox's. It is dropped once it is destroyed and its groups
// are empty.
func (o *orphans) watch(pt *procTable) {
	o.mu.Lock()
	o.tables[pt] = true
	o.mu.Unlock()
}

// ownsGroupLocked reports whether pgid is a process group a sandbox's
// shell leads.
func (o *orphans) ownsGroupLocked(pgid int) bool {
	for pt := range o.tables {
		if pt.tracks(pgid) {
			return true
		}
	}
	return false
}

// add remembers processes known to be a sandbox's (killed ones), to reap
// them once they are the server's zombies.
func (o *orphans) add(ps []procmark.Proc) {
	o.mu.Lock()
	for _, p := range ps {
		o.seen[p] = true
	}
	o.mu.Unlock()
}

// reap reaps the adopted sandbox processes that have exited and remembers
// the live ones. It reports how many remembered processes and destroyed
// tables are still around.
func (o *orphans) reap() int {
	waited.RLock()
	defer waited.RUnlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, st := range procmark.Children() {
		if waited.pids[st.PID] {
			continue
		}
		p := st.Proc()
		switch {
		case !st.Exited():
			if !o.seen[p] && procmark.Carries(p, o.root) {
				o.seen[p] = true
			}
		case o.seen[p] || st.PGID != st.PID && o.ownsGroupLocked(st.PGID):
			procmark.Reap(p)
		}
	}
	for p := range o.seen {
		if st, err := procmark.ReadStat(p.PID); err != nil || st.Start != p.Start {
			delete(o.seen, p)
		}
	}
	for pt := range o.tables {
		if pt.forgettable() {
			delete(o.tables, pt)
		}
	}
	n := len(o.seen)
	for pt := range o.tables {
		if pt.isDead() {
			n++
		}
	}
	return n
}

// reapFor reaps until no remembered process is left or d has passed: for
// Close, after which nothing reaps.
func (o *orphans) reapFor(d time.Duration) {
	deadline := time.Now().Add(d)
	for o.reap() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// becomeSubreaper makes the server's process adopt orphaned sandbox
// processes. It lasts for the process's life; harmless for other code,
// whose orphans it leaves alone (they stay zombies instead of going to
// init, which may not reap either).
func (s *Server) becomeSubreaper() {
	if err := procmark.SetSubreaper(); err != nil {
		s.log.Warn("daytonalocal: cannot adopt orphaned sandbox processes; they are left to init", "error", err)
	}
}
