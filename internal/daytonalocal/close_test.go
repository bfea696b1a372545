package daytonalocal

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestDeleteSandboxKillsProcessesAndRemovesDirectory(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(nil)
	keep := h.create(nil)
	dir := h.workDir(sb.ID)
	h.tb(sb.ID, "POST", "/process/session", map[string]any{"sessionId": "bg"})
	h.sessionExec(sb.ID, "bg", "echo $$ > session.pid; sleep 60", true)
	// A background process left behind by a finished execute.
	h.execute(sb.ID, "sh -c 'echo $$ > bg.pid; exec sleep 60' & sleep 0.1")
	// An execute still running when the sandbox goes.
	done := make(chan reply, 1)
	go func() {
		done <- h.tb(sb.ID, "POST", "/process/execute", map[string]any{"command": "echo $$ > exec.pid; sleep 60", "timeout": 120})
	}()
	pids := []int{h.readPID(sb.ID, "session.pid"), h.readPID(sb.ID, "bg.pid"), h.readPID(sb.ID, "exec.pid")}
	h.tb(keep.ID, "POST", "/process/session", map[string]any{"sessionId": "k"})
	h.sessionExec(keep.ID, "k", "echo $$ > keep.pid; sleep 60", true)
	keepPID := h.readPID(keep.ID, "keep.pid")

	if r := h.api("DELETE", "/sandbox/"+sb.ID, nil); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	for _, pid := range pids {
		eventually(t, "processes of the deleted sandbox to be gone", func() bool { return processGone(pid) })
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory %s still there: %v", dir, err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Error("execute in flight did not return after delete")
	}
	if processGone(keepPID) {
		t.Error("deleting one sandbox killed another sandbox's process")
	}
}

// processGone reports whether a process no longer runs (gone or zombie).
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' {
			return i+2 < len(b) && b[i+2] == 'Z'
		}
	}
	return false
}

func TestCloseKillsEverythingAndRemovesRoot(t *testing.T) {
	srv, err := New(Options{}) // owns a temporary root
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	h := &harness{t: t, srv: srv, ts: ts}
	var pids []int
	var dirs []string
	for range 2 {
		sb := h.create(nil)
		dirs = append(dirs, h.workDir(sb.ID))
		h.tb(sb.ID, "POST", "/process/session", map[string]any{"sessionId": "s"})
		h.sessionExec(sb.ID, "s", "echo $$ > p; sleep 60 & sleep 60", true)
		pids = append(pids, h.readPID(sb.ID, "p"))
	}
	root := filepath.Dir(filepath.Dir(dirs[0])) // <root>/<id>/work
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, pid := range pids {
		eventually(t, "group to be gone after Close", func() bool { return groupGone(pid) })
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("root %s still there after Close: %v", root, err)
	}
	if r := h.api("GET", "/sandbox", nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("request after Close: %d, want 503", r.status)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
