package main

import (
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/dirlock"
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
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
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
