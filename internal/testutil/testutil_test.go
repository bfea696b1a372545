package testutil

import (
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Proc
		ok   bool
	}{
		{"plain", "42 (sleep) S 1 42 42 0", Proc{PID: 42, State: "S", PPID: 1, PGID: 42, Comm: "sleep"}, true},
		{"comm with spaces and parens", "7 (a (b) c) Z 3 5 5", Proc{PID: 7, State: "Z", PPID: 3, PGID: 5, Comm: "a (b) c"}, true},
		{"truncated", "7 (x) S", Proc{}, false},
		{"garbage", "hello", Proc{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseStat(tt.in)
			if ok != tt.ok || got != tt.want {
				t.Errorf("parseStat(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestProcessQueries(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if g := LiveInGroup(pid); len(g) != 1 || g[0].PID != pid {
		t.Errorf("LiveInGroup(%d) = %+v", pid, g)
	}
	found := false
	for _, c := range LiveChildren(os.Getpid()) {
		found = found || c.PID == pid
	}
	if !found {
		t.Errorf("the child %d is not among LiveChildren", pid)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = cmd.Wait()
	deadline := time.Now().Add(2 * time.Second)
	for len(LiveInGroup(pid)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := LiveInGroup(pid); len(g) != 0 {
		t.Errorf("group %d still live after kill: %+v", pid, g)
	}
}

func TestBufferConcurrentUse(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				b.Write([]byte("x"))
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if n := len(b.Bytes()); n != 800 {
		t.Errorf("%d bytes, want 800", n)
	}
}
