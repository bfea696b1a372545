package service

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

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
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, taskDir), 0o755); err != nil {
				t.Fatal(err)
			}
			line := filepath.Join(dir, "cmd.sh")
			if err := os.WriteFile(line, []byte(taskCommandLine(tt.command, "", nil, "")), 0o644); err != nil {
				t.Fatal(err)
			}
			// The session's shell: it sources the command, then goes on.
			cmd := exec.Command("/bin/sh", "-c", `. "$1"; echo "after $?"`, "session", line)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the session's shell: %v: %s", err, out)
			}
			if got := strings.TrimSpace(string(out)); got != "after "+tt.wantCode {
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
// once, and both say its exit code. A fresh session's shell runs it again
// (the first try's was killed, or its command never reached the shell).
func TestTaskLineRunsOncePerSession(t *testing.T) {
	tests := []struct {
		name    string
		session string // the session's shell, sourcing the line as Daytona does
		want    string
	}{
		{name: "asked again in one session", session: `. "$1"; echo "first $?"; . "$1"; echo "again $?"`, want: "first 3\nagain 3"},
		{name: "a fresh session", session: `. "$1"; echo "first $?"`, want: "first 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, taskDir), 0o755); err != nil {
				t.Fatal(err)
			}
			line := filepath.Join(dir, "cmd.sh")
			if err := os.WriteFile(line, []byte(taskCommandLine("echo ran >> runs; echo out; exit 3", "", nil, "")), 0o644); err != nil {
				t.Fatal(err)
			}
			for run := 1; run <= 2; run++ { // the second: a new session after the first ended
				cmd := exec.Command("/bin/sh", "-c", tt.session, "session", line)
				cmd.Dir = dir
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("the session's shell: %v: %s", err, out)
				}
				if got := strings.TrimSpace(string(out)); got != tt.want {
					t.Fatalf("session %d printed %q, want %q", run, got, tt.want)
				}
				if got, _ := os.ReadFile(filepath.Join(dir, "runs")); string(got) != strings.Repeat("ran\n", run) {
					t.Fatalf("after session %d the command ran %d times, want %d", run, strings.Count(string(got), "ran"), run)
				}
				if got, _ := os.ReadFile(filepath.Join(dir, taskDir, "stdout")); string(got) != "out\n" {
					t.Fatalf("the task's stdout: %q, want the run's own", got)
				}
			}
		})
	}
}
