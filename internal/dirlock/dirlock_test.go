package dirlock

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLock(t *testing.T) {
	dir := t.TempDir()
	first, err := Lock(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(dir, "test"); err == nil || !strings.Contains(err.Error(), "in use by another test server") || !errors.Is(err, ErrInUse) {
		t.Fatalf("a second lock: %v, want in use", err)
	}
	start := time.Now()
	if _, err := TryLock(dir, "test"); !errors.Is(err, ErrInUse) || time.Since(start) >= Wait {
		t.Fatalf("TryLock of a held lock: %v after %v, want in use at once", err, time.Since(start))
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	tried, err := TryLock(dir, "test")
	if err != nil {
		t.Fatalf("TryLock after Close: %v", err)
	}
	tried.Close()
	again, err := Lock(dir, "test")
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	again.Close()
	if _, err := Lock(dir+"/missing", "test"); err == nil {
		t.Error("a missing directory locked")
	}
}

// A lock let go while a child still shares its descriptor (here for
// 50 ms, as a forked process does until it execs) is taken once the child
// lets go.
func TestLockWaitsForAChildsCopy(t *testing.T) {
	dir := t.TempDir()
	first, err := Lock(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command("sleep", "0.05")
	child.ExtraFiles = []*os.File{first} // the child's copy of the locked descriptor
	if err := child.Start(); err != nil {
		t.Skipf("no sleep to run: %v", err)
	}
	defer child.Wait()
	first.Close()
	// Still held through the child's copy.
	probe, _ := os.Open(dir)
	defer probe.Close()
	if err := syscall.Flock(int(probe.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		t.Skip("the lock went with our descriptor; nothing to wait for here")
	}
	again, err := Lock(dir, "test")
	if err != nil {
		t.Fatalf("after the child's exit: %v", err)
	}
	again.Close()
}
