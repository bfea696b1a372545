// Package dirlock gives a local stand-in's data directory to one server at
// a time: an exclusive flock on the directory, which the kernel drops when
// the holding process ends.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Wait bounds how long Lock asks again for a refused lock: a lock just let
// go may still be held for a moment, since a process forked meanwhile (a
// git command, a sandbox's) shares the descriptor until it execs.
const Wait = 500 * time.Millisecond

// ErrInUse is what Lock's error is (errors.Is) when another holds the
// lock.
var ErrInUse = errors.New("in use by another server")

// inUseError names the directory and the kind of server that holds it.
type inUseError struct{ dir, server string }

func (e *inUseError) Error() string {
	return fmt.Sprintf("%s is in use by another %s server", e.dir, e.server)
}

func (e *inUseError) Is(target error) bool { return target == ErrInUse }

// Lock locks dir for server (named in the error when another holds it)
// and returns the file whose Close lets it go.
func Lock(dir, server string) (*os.File, error) { return lock(dir, server, Wait) }

// TryLock is Lock without the wait: one try, for a caller to whom a lock
// held by another means "leave the directory alone" (one being let go
// just then is taken at a later try).
func TryLock(dir, server string) (*os.File, error) { return lock(dir, server, 0) }

func lock(dir, server string, wait time.Duration) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			// The holder waited for may have removed the directory (a
			// reclaim of a dead server's): a lock on what is no longer at
			// dir guards nothing.
			if !same(f, dir) {
				f.Close()
				return nil, fmt.Errorf("lock %s: the directory was removed while its lock was waited for", dir)
			}
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			break
		}
	}
	f.Close()
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, &inUseError{dir: dir, server: server}
	}
	return nil, fmt.Errorf("lock %s: %w", dir, err)
}

// same says whether f is still the directory at dir.
func same(f *os.File, dir string) bool {
	held, err := f.Stat()
	if err != nil {
		return false
	}
	now, err := os.Stat(dir)
	return err == nil && os.SameFile(held, now)
}
