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
)

// The stand-ins serve from a process of their own, on the CPUs the run
// gives them, and end when the run closes them.
func TestStandInsRunApart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	split := splitCPUs()
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

	if runtime.GOOS == "linux" && split.functions != nil {
		if got := allowedList(t, pid); !slices.Equal(got, split.standIns) {
			t.Errorf("the stand-ins' process may use CPUs %v, want %v", got, split.standIns)
		}
	}

	closed = true
	if err := si.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Errorf("the stand-ins' process is still there after Close (%v)", err)
	}
}

// allowedList reads a process's Cpus_allowed_list ("1", "0-3,5").
func allowedList(t *testing.T, pid int) []int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
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
	t.Fatalf("no Cpus_allowed_list in /proc/%d/status", pid)
	return nil
}
