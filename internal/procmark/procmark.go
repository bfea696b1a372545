// Package procmark finds again the processes a program started, whatever
// they did to their session or process group since: the program puts an
// environment entry (a mark) into every process it starts, descendants
// inherit it, and a sweep of /proc/*/environ finds them. KillAll kills
// them, sweeping until none is left. The package also makes the program a
// child subreaper, so that orphaned descendants are re-parented to it
// rather than to init, and reaps the orphans it is told about. A process
// that replaces its environment (env -i) loses its mark. Linux only:
// elsewhere nothing is ever found.
package procmark

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/pause"
)

// Mark is the environment entry Key=Value put into every process.
type Mark struct{ Key, Value string }

// Env is the mark as an environment entry.
func (m Mark) Env() string { return m.Key + "=" + m.Value }

// Matcher selects marks: those with key Key and value Value, or, with
// Prefix, every value that begins with Value.
type Matcher struct {
	Key, Value string
	Prefix     bool
}

// Exactly matches one mark.
func Exactly(m Mark) Matcher { return Matcher{Key: m.Key, Value: m.Value} }

// matches reports whether a /proc/<pid>/environ (NUL-separated entries)
// holds a selected mark.
func (m Matcher) matches(environ []byte) bool {
	head := []byte(m.Key + "=")
	for len(environ) > 0 {
		entry := environ
		if i := bytes.IndexByte(environ, 0); i >= 0 {
			entry, environ = environ[:i], environ[i+1:]
		} else {
			environ = nil
		}
		if !bytes.HasPrefix(entry, head) {
			continue
		}
		v := string(entry[len(head):])
		if v == m.Value || m.Prefix && len(v) >= len(m.Value) && v[:len(m.Value)] == m.Value {
			return true
		}
	}
	return false
}

// Proc identifies a process across pid reuse: its pid and its start time
// (clock ticks after boot).
type Proc struct {
	PID   int
	Start uint64
}

// Stat is what /proc/<pid>/stat says about a process.
type Stat struct {
	PID, PPID, PGID, SID int
	State                byte // 'R', 'S', 'Z' (zombie), ...
	Flags                uint64
	Start                uint64
	EnvEnd               uint64 // end of its environment in memory; 0 while an execve sets it up
}

// Proc is the process's identity.
func (s Stat) Proc() Proc { return Proc{PID: s.PID, Start: s.Start} }

// Exited reports whether the process has exited (a zombie waiting to be
// reaped, or dead).
func (s Stat) Exited() bool { return s.State == 'Z' || s.State == 'X' || s.State == 'x' }

// Result reports what KillAll did.
type Result struct {
	Killed []Proc // every process signalled, once each
	Sweeps int    // sweeps of /proc, the last two finding nothing left
}

// sweepPause is how long KillAll lets killed processes exit before it
// sweeps again.
const sweepPause = 5 * time.Millisecond

// KillAll SIGKILLs every live process carrying a mark m selects, then
// sweeps /proc again, until two sweeps in a row find none left: a process
// that forked in the meantime is found by the next sweep, and one that a
// sweep missed inside an execve by the one after. It stops early, with
// ctx's error, when ctx ends. The calling process is never signalled.
func KillAll(ctx context.Context, m Matcher) (Result, error) {
	var res Result
	signalled := map[Proc]bool{}
	empty := 0
	for {
		res.Sweeps++
		found := Find(m)
		if len(found) == 0 {
			if empty++; empty == 2 {
				return res, nil
			}
		} else {
			empty = 0
		}
		for _, p := range found {
			if kill(p, m) && !signalled[p] {
				signalled[p] = true
				res.Killed = append(res.Killed, p)
			}
		}
		if !pause.For(ctx, sweepPause) {
			return res, ctx.Err()
		}
	}
}

// parseStat reads "pid (comm) state ppid pgrp session tty tpgid flags ...
// starttime ...":
// comm may hold spaces and parentheses, so the fields after it are counted
// from the last ')'.
func parseStat(s string) (Stat, error) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return Stat{}, fmt.Errorf("procmark: malformed stat %q", s)
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 20 || len(f[0]) != 1 {
		return Stat{}, fmt.Errorf("procmark: malformed stat %q", s)
	}
	st := Stat{State: f[0][0]}
	var errs [6]error
	st.PID, errs[0] = strconv.Atoi(strings.TrimSpace(s[:open]))
	st.PPID, errs[1] = strconv.Atoi(f[1])
	st.PGID, errs[2] = strconv.Atoi(f[2])
	st.SID, errs[3] = strconv.Atoi(f[3])
	st.Flags, errs[4] = strconv.ParseUint(f[6], 10, 64)
	st.Start, errs[5] = strconv.ParseUint(f[19], 10, 64)
	if err := errors.Join(errs[:]...); err != nil {
		return Stat{}, fmt.Errorf("procmark: malformed stat %q: %w", s, err)
	}
	if len(f) > 48 { // since Linux 3.5
		st.EnvEnd, _ = strconv.ParseUint(f[48], 10, 64)
	}
	return st, nil
}
