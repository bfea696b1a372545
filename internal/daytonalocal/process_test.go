package daytonalocal

import (
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestExecute(t *testing.T) {
	h := newHarness(t, Options{MaxOutputBytes: 1000})
	sb := h.create(map[string]any{"env": map[string]string{"FROM_CREATE": "c1", "SHARED": "create"}})
	dir := h.workDir(sb.ID)
	h.tb(sb.ID, "POST", "/files/folder?path=sub&mode=755", nil)

	tests := []struct {
		name     string
		body     map[string]any
		exitCode int
		result   string
		or       []string // other results that are right too
	}{
		{"echo", map[string]any{"command": "echo hello"}, 0, "hello\n", nil},
		{"non-zero exit is still 200", map[string]any{"command": "echo bye; exit 3"}, 3, "bye\n", nil},
		{"stderr kept", map[string]any{"command": "echo b >&2"}, 0, "b\n", nil},
		// Two pipes keep each stream's order, not the order between them.
		{"stdout and stderr both kept", map[string]any{"command": "echo a; echo b >&2; echo c"}, 0, "a\nb\nc\n",
			[]string{"b\na\nc\n", "a\nc\nb\n"}},
		{"default cwd and HOME are the work dir", map[string]any{"command": `pwd; echo "$HOME"`}, 0, dir + "\n" + dir + "\n", nil},
		{"relative cwd", map[string]any{"command": "pwd", "cwd": "sub"}, 0, filepath.Join(dir, "sub") + "\n", nil},
		{"absolute cwd inside", map[string]any{"command": "pwd", "cwd": filepath.Join(dir, "sub")}, 0, filepath.Join(dir, "sub") + "\n", nil},
		{"create env and request envs", map[string]any{"command": `echo "$FROM_CREATE $SHARED $ONLY_REQ"`,
			"envs": map[string]string{"SHARED": "req", "ONLY_REQ": "r1"}}, 0, "c1 req r1\n", nil},
		{"server env not inherited", map[string]any{"command": `echo "[$DAYTONALOCAL_TEST_SECRET]"`}, 0, "[]\n", nil},
		{"output bounded", map[string]any{"command": "head -c 5000 /dev/zero | tr '\\0' a"}, 0, strings.Repeat("a", 1000), nil},
		{"killed by signal", map[string]any{"command": "kill -9 $$"}, 137, "", nil},
	}
	t.Setenv("DAYTONALOCAL_TEST_SECRET", "leak")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.body["timeout"] = 30
			r := h.tb(sb.ID, "POST", "/process/execute", tt.body)
			if r.status != http.StatusOK {
				t.Fatalf("status %d body %s", r.status, r.body)
			}
			m := r.json(t)
			got, _ := m["result"].(string)
			if m["exitCode"] != float64(tt.exitCode) || got != tt.result && !slices.Contains(tt.or, got) {
				t.Errorf("got exitCode %v result %q, want %d %q", m["exitCode"], got, tt.exitCode, tt.result)
			}
		})
	}

	rejects := []struct {
		name string
		body map[string]any
		code string
	}{
		{"empty command", map[string]any{"command": ""}, "BAD_REQUEST"},
		{"cwd escapes with ..", map[string]any{"command": "pwd", "cwd": "../.."}, "BAD_REQUEST"},
		{"cwd absolute outside", map[string]any{"command": "pwd", "cwd": "/etc"}, "BAD_REQUEST"},
		{"cwd missing", map[string]any{"command": "pwd", "cwd": "nope"}, "BAD_REQUEST"},
		{"negative timeout", map[string]any{"command": "true", "timeout": -1}, "BAD_REQUEST"},
		{"bad env name", map[string]any{"command": "true", "envs": map[string]string{"A=B": "x"}}, "BAD_REQUEST"},
	}
	for _, tt := range rejects {
		t.Run(tt.name, func(t *testing.T) {
			checkToolboxError(t, h.tb(sb.ID, "POST", "/process/execute", tt.body), 400, tt.code)
		})
	}
}

func TestExecuteTimeoutKillsProcessGroup(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(nil)
	// $$ is the shell, the leader of the command's process group; the
	// background sleep must die with it.
	r := h.tb(sb.ID, "POST", "/process/execute", map[string]any{
		"command": "echo $$ > pgid.txt; sleep 60 & sleep 60",
		"timeout": 1,
	})
	checkToolboxError(t, r, http.StatusRequestTimeout, "PROCESS_EXECUTION_TIMEOUT")
	pgid := h.readPID(sb.ID, "pgid.txt")
	eventually(t, "process group to be gone", func() bool { return groupGone(pgid) })
	// The sandbox still works afterwards.
	if code, out := h.execute(sb.ID, "echo ok"); code != 0 || out != "ok\n" {
		t.Errorf("execute after timeout = %d %q", code, out)
	}
}
