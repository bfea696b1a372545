package local

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHelperStackWithoutSnapshots is not a test: the child process of
// TestKilledBeforeASnapshotLeavesNoSandbox, a stack on the data
// directory it is given whose periodic snapshot does not come before it is
// killed (what a kill -9 within snapshotEvery of a write leaves).
func TestHelperStackWithoutSnapshots(t *testing.T) {
	dir := os.Getenv("SANDSTEP_TEST_NOSNAPSHOT_DIR")
	if dir == "" {
		t.Skip("the child process of TestKilledBeforeASnapshotLeavesNoSandbox")
	}
	snapshotEvery = time.Hour
	s, err := Start(context.Background(), Options{Getenv: envMap(nil), LogWriter: io.Discard, TemplatePath: templatePath, DataDir: dir})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Printf("API %s\n", s.APIURL)
	select {}
}

// A kill -9 of a stack's first run on a data directory before its table's
// next snapshot: the next start deletes the sandbox that run made, as it
// does any sandbox whose record was lost. The deployment's id, made by
// the first run and labelling its sandboxes, was lost with the table's
// last seconds: the next start made another id and never listed the
// sandbox again, left on Daytona for good.
func TestKilledBeforeASnapshotLeavesNoSandbox(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child stack; skipped with -short")
	}
	needRunner(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStackWithoutSnapshots$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SANDSTEP_TEST_NOSNAPSHOT_DIR="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	api := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "API "); ok {
				api <- v
			}
			if strings.HasPrefix(sc.Text(), "ERROR") {
				api <- ""
			}
		}
	}()
	var apiURL string
	select {
	case apiURL = <-api:
	case <-time.After(60 * time.Second):
		t.Fatal("the child stack printed nothing")
	}
	if apiURL == "" {
		t.Fatal("the child stack did not start")
	}
	res := do(t, http.MethodPost, apiURL+"/sandboxes", map[string]any{}, "Authorization: Bearer alice")
	if res.status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	s := startOn(t, dir)
	s.waitNothingLeft("alice")
}
