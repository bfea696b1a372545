package daytonalocal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sandstep/sandstep/internal/atomicfile"
	"github.com/sandstep/sandstep/internal/dirlock"
	"github.com/sandstep/sandstep/internal/procmark"
)

// A server killed with SIGKILL leaves its sandboxes' processes running
// and its root on disk. The next server reclaims both: in a kept root it
// kills every process still carrying the root's mark before it loads the
// sandboxes; and it removes the temporary directories of processes that no
// longer run, killing their sandboxes' marked processes first: its own
// temporary roots, and those a caller marked with MarkTempDir (a local
// stack's temporary data directory, which holds a kept root). A temporary
// directory says who owns it in ownerFile; one without it is never
// touched, nor is one another holds the lock of (internal/dirlock), whoever
// its owner was.

// TempDirPattern names temporary directories, for os.MkdirTemp: those a
// server looks at for a dead owner's.
const TempDirPattern = "daytonalocal-"

// ownerFile, in a temporary directory, names the process that owns it.
const ownerFile = ".owner"

// rootOwner identifies a process across pid reuse and reboots.
type rootOwner struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"` // clock ticks after boot
	Boot  string `json:"boot"`
	Root  string `json:"root"` // the temporary directory
	// Sandboxes is the root whose sandboxes' processes are killed, when
	// it is not Root itself but a directory in it (MarkTempDir).
	Sandboxes string `json:"sandboxes,omitempty"`
}

// thisProcess is the owner record of the calling process.
func thisProcess(root string) (rootOwner, error) {
	st, err := procmark.ReadStat(os.Getpid())
	if err != nil {
		return rootOwner{}, err
	}
	boot, err := bootID()
	if err != nil {
		return rootOwner{}, err
	}
	return rootOwner{PID: st.PID, Start: st.Start, Boot: boot, Root: root}, nil
}

func bootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b)), err
}

// running reports whether the owner process still runs: the same pid,
// started at the same time since the same boot, and not exited.
func (o rootOwner) running() bool {
	boot, err := bootID()
	if err != nil || boot != o.Boot {
		return false
	}
	st, err := procmark.ReadStat(o.PID)
	return err == nil && st.Start == o.Start && !st.Exited()
}

// markTempRoot records the server's process as the owner of its
// temporary root. Without /proc there is nothing to record, and the root
// is never reclaimed.
func (s *Server) markTempRoot() {
	o, err := thisProcess(s.root)
	if err == nil {
		err = o.write()
	}
	if err != nil && !errors.Is(err, errors.ErrUnsupported) {
		s.log.Warn("daytonalocal: the temporary root is not marked as this process's; if the process is killed, it is left behind",
			"root", s.root, "error", err)
	}
}

// write records o in its directory.
func (o rootOwner) write() error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(o.Root, ownerFile), b)
}

// MarkTempDir records the calling process as the owner of dir, a
// temporary directory made with os.MkdirTemp("", TempDirPattern+...)
// that holds (or will hold) root, the Root of a server of the process:
// once the process no longer runs, the next server to start, in any
// process, kills what the sandboxes under root left running and removes
// dir, as it does a temporary root of its own. The caller removes dir
// when it is done with it. Without /proc nothing is recorded (an error
// that is errors.ErrUnsupported, on such systems).
func MarkTempDir(dir, root string) error {
	if !strings.HasPrefix(filepath.Base(dir), TempDirPattern) {
		return fmt.Errorf("daytonalocal: %s is not named by TempDirPattern: no server would look at it", dir)
	}
	rel, err := filepath.Rel(dir, root)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("daytonalocal: %s is not inside %s", root, dir)
	}
	real, err := filepath.Abs(dir)
	if err == nil {
		real, err = filepath.EvalSymlinks(real)
	}
	if err != nil {
		return fmt.Errorf("daytonalocal: %w", err)
	}
	o, err := thisProcess(real)
	if err != nil {
		return err
	}
	o.Sandboxes = filepath.Join(real, rel)
	return o.write()
}

// UnmarkTempDir removes the owner record MarkTempDir (or a server, for
// its temporary root) left in dir, if there is one, and reports whether
// there was: no server will reclaim dir after that. It is for a caller
// that keeps dir from now on, holding its lock (internal/dirlock) first:
// a local stack given a killed stack's temporary data directory, whose
// state the user wants back, with -data-dir. A file by the record's name
// that is not an owner record is left as it is.
func UnmarkTempDir(dir string) (bool, error) {
	name := filepath.Join(dir, ownerFile)
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("daytonalocal: %w", err)
	}
	var o rootOwner
	if json.Unmarshal(b, &o) != nil || o.PID == 0 || o.Root == "" {
		return false, nil
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("daytonalocal: %w", err)
	}
	return true, nil
}

// reclaimRoot kills what an earlier server on the kept root left running.
func (s *Server) reclaimRoot() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	res, err := procmark.KillAll(ctx, s.rootMarks())
	s.orphans.add(res.Killed)
	if err != nil || len(res.Killed) > 0 {
		s.log.Info("daytonalocal killed the processes an earlier server left running", "root", s.root,
			"processes", len(res.Killed), "error", err)
	}
}

// reclaimTempRoots removes the temporary roots whose owners no longer run,
// after killing the processes their sandboxes left.
func (s *Server) reclaimTempRoots() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), TempDirPattern+"*"))
	for _, dir := range dirs {
		if dir == s.root {
			continue
		}
		if err := s.reclaimTempRoot(dir); err != nil {
			s.log.Warn("daytonalocal: cannot reclaim a temporary root", "root", dir, "error", err)
		}
	}
}

func (s *Server) reclaimTempRoot(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil // not marked: not ours to judge
	}
	if err != nil {
		return err
	}
	var o rootOwner
	if err := json.Unmarshal(b, &o); err != nil {
		return fmt.Errorf("read %s: %w", ownerFile, err)
	}
	switch real, err := filepath.EvalSymlinks(dir); {
	case err != nil:
		return err
	case real != o.Root, o.running():
		return nil // marked for another path, or its owner runs
	}
	// Its owner is gone, but another may use it now: a stack a user
	// started with -data-dir on a killed stack's temporary directory, to
	// get its state back, holds the directory's lock (internal/dirlock).
	// Held by us until the directory is gone, the lock also keeps a stack
	// from taking it meanwhile.
	lock, err := dirlock.TryLock(dir, "daytonalocal")
	if errors.Is(err, dirlock.ErrInUse) {
		s.log.Debug("daytonalocal: a temporary root whose owner no longer runs is in use; left alone", "root", dir, "ownerPid", o.PID)
		return nil
	}
	if err != nil {
		return err
	}
	defer lock.Close()
	// Read again under the lock: a stack may have taken the directory and
	// unmarked it (it keeps it now) between the read above and the lock.
	if again, err := os.ReadFile(filepath.Join(dir, ownerFile)); err != nil || !bytes.Equal(again, b) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	sandboxes := o.Root
	if o.Sandboxes != "" {
		sandboxes = o.Sandboxes
	}
	res, err := procmark.KillAll(ctx, procmark.Matcher{Key: markKey, Value: rootID(sandboxes) + "/", Prefix: true})
	s.orphans.add(res.Killed)
	if err != nil {
		return fmt.Errorf("kill its processes: %w", err)
	}
	s.log.Info("daytonalocal removed the temporary root of a server that no longer runs", "root", dir,
		"ownerPid", o.PID, "processes", len(res.Killed))
	return os.RemoveAll(dir)
}
