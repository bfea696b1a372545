// Package testutil holds the few helpers that tests of several packages
// share. Only tests import it.
package testutil

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Buffer is a bytes.Buffer that a writer (a logger, a child process's
// copying goroutine) and a reading test may use at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Bytes returns a copy of everything written so far.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

// Proc is one process as /proc/<pid>/stat describes it.
type Proc struct {
	PID   int
	State string // "R", "S", "Z" (zombie), ...
	PPID  int
	PGID  int
	Comm  string
}

// Live reports whether the process has not yet exited (zombies have).
func (p Proc) Live() bool { return p.State != "Z" && p.State != "X" }

// Processes lists the machine's processes from /proc; it returns nil where
// there is no /proc. Processes that exit while it reads are left out.
func Processes() []Proc {
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	procs := make([]Proc, 0, len(paths))
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if p, ok := parseStat(string(raw)); ok {
			procs = append(procs, p)
		}
	}
	return procs
}

// parseStat reads "pid (comm) state ppid pgrp ...": comm may hold spaces
// and parentheses, so the fields after it are found from the last ')'.
func parseStat(s string) (Proc, bool) {
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open {
		return Proc{}, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return Proc{}, false
	}
	f := strings.Fields(s[close+1:])
	if len(f) < 3 {
		return Proc{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgid, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return Proc{}, false
	}
	return Proc{PID: pid, State: f[0], PPID: ppid, PGID: pgid, Comm: s[open+1 : close]}, true
}

// LiveInGroup returns the live (non-zombie) processes of process group pgid.
func LiveInGroup(pgid int) []Proc {
	var out []Proc
	for _, p := range Processes() {
		if p.PGID == pgid && p.Live() {
			out = append(out, p)
		}
	}
	return out
}

// LiveChildren returns the live (non-zombie) children of pid.
func LiveChildren(pid int) []Proc {
	var out []Proc
	for _, p := range Processes() {
		if p.PPID == pid && p.Live() {
			out = append(out, p)
		}
	}
	return out
}

// NeedNode skips a test whose Node.js tools are missing (why, not nil),
// except where SANDSTEP_REQUIRE_NODE is set (CI installs them): there a
// skip would hide a test that must run, so it fails.
func NeedNode(t testing.TB, why error) {
	t.Helper()
	if why == nil {
		return
	}
	if os.Getenv("SANDSTEP_REQUIRE_NODE") != "" {
		t.Fatalf("Node.js tools are needed, and SANDSTEP_REQUIRE_NODE is set: %v", why)
	}
	t.Skipf("needs Node.js tools (make sfnlocal-deps): %v", why)
}
