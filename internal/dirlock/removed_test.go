package dirlock

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// openFDsOn counts this process's descriptors open on dir.
func openFDsOn(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && (l == dir || l == dir+" (deleted)") {
			n++
		}
	}
	return n
}

// A Lock waiting on a directory its holder removes (a reclaim of a dead
// server's temporary directory) is refused, not granted on the removed
// directory: what is at the path afterwards is no one's.
func TestLockOfADirectoryRemovedWhileWaitingIsRefused(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "daytonalocal-dead")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The reclaimer: the lock, tried once.
	reclaimer, err := TryLock(dir, "daytonalocal")
	if err != nil {
		t.Fatal(err)
	}
	// A stack starting on the directory meanwhile.
	type result struct {
		f   *os.File
		err error
	}
	got := make(chan result, 1)
	go func() {
		f, err := Lock(dir, "local stack")
		got <- result{f, err}
	}()
	// Its descriptor is open on the directory: it waits for the lock.
	for deadline := time.Now().Add(Wait / 2); openFDsOn(t, dir) < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the waiting Lock never opened the directory")
		}
	}
	// The reclaimer removes the directory, then lets the lock go.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	reclaimer.Close()

	r := <-got
	if r.err == nil {
		defer r.f.Close()
		_, statErr := os.Stat(dir)
		t.Fatalf("Lock(%s) = nil error: the waiting stack holds the lock of a directory the reclaimer removed (stat now: %v)",
			dir, fmt.Sprint(statErr))
	}
}
