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
