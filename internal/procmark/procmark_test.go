package procmark

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMatcher(t *testing.T) {
	env := []byte("PATH=/bin\x00MARK=root1/sb1\x00OTHER=root1/sb2\x00")
	tests := []struct {
		name string
		m    Matcher
		want bool
	}{
		{"exact", Matcher{Key: "MARK", Value: "root1/sb1"}, true},
		{"another value", Matcher{Key: "MARK", Value: "root1/sb2"}, false},
		{"a value's prefix is not the value", Matcher{Key: "MARK", Value: "root1/sb"}, false},
		{"prefix", Matcher{Key: "MARK", Value: "root1/", Prefix: true}, true},
		{"prefix of another root", Matcher{Key: "MARK", Value: "root2/", Prefix: true}, false},
		{"key must match", Matcher{Key: "MAR", Value: "K=root1/sb1"}, false},
		{"value of another key", Matcher{Key: "OTHER", Value: "root1/sb2"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.matches(env); got != tt.want {
				t.Errorf("%+v matches = %v, want %v", tt.m, got, tt.want)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	tail := " 0 0 4194560 0 0 0 0 0 0 0 0 0 0 0 0 4242 0 0"
	tests := []struct {
		name string
		in   string
		want Stat
		ok   bool
	}{
		{"plain", "42 (sleep) S 1 42 40" + tail, Stat{PID: 42, PPID: 1, PGID: 42, SID: 40, State: 'S', Flags: 4194560, Start: 4242}, true},
		{"comm with spaces and parens", "7 (a (b) c) Z 3 5 5" + tail, Stat{PID: 7, PPID: 3, PGID: 5, SID: 5, State: 'Z', Flags: 4194560, Start: 4242}, true},
		{"truncated", "7 (x) S 1 2 3", Stat{}, false},
		{"garbage", "hello", Stat{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseStat(%q) = %+v, %v; want %+v, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func needProc(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("no /proc")
	}
}

// spawn starts sh -c script with a mark in its environment; the script
// prints pids, one a line, which spawn returns once it has read n.
func spawn(t *testing.T, mark Mark, script string, n int) (*exec.Cmd, []int) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = append(os.Environ(), mark.Env())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	var got []int
	sc := bufio.NewScanner(out)
	for len(got) < n && sc.Scan() {
		pid, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
		if err != nil {
			t.Fatalf("script printed %q", sc.Text())
		}
		got = append(got, pid)
	}
	if len(got) < n {
		t.Fatalf("script printed %d pids, want %d", len(got), n)
	}
	return cmd, got
}

func alive(pid int) bool {
	st, err := ReadStat(pid)
	return err == nil && !st.Exited()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// escape leaves a session leader, a setsid -f fork and a double-forked
// orphan behind, prints their pids and keeps running.
const escape = `setsid sh -c 'echo $$; exec sleep 300' &
setsid -f sh -c 'echo $$; exec sleep 300'
( (sh -c 'echo $$; exec sleep 300' &) & )
exec sleep 300`

func TestKillAllKillsMarkedProcessesOnly(t *testing.T) {
	needProc(t)
	target := Mark{Key: "PROCMARK_TEST", Value: "r1/a"}
	_, marked := spawn(t, target, escape, 3)
	_, sibling := spawn(t, Mark{Key: "PROCMARK_TEST", Value: "r1/ab"}, "echo $$; exec sleep 300", 1)
	_, otherRoot := spawn(t, Mark{Key: "PROCMARK_TEST", Value: "r2/a"}, "echo $$; exec sleep 300", 1)

	if got := Find(Exactly(target)); len(got) != 4 {
		t.Errorf("Find found %d processes, want 4 (the shell and its three escapees): %v", len(got), got)
	}
	res, err := KillAll(context.Background(), Exactly(target))
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range marked {
		waitFor(t, "marked process "+strconv.Itoa(pid)+" to die", func() bool { return !alive(pid) })
	}
	if len(res.Killed) != 4 || res.Sweeps < 2 {
		t.Errorf("KillAll = %d killed in %d sweeps, want 4 killed and a last sweep finding none", len(res.Killed), res.Sweeps)
	}
	for _, pid := range append(sibling, otherRoot...) {
		if !alive(pid) {
			t.Errorf("process %d with another mark was killed", pid)
		}
	}

	// A prefix selects a whole root.
	if _, err := KillAll(context.Background(), Matcher{Key: "PROCMARK_TEST", Value: "r1/", Prefix: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the root's last process to die", func() bool { return !alive(sibling[0]) })
	if !alive(otherRoot[0]) {
		t.Error("killing root r1 killed a process of root r2")
	}
}

func TestKillAllCatchesAForkingTree(t *testing.T) {
	needProc(t)
	mark := Mark{Key: "PROCMARK_TEST", Value: "forks"}
	// Three forkers, each forking a child that forks again every few
	// milliseconds, bounded so that a failing test cannot exhaust pids.
	forker := `i=0; while [ $i -lt 500 ]; do (sleep 300 & exec sleep 300) & sleep 0.002; i=$((i+1)); done`
	spawn(t, mark, "echo $$; for f in 1 2 3; do ("+forker+") & done; wait", 1)
	waitFor(t, "the tree to grow", func() bool { return len(Find(Exactly(mark))) > 50 })
	res, err := KillAll(context.Background(), Exactly(mark))
	if err != nil {
		t.Fatal(err)
	}
	if left := Find(Exactly(mark)); len(left) != 0 {
		t.Fatalf("%d marked processes left after KillAll", len(left))
	}
	t.Logf("killed %d processes of a forking tree in %d sweeps", len(res.Killed), res.Sweeps)
}

func TestKillAllStopsWithContext(t *testing.T) {
	needProc(t)
	mark := Mark{Key: "PROCMARK_TEST", Value: "ctx"}
	spawn(t, mark, "echo $$; exec sleep 300", 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := KillAll(ctx, Exactly(mark)); err != context.Canceled {
		t.Errorf("KillAll with an ended context = %v, want context.Canceled", err)
	}
}

func TestSubreaperAdoptsAndReaps(t *testing.T) {
	needProc(t)
	if err := SetSubreaper(); err != nil {
		t.Skip(err)
	}
	mark := Mark{Key: "PROCMARK_TEST", Value: "orphan"}
	cmd, pids := spawn(t, mark, "sh -c 'echo $$; exec sleep 300' & read x", 1)
	orphan := pids[0]
	_ = cmd.Process.Kill() // the orphan's parent goes; the orphan is ours now
	_ = cmd.Wait()
	waitFor(t, "the orphan to be adopted", func() bool {
		return slices.ContainsFunc(Children(), func(s Stat) bool { return s.PID == orphan })
	})
	st, _ := ReadStat(orphan)
	if Reap(st.Proc()) {
		t.Fatal("Reap reaped a live process")
	}
	res, err := KillAll(context.Background(), Exactly(mark))
	if err != nil || len(res.Killed) != 1 || res.Killed[0] != st.Proc() {
		t.Fatalf("KillAll = %+v, %v; want the orphan killed", res, err)
	}
	waitFor(t, "the orphan to be reaped", func() bool {
		Reap(st.Proc())
		_, err := os.Stat("/proc/" + strconv.Itoa(orphan))
		return os.IsNotExist(err)
	})
}

func TestKillAllKillsAProcessExecingOverAndOver(t *testing.T) {
	needProc(t)
	mark := Mark{Key: "PROCMARK_TEST", Value: "execs"}
	// One process, exec'ing itself over and over: it spends much of its
	// time inside execve, where its environment reads empty (a sweep
	// without a second look missed it in 44 of 300 sweeps).
	script := filepath.Join(t.TempDir(), "again.sh")
	if err := os.WriteFile(script, []byte("exec /bin/sh \"$0\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		_, pids := spawn(t, mark, "echo $$; exec /bin/sh "+script, 1)
		if _, err := KillAll(context.Background(), Exactly(mark)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the exec'ing process to die", func() bool { return !alive(pids[0]) })
	}
}
