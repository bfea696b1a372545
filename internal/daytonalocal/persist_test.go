package daytonalocal

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/daytonaprovider"
	"github.com/sandstep/sandstep/internal/service"
)

// listStates lists the sandboxes by name with their states.
func (h *harness) listStates() map[string]string {
	h.t.Helper()
	var page struct{ Items []testSandbox }
	h.api("GET", "/sandbox", nil).decode(h.t, &page)
	out := map[string]string{}
	for _, sb := range page.Items {
		out[sb.Name] = sb.State
	}
	return out
}

func TestRestartKeepsSandboxesStopped(t *testing.T) {
	h := newHarness(t, Options{})
	kept := h.create(map[string]any{"name": "kept", "labels": map[string]string{"project": "p1"},
		"env": map[string]string{"GREETING": "hello"}, "autoStopInterval": 30})
	h.upload(kept.ID, map[string]string{"notes/a.txt": "kept across restarts"})
	h.tb(kept.ID, "POST", "/process/session", map[string]any{"sessionId": "bg"})
	h.sessionExec(kept.ID, "bg", "echo $$ > bg.pid; exec sleep 300", true)
	pid := h.readPID(kept.ID, "bg.pid")
	stopped := h.create(map[string]any{"name": "stopped"})
	if r := h.api("POST", "/sandbox/stopped/stop", nil); r.status != http.StatusOK {
		t.Fatalf("stop: %d %s", r.status, r.body)
	}
	gone := h.create(map[string]any{"name": "gone"})
	if r := h.api("DELETE", "/sandbox/gone", nil); r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	before, _ := h.get("kept")

	h = h.restart()
	eventually(t, "the old run's process to be gone", func() bool { return processGone(pid) })
	if got, want := h.listStates(), map[string]string{"kept": "stopped", "stopped": "stopped"}; !equalMaps(got, want) {
		t.Fatalf("sandboxes after restart = %v, want %v", got, want)
	}
	if _, status := h.get(gone.ID); status != http.StatusNotFound {
		t.Errorf("the deleted sandbox is back: GET %d", status)
	}
	after, _ := h.get("kept")
	if after.ID != kept.ID || after.Labels["project"] != "p1" || after.Env["GREETING"] != "hello" ||
		after.AutoStop != 30 || after.CreatedAt != before.CreatedAt || after.DesiredState != "stopped" {
		t.Errorf("after restart: %+v\nbefore: %+v", after, before)
	}
	// Toolbox calls answer as Daytona's proxy does for a stopped sandbox.
	checkToolboxError(t, h.tb(kept.ID, "GET", "/work-dir", nil), http.StatusBadRequest, "BAD_REQUEST")

	r := h.api("POST", "/sandbox/kept/start", nil)
	var started testSandbox
	r.decode(t, &started)
	if r.status != http.StatusOK || started.State != "started" {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	if r := h.download(kept.ID, "notes/a.txt"); string(r.body) != "kept across restarts" {
		t.Errorf("file after restart = %d %q", r.status, r.body)
	}
	if code, out := h.execute(kept.ID, `echo "$GREETING"; cat notes/a.txt`); code != 0 || out != "hello\nkept across restarts" {
		t.Errorf("execute after restart = %d %q", code, out)
	}

	// Delete removes the directory and the record; the other one stays.
	dir := filepath.Dir(h.workDir(kept.ID))
	if r := h.api("DELETE", "/sandbox/kept", nil); r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	for _, p := range []string{dir, dir + ".json"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there after delete: %v", p, err)
		}
	}
	h = h.restart()
	if got, want := h.listStates(), map[string]string{"stopped": "stopped"}; !equalMaps(got, want) {
		t.Errorf("sandboxes after the second restart = %v, want %v", got, want)
	}
	if got, _ := h.get(stopped.ID); got.Name != "stopped" {
		t.Errorf("the stopped sandbox after restarts: %+v", got)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestCloseKeepsGivenRoot(t *testing.T) {
	root := t.TempDir()
	h := newHarness(t, Options{Root: root})
	sb := h.create(map[string]any{"labels": map[string]string{"k": "v"}})
	h.ts.Close()
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	var names []string
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := sb.ID + " " + sb.ID + ".json"; strings.Join(names, " ") != want {
		t.Fatalf("root after Close holds %v, want %s", names, want)
	}
	var rec struct {
		State  string            `json:"state"`
		Labels map[string]string `json:"labels"`
	}
	b, _ := os.ReadFile(filepath.Join(root, sb.ID+".json"))
	if err := json.Unmarshal(b, &rec); err != nil || rec.State != "stopped" || rec.Labels["k"] != "v" {
		t.Errorf("record after Close = %s (%v), want state stopped and the labels", b, err)
	}
}

func TestRootIsUsedByOneServerAtATime(t *testing.T) {
	h := newHarness(t, Options{})
	if s, err := New(Options{Root: h.opts.Root}); err == nil {
		s.Close()
		t.Fatal("a second server took a root in use")
	}
	h = h.restart() // once the first is closed, it may
	h.create(nil)
}

func TestLoadCleansWhatACrashLeftHalfMade(t *testing.T) {
	root := t.TempDir()
	h := newHarness(t, Options{Root: root})
	sb := h.create(map[string]any{"name": "whole"})
	h.ts.Close()
	h.srv.Close()
	const (
		noRecord = "11111111-2222-4333-8444-555555555555"
		noDir    = "66666666-7777-4888-9999-aaaaaaaaaaaa"
		badRec   = "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff"
	)
	for _, d := range []string{noRecord + "/work", badRec + "/work", "not-a-sandbox"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range map[string]string{noDir + ".json": `{"version":1,"id":"` + noDir + `"}`,
		badRec + ".json": "{", ".tmp-123": "half", "notes.txt": "not ours"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	h = newHarness(t, Options{Root: root})
	if got := h.listStates(); !equalMaps(got, map[string]string{"whole": "stopped"}) {
		t.Errorf("sandboxes = %v, want just the whole one", got)
	}
	var names []string
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{badRec, badRec + ".json", "not-a-sandbox", "notes.txt", sb.ID, sb.ID + ".json"}
	slices.Sort(want)
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("root holds %v, want %v (the half-made sandboxes gone, the unreadable record and its files and everything else kept)", names, want)
	}
}

// provider is sandstep's Daytona provider on a harness's server.
func (h *harness) provider() *daytonaprovider.Provider {
	h.t.Helper()
	c, err := daytona.New(daytona.Config{APIKey: testToken, APIURL: h.ts.URL + "/api", PollInterval: 20 * time.Millisecond})
	if err != nil {
		h.t.Fatal(err)
	}
	return daytonaprovider.New(c, daytonaprovider.Options{MaxPollInterval: 100 * time.Millisecond})
}

// The provider starts a stopped sandbox again before it runs a command;
// after a restart every sandbox is stopped.
func TestProviderRunsCommandsAfterARestart(t *testing.T) {
	h := newHarness(t, Options{})
	ctx := ctxTimeout(t, 30*time.Second)
	ps, err := h.provider().Create(ctx, service.ProviderSpec{Name: "sbx-restart", Env: map[string]string{"MODE": "local"}, AutoStopMinutes: 15, TTLMinutes: 60})
	if err != nil {
		t.Fatal(err)
	}
	cmd := service.Command{Line: `echo "$MODE" >> runs.txt; cat runs.txt; echo warn >&2`, Timeout: 10 * time.Second}
	if _, err := h.provider().Exec(ctx, ps.ID, cmd); err != nil {
		t.Fatal(err)
	}

	h = h.restart()
	p := h.provider()
	if got, err := p.Get(ctx, ps.ID); err != nil || got.State != "stopped" {
		t.Fatalf("after restart: %+v, %v", got, err)
	}
	res, err := p.Exec(ctx, ps.ID, cmd)
	if err != nil || res.ExitCode != 0 || res.Stdout != "local\nlocal\n" || res.Stderr != "warn\n" {
		t.Fatalf("exec after restart = %+v, %v", res, err)
	}
	if got, err := p.Get(ctx, ps.ID); err != nil || got.State != "started" {
		t.Errorf("after exec: %+v, %v", got, err)
	}
}
