package daytonalocal

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sandstep/sandstep/internal/dirlock"
)

// childRootEnv selects the child role of the test binary: a server on the
// root it names ("" for a temporary one) that prints its URL and serves
// until it is killed.
const childRootEnv = "DAYTONALOCAL_TEST_CHILD_ROOT"

func TestMain(m *testing.M) {
	if root, ok := os.LookupEnv(childRootEnv); ok {
		runChild(root)
		return
	}
	os.Exit(m.Run())
}

func runChild(root string) {
	srv, err := New(Options{Root: root})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Printf("http://%s\n", ln.Addr())
	_ = http.Serve(ln, srv)
	os.Exit(2)
}

// startChild runs a server in a child process on root and returns a
// harness driving it over HTTP and a function that SIGKILLs it. Zombies
// the killed server had adopted but not yet reaped are re-parented to the
// test process, a subreaper too; they are not a later server's to reap,
// so the tests below check the processes they know of, not zombies.
func startChild(t *testing.T, root string) (*harness, func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childRootEnv+"="+root)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill := func() {
		if !killed {
			killed = true
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
		}
	}
	t.Cleanup(kill)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the child server printed no URL: %v", err)
	}
	return &harness{t: t, url: strings.TrimSpace(line)}, kill
}

func TestNewReclaimsWhatAKilledServerLeft(t *testing.T) {
	root := t.TempDir()
	child, kill := startChild(t, root)
	sb := child.create(map[string]any{"name": "crashed", "labels": map[string]string{"k": "v"}})
	child.upload(sb.ID, map[string]string{"secrets.env": "TOKEN=s3cret\n"})
	pids := child.startEscapers(sb.ID)
	child.tb(sb.ID, "POST", "/process/session", map[string]any{"sessionId": "long"})
	child.sessionExec(sb.ID, "long", "echo $$ > long.pid; exec sleep 300", true)
	pids = append(pids, child.readPID(sb.ID, "long.pid"))

	kill()
	for _, pid := range pids {
		if processGone(pid) {
			t.Fatalf("process %d died with its server; nothing to reclaim", pid)
		}
	}

	h := newHarness(t, Options{Root: root})
	checkAllGone(t, pids)
	if got := h.listStates(); !equalMaps(got, map[string]string{"crashed": "stopped"}) {
		t.Fatalf("sandboxes after the crash = %v, want crashed stopped", got)
	}
	if got, _ := h.get("crashed"); got.Labels["k"] != "v" {
		t.Errorf("labels after the crash = %v", got.Labels)
	}
	if r := h.api("POST", "/sandbox/crashed/start", nil); r.status != http.StatusOK {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	if code, out := h.execute(sb.ID, "cat secrets.env"); code != 0 || out != "TOKEN=s3cret\n" {
		t.Errorf("execute after the crash = %d %q", code, out)
	}
}

func TestNewRemovesTheTemporaryRootOfAKilledServer(t *testing.T) {
	child, kill := startChild(t, "")
	sb := child.create(nil)
	root := filepath.Dir(filepath.Dir(child.workDir(sb.ID)))
	child.upload(sb.ID, map[string]string{"secrets.env": "TOKEN=s3cret\n"})
	pids := child.startEscapers(sb.ID)
	kill()
	if _, err := os.Stat(root); err != nil {
		t.Fatalf("the killed server's root %s: %v", root, err)
	}

	// A temporary root of a live server, and one that no server marked,
	// are left alone.
	liveSrv, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer liveSrv.Close()
	liveRoot := liveSrv.root
	unmarked, err := os.MkdirTemp("", TempDirPattern)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(unmarked)

	newHarness(t, Options{})
	checkAllGone(t, pids)
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("the killed server's temporary root is still there: %v", err)
	}
	for _, dir := range []string{liveRoot, unmarked} {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s was touched: %v", dir, err)
		}
	}
}

