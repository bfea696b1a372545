package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandstep/sandstep/infra/local"
	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/daytonalocal"
)

// The stand-ins serve from a process of their own, on the CPUs the run
// gives them, and end when the run closes them.
func TestStandInsRunApart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	split := splitCPUs()
	needRunner(t)
	si, err := startStandIns(ctx, standInsSpec{CPUs: split.standIns}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = si.Close()
		}
	}()
	pid := si.cmd.Process.Pid
	if pid == os.Getpid() {
		t.Fatal("the stand-ins run in the load run's process")
	}

	resp, err := http.Get(si.DynamoDB + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(b), "healthy: dynamodb.") {
		t.Errorf("DynamoDB's root answered %q", b)
	}
	dc, err := daytona.New(daytona.Config{APIKey: local.LocalDaytonaKey, APIURL: si.Daytona})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dc.CreateSandboxAndWait(ctx, daytona.CreateSandboxParams{Name: "apart"}); err != nil {
		t.Fatal(err)
	}
	if c, err := si.creates(ctx); err != nil || c.Requests != 1 || c.Refused != 0 {
		t.Errorf("create counts %+v, %v; want 1 request, none refused", c, err)
	}
	// A fault added while they serve applies from then on.
	if err := si.addFault(ctx, daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 400, Message: "added",
		Match: daytonalocal.Match{Operation: "createSandbox"}, Times: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.CreateSandboxAndWait(ctx, daytona.CreateSandboxParams{Name: "faulted"}); err == nil || !strings.Contains(err.Error(), "added") {
		t.Errorf("a create after the fault was added: %v, want the fault's 400", err)
	}
	if c, err := si.creates(ctx); err != nil || c.Requests != 2 || c.Refused != 0 {
		t.Errorf("create counts %+v, %v; want 2 requests, none refused", c, err)
	}
	if err := si.addFault(ctx, daytonalocal.Fault{Kind: daytonalocal.FaultKind(99)}); err == nil {
		t.Error("a fault of no kind was added")
	}

	if runtime.GOOS == "linux" && split.functions != nil {
		if si.NotPinned != "" {
			t.Errorf("the stand-ins' process was not pinned: %s", si.NotPinned)
		}
		for tid, got := range threadCPUs(t, strconv.Itoa(pid)) {
			if !slices.Equal(got, split.standIns) {
				t.Errorf("thread %s of the stand-ins' process may use CPUs %v, want %v", tid, got, split.standIns)
			}
		}
	} else {
		t.Logf("CPUs not checked: %s", split)
	}

	// An interrupt is the run's: the stand-ins serve on until it closes them.
	if runtime.GOOS == "linux" {
		if ign := sigIgnored(t, pid); ign&(1<<(syscall.SIGINT-1)) == 0 || ign&(1<<(syscall.SIGTERM-1)) == 0 {
			t.Errorf("the stand-ins' process does not ignore SIGINT and SIGTERM (SigIgn %x)", ign)
		}
	}
	if err := si.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := si.creates(ctx); err != nil {
		t.Errorf("after an interrupt the stand-ins no longer serve: %v", err)
	}

	closed = true
	if err := si.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Errorf("the stand-ins' process is still there after Close (%v)", err)
	}
	if _, err := os.Stat(si.root); !os.IsNotExist(err) {
		t.Errorf("the sandboxes' directory %s is still there after Close (%v)", si.root, err)
	}
}

// A process that cannot keep to its CPUs says why, and serves unpinned.
func TestStandInsOnCPUsTheyCannotHave(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU affinity is set on Linux only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	needRunner(t)
	si, err := startStandIns(ctx, standInsSpec{CPUs: []int{1023}}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer si.Close()
	if si.NotPinned == "" {
		t.Error("the stand-ins' process says it kept to CPU 1023")
	}
	if _, err := si.creates(ctx); err != nil {
		t.Errorf("unpinned stand-ins do not serve: %v", err)
	}
}

// pinProcess pins every thread of the process; restore frees them again.
func TestPinProcess(t *testing.T) {
	split := splitCPUs()
	if runtime.GOOS != "linux" || split.functions == nil {
		t.Skipf("nothing to pin: %s", split)
	}
	defer split.restore()
	split.pin(split.standIns)
	if split.functions == nil {
		t.Fatalf("pin refused: %s", split)
	}
	for tid, got := range threadCPUs(t, "self") {
		if !slices.Equal(got, split.standIns) {
			t.Errorf("thread %s may use CPUs %v, want %v", tid, got, split.standIns)
		}
	}
	split.restore()
	for tid, got := range threadCPUs(t, "self") {
		if !slices.Equal(got, split.all) {
			t.Errorf("after restore thread %s may use CPUs %v, want %v", tid, got, split.all)
		}
	}
}

// threadCPUs reads each thread's Cpus_allowed_list ("1", "0-3,5") of a
// process (a pid, or "self").
func threadCPUs(t *testing.T, pid string) map[string][]int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/" + pid + "/task")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]int{}
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/" + pid + "/task/" + task.Name() + "/status")
		if os.IsNotExist(err) {
			continue // the thread ended meanwhile
		}
		if err != nil {
			t.Fatal(err)
		}
		out[task.Name()] = allowedList(t, string(b))
	}
	return out
}

// allowedList reads the Cpus_allowed_list of a thread's status.
func allowedList(t *testing.T, status string) []int {
	t.Helper()
	for line := range strings.Lines(status) {
		list, ok := strings.CutPrefix(line, "Cpus_allowed_list:")
		if !ok {
			continue
		}
		var cpus []int
		for r := range strings.SplitSeq(strings.TrimSpace(list), ",") {
			lo, hi, _ := strings.Cut(r, "-")
			a, _ := strconv.Atoi(lo)
			z := a
			if hi != "" {
				z, _ = strconv.Atoi(hi)
			}
			for c := a; c <= z; c++ {
				cpus = append(cpus, c)
			}
		}
		return cpus
	}
	t.Fatalf("no Cpus_allowed_list in a thread's status:\n%s", status)
	return nil
}

// sigIgnored reads the mask of the signals a process ignores.
func sigIgnored(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no SigIgn in the process's status")
	return 0
}
