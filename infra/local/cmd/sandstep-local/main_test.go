package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/dirlock"
	"github.com/sandstep/sandstep/internal/sfnlocal"
	"github.com/sandstep/sandstep/internal/testutil"
)

// testArgs are free ports for everything but the API, and a data directory
// of the test's own (the default is in the checkout).
func testArgs(t *testing.T) []string {
	return []string{"-lambda-port", "0", "-dynamodb-port", "0", "-aws-port", "0", "-daytona-port", "0", "-sfn-port", "0", "-github-port", "0", "-data-dir", t.TempDir()}
}

// syncBuffer is the shared concurrency-safe buffer.
type syncBuffer = testutil.Buffer

func TestPortInUseIsAClearError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	var stdout, stderr syncBuffer
	code := run(append([]string{"-api-port", port}, testArgs(t)...), &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	want := "sandstep-local: port " + port + " (API Gateway emulator) is already in use"
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q lacks %q", stderr.String(), want)
	}
}

func TestDataDirInUseIsAClearError(t *testing.T) {
	args := append([]string{"-api-port", "0"}, testArgs(t)...)
	dir := args[len(args)-1]
	held, err := dirlock.Lock(dir, "test") // as a running stack holds it
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	var stdout, stderr syncBuffer
	if code := run(args, &stdout, &stderr); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, want := range []string{"sandstep-local: data directory " + dir + " is in use by another local stack", "-data-dir"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q lacks %q", stderr.String(), want)
		}
	}
}

// SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal closed) each stop
// the stack cleanly.
func TestSignalsStopTheStack(t *testing.T) {
	needRunner(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			skipIfHangupIgnored(t, sig)
			var stdout, stderr syncBuffer
			done := make(chan int, 1)
			go func() { done <- run(append([]string{"-api-port", "0"}, testArgs(t)...), &stdout, &stderr) }()

			deadline := time.Now().Add(30 * time.Second)
			for !strings.Contains(stdout.String(), "Ctrl-C stops everything") {
				select {
				case code := <-done:
					t.Fatalf("run returned %d before the banner\nstderr: %s", code, stderr.String())
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("no banner\nstdout: %s\nstderr: %s", stdout.String(), stderr.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := syscall.Kill(syscall.Getpid(), sig); err != nil {
				t.Fatal(err)
			}
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("exit code %d after %v, want 0\nstderr: %s", code, sig, stderr.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("run did not return after %v\nstderr: %s", sig, stderr.String())
			}
			if !strings.Contains(stderr.String(), "sandstep-local: stopped") {
				t.Errorf("stderr lacks the stop message:\n%s", stderr.String())
			}
		})
	}
}

// TestHelperChildStack is not a test: the child process of the tests
// that signal a whole process (startChild), sandstep-local's run on free
// ports and the data directory SANDSTEP_TEST_CHILD_DATA, its output on the
// process's stdout and stderr.
func TestHelperChildStack(t *testing.T) {
	dir := os.Getenv("SANDSTEP_TEST_CHILD_DATA")
	if dir == "" {
		t.Skip("the child process of the tests that signal a whole process")
	}
	args := []string{"-api-port", "0", "-lambda-port", "0", "-dynamodb-port", "0", "-aws-port", "0", "-daytona-port", "0",
		"-sfn-port", "0", "-github-port", "0", "-data-dir", dir}
	os.Exit(run(args, os.Stdout, os.Stderr))
}

// startChild starts TestHelperChildStack (under prefix, e.g. nohup) and
// waits for its banner; lines of its stderr arrive on the returned
// channel, its end on the other.
func startChild(t *testing.T, prefix ...string) (*exec.Cmd, <-chan string, chan error) {
	t.Helper()
	needRunner(t)
	argv := append(append([]string{}, prefix...), os.Args[0], "-test.run=^TestHelperChildStack$", "-test.count=1")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "SANDSTEP_TEST_CHILD_DATA="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	errLines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			select {
			case errLines <- sc.Text():
			default:
			}
		}
	}()
	banner := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "Ctrl-C stops everything") {
				once = true
				close(banner)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	exited := make(chan error, 1)
	gone := make(chan struct{})
	go func() { exited <- cmd.Wait(); close(gone) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-gone:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	select {
	case <-banner:
	case err := <-exited:
		t.Fatalf("the child stack ended before its banner: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("no banner from the child stack")
	}
	return cmd, errLines, exited
}

// A stack started with SIGHUP ignored (`nohup make local &`; make and go
// run keep it ignored for their children) survives the hangup, as nohup
// asked: Notify for SIGHUP installed a handler even then, and the hangup
// stopped the stack.
func TestNohupStackSurvivesHangup(t *testing.T) {
	if _, err := exec.LookPath("nohup"); err != nil {
		t.Skip("no nohup")
	}
	cmd, _, exited := startChild(t, "nohup")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		t.Errorf("sandstep-local started under nohup stopped on SIGHUP (%v): nohup's ignored SIGHUP is no longer ignored", err)
	case <-time.After(3 * time.Second):
	}
}

// A closed terminal often sends SIGHUP twice (bash forwards its SIGHUP to
// its jobs, then the kernel sends the foreground process group another as
// the session leader exits): the second is ignored while the stack shuts
// down. stop() put SIGHUP back to its default action, and the second
// killed the process mid-Close, sandboxes running on, the table unsaved.
func TestSecondHangupDuringShutdownIsIgnored(t *testing.T) {
	skipIfHangupIgnored(t, syscall.SIGHUP)
	cmd, errLines, exited := startChild(t)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second)
wait:
	for {
		select {
		case l := <-errLines:
			if strings.Contains(l, "sandstep-local: shutting down") {
				break wait
			}
		case err := <-exited:
			t.Fatalf("the child ended before shutting down: %v", err)
		case <-deadline:
			t.Fatal("no shutdown after SIGHUP")
		}
	}
	// The second hangup of the same closed terminal.
	_ = cmd.Process.Signal(syscall.SIGHUP)
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				t.Errorf("sandstep-local was killed by a second %v during its shutdown: the stack was not stopped cleanly", ws.Signal())
				return
			}
		}
		if err != nil {
			t.Errorf("sandstep-local ended with %v after two SIGHUPs, want a clean exit", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sandstep-local did not end")
	}
}

// needRunner skips a test that starts a stack where the Step Functions
// runner's npm packages are not installed, except where
// SANDSTEP_REQUIRE_NODE is set (CI).
func needRunner(t testing.TB) {
	t.Helper()
	testutil.NeedNode(t, sfnlocal.RunnerInstalled())
}

// skipIfHangupIgnored skips a test that hangs up a stack when this test
// run ignores SIGHUP (nohup make test): a stack started so keeps ignoring
// it, as TestNohupStackSurvivesHangup checks.
func skipIfHangupIgnored(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if sig == syscall.SIGHUP && signal.Ignored(syscall.SIGHUP) {
		t.Skip("this test run ignores SIGHUP (nohup), and so does a stack it starts")
	}
}