func TestReclaimJudgesTemporaryRootsByTheirOwner(t *testing.T) {
	me, err := thisProcess("")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	mkRoot := func(t *testing.T, owner func(root string) string) string {
		t.Helper()
		dir, err := os.MkdirTemp("", TempDirPattern)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		real, _ := filepath.EvalSymlinks(dir)
		if content := owner(real); content != "" {
			if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	ownerJSON := func(o rootOwner) string {
		b, _ := json.Marshal(o)
		return string(b)
	}
	tests := []struct {
		name  string
		owner func(root string) string
		// held: another holds the directory's lock (internal/dirlock), as
		// a stack given it with -data-dir does.
		held    bool
		removed bool
	}{
		{"owner runs", func(root string) string { o := me; o.Root = root; return ownerJSON(o) }, false, false},
		{"owner's pid reused", func(root string) string { o := me; o.Root = root; o.Start++; return ownerJSON(o) }, false, true},
		{"owner ran before a reboot", func(root string) string { o := me; o.Root = root; o.Boot = "other"; return ownerJSON(o) }, false, true},
		{"owner of a directory holding a root is gone", func(root string) string {
			o := me
			o.Root, o.Sandboxes = root, filepath.Join(root, "daytona")
			o.Start++
			return ownerJSON(o)
		}, false, true},
		{"owner is gone but another holds the directory", func(root string) string {
			o := me
			o.Root, o.Sandboxes = root, filepath.Join(root, "daytona")
			o.Start++
			return ownerJSON(o)
		}, true, false},
		{"owner file of another path", func(root string) string { o := me; o.Root = root + "-x"; o.Start++; return ownerJSON(o) }, false, false},
		{"owner file unreadable", func(string) string { return "{" }, false, false},
		{"no owner file", func(string) string { return "" }, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := mkRoot(t, tt.owner)
			if tt.held {
				lock, err := dirlock.Lock(dir, "test")
				if err != nil {
					t.Fatal(err)
				}
				defer lock.Close()
			}
			newHarness(t, Options{})
			_, err := os.Stat(dir)
			if removed := os.IsNotExist(err); removed != tt.removed {
				t.Errorf("removed = %v, want %v", removed, tt.removed)
			}
		})
	}
}

// MarkTempDir marks a directory holding a root as the calling process's;
// it refuses a directory no server would look at and a root outside it.
func TestMarkTempDir(t *testing.T) {
	if _, err := thisProcess(""); err != nil {
		t.Skipf("no /proc: %v", err)
	}
	dir, err := os.MkdirTemp("", TempDirPattern+"test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := MarkTempDir(dir, filepath.Join(dir, "daytona")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		t.Fatal(err)
	}
	var o rootOwner
	real, _ := filepath.EvalSymlinks(dir)
	if err := json.Unmarshal(b, &o); err != nil || o.PID != os.Getpid() || o.Root != real || o.Sandboxes != filepath.Join(real, "daytona") {
		t.Errorf("owner %+v (%v), want this process, %s and its daytona", o, err, real)
	}
	newHarness(t, Options{}) // its owner runs: left alone
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the marked directory of a running process was removed: %v", err)
	}

	other := t.TempDir()
	for _, c := range []struct{ dir, root string }{{other, filepath.Join(other, "daytona")}, {dir, dir}, {dir, filepath.Join(other, "daytona")}} {
		if err := MarkTempDir(c.dir, c.root); err == nil {
			t.Errorf("MarkTempDir(%s, %s) marked it", c.dir, c.root)
		}
	}

	// UnmarkTempDir drops the mark, and only an owner record.
	if unmarked, err := UnmarkTempDir(dir); !unmarked || err != nil {
		t.Errorf("UnmarkTempDir = %v, %v; want true", unmarked, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ownerFile)); !os.IsNotExist(err) {
		t.Errorf("the owner record is still there: %v", err)
	}
	if unmarked, err := UnmarkTempDir(dir); unmarked || err != nil {
		t.Errorf("UnmarkTempDir of an unmarked directory = %v, %v; want false", unmarked, err)
	}
	if err := os.WriteFile(filepath.Join(other, ownerFile), []byte("not a record"), 0o600); err != nil {
		t.Fatal(err)
	}
	if unmarked, err := UnmarkTempDir(other); unmarked || err != nil {
		t.Errorf("UnmarkTempDir of a file that is no owner record = %v, %v; want false", unmarked, err)
	}
	if _, err := os.Stat(filepath.Join(other, ownerFile)); err != nil {
		t.Errorf("a file that is no owner record was removed: %v", err)
	}
}
