package service

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// taskLineFile writes task-1's line for command (nudging nudgeURL, if
// any) into a fresh sandbox directory holding the task's directory, and
// returns both.
func taskLineFile(t *testing.T, command, nudgeURL string) (dir, line string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, taskDir), 0o755); err != nil {
		t.Fatal(err)
	}
	line = filepath.Join(dir, "cmd.sh")
	if err := os.WriteFile(line, []byte(taskCommandLine("task-1", command, "", nil, nudgeURL, taskDir+"/nudge")), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, line
}

// session runs script as a session's shell in dir, given the line's file
// as $1 and env beside the process's own, and returns what it printed.
func session(t *testing.T, dir, script, line string, env ...string) string {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script, "session", line)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the session's shell: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// Daytona runs a session's command by sourcing it in the session's
// long-lived shell: the task's line must leave that shell alive, its
// status the command's, its output in the task's files.
func TestTaskLineLeavesTheSessionShellAlive(t *testing.T) {
	tests := []struct {
		name, command, wantCode, wantOut string
	}{
		{"success", "echo hi", "0", "hi\n"},
		{"failure", "echo no; exit 3", "3", "no\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, line := taskLineFile(t, tt.command, "")
			// The session's shell: it sources the command, then goes on.
			if got := session(t, dir, `. "$1"; echo "after $?"`, line); got != "after "+tt.wantCode {
				t.Fatalf("the session's shell printed %q, want it alive with status %s", got, tt.wantCode)
			}
			if got, _ := os.ReadFile(filepath.Join(dir, taskDir, "stdout")); string(got) != tt.wantOut {
				t.Fatalf("the task's stdout: %q, want %q", got, tt.wantOut)
			}
		})
	}
}

// A start asked again after its answer was lost sends the line again into
// the same session, whose shell runs it after the first: the command runs
// once, both say its exit code and both nudge (the retry's secret is the
// one kept). A fresh session's shell runs it again (the first try's was
// killed, or its command never reached the shell), and no variable of the
// sandbox's own environment passes for the mark of a run.
func TestTaskLineRunsOncePerSession(t *testing.T) {
	tests := []struct {
		name       string
		session    string // the session's shell, sourcing the line as Daytona does
		env        []string
		want       string
		wantNudges int64
	}{
		{name: "asked again in one session", session: `. "$1"; echo "first $?"; . "$1"; echo "again $?"; wait`,
			want: "first 3\nagain 3", wantNudges: 2},
		{name: "a fresh session", session: `. "$1"; echo "first $?"; wait`, want: "first 3", wantNudges: 1},
		{name: "the sandbox's environment names the variables", session: `. "$1"; echo "first $?"; wait`,
			env: []string{taskExitVar + "=0", taskRanVar + "=task-2"}, want: "first 3", wantNudges: 1},
		{name: "the sandbox's environment names the task but no exit code", session: `. "$1"; echo "first $?"; wait`,
			env: []string{taskRanVar + "=task-1"}, want: "first 3", wantNudges: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var nudges atomic.Int64
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { nudges.Add(1) }))
			defer hs.Close()
			_, curl := exec.LookPath("curl")
			_, wget := exec.LookPath("wget")
			canNudge := curl == nil || wget == nil
			dir, line := taskLineFile(t, "echo ran >> runs; echo out; exit 3", hs.URL)
			for run := 1; run <= 2; run++ { // the second: a new session after the first ended
				nudges.Store(0)
				if got := session(t, dir, tt.session, line, tt.env...); got != tt.want {
					t.Fatalf("session %d printed %q, want %q", run, got, tt.want)
				}
				if got, _ := os.ReadFile(filepath.Join(dir, "runs")); string(got) != strings.Repeat("ran\n", run) {
					t.Fatalf("after session %d the command ran %d times, want %d", run, strings.Count(string(got), "ran"), run)
				}
				if got, _ := os.ReadFile(filepath.Join(dir, taskDir, "stdout")); string(got) != "out\n" {
					t.Fatalf("the task's stdout: %q, want the run's own", got)
				}
				if n := nudges.Load(); canNudge && n != tt.wantNudges {
					t.Fatalf("session %d nudged %d times, want %d", run, n, tt.wantNudges)
				}
			}
		})
	}
}

// A nudge refused for a moment (API Gateway's throttle, a 5xx) is asked
// again by curl (wget, where curl is missing, asks once): a lost one leaves
// the task's end to the backstop, minutes later.
func TestTaskLineNudgeAskedAgain(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	for _, refusal := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(refusal), func(t *testing.T) {
			var asked atomic.Int64
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if asked.Add(1) <= 2 {
					w.WriteHeader(refusal)
				}
			}))
			defer hs.Close()
			dir, line := taskLineFile(t, "exit 0", hs.URL)
			// The session's shell waits for the nudge, which runs in the
			// background.
			if got := session(t, dir, `. "$1"; echo "ended $?"; wait`, line); got != "ended 0" {
				t.Fatalf("session printed %q", got)
			}
			if n := asked.Load(); n != 3 {
				t.Errorf("the nudge was sent %d times, want 3 (refused twice, then taken)", n)
			}
		})
	}
}

// The command's end is its session command's end, which the check reads:
// a nudge the API holds (or refuses for long) does not hold it back.
func TestTaskLineEndsBeforeItsNudge(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	defer hs.Close()
	defer close(release)
	dir, line := taskLineFile(t, "exit 4", hs.URL)
	cmd := exec.Command("/bin/sh", "-c", `. "$1"; echo "ended $?"`, "session", line)
	cmd.Dir = dir
	done := make(chan string, 1)
	go func() {
		out, err := cmd.CombinedOutput()
		done <- fmt.Sprintf("%s%v", strings.TrimSpace(string(out)), err)
	}()
	// A nudge in the command's way would hold it for curl's 10 s at least.
	select {
	case got := <-done:
		if got != "ended 4<nil>" {
			t.Fatalf("session printed %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the session's command is held by its nudge")
	}
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no nudge reached the API")
	}
}
