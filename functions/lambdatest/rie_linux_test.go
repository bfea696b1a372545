package lambdatest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/testutil"
)

// invokePath is the only path the emulator serves; any method on it
// invokes the function.
const invokePath = "/2015-03-31/functions/function/invocations"

// invocation is one answer of the emulator.
type invocation struct {
	status      int
	contentType string
	body        []byte
	took        time.Duration
}

// lambdaError is how the runtime reports a function error: the emulator
// answers 200 with this body (and, unlike Lambda, no X-Amz-Function-Error).
type lambdaError struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

// functionError returns the error the body reports, if it is one.
// lockedBuffer is the shared concurrency-safe buffer.
type lockedBuffer = testutil.Buffer

func (inv invocation) functionError() (lambdaError, bool) {
	var e lambdaError
	if json.Unmarshal(inv.body, &e) != nil || e.ErrorType == "" {
		return lambdaError{}, false
	}
	return e, true
}

// rie is one aws-lambda-rie process running one bootstrap, as
// `sam local invoke` runs one container per function.
type rie struct {
	name    string
	base    string // http://127.0.0.1:port
	cmd     *exec.Cmd
	stdout  *lockedBuffer // START/END/REPORT lines and the function's stdout and stderr
	stderr  *lockedBuffer // the emulator's own log
	started time.Time
	exited  chan struct{}
	client  *http.Client

	// mu makes invokes one at a time: the emulator takes one at a time
	// and crashes on concurrent ones.
	mu       sync.Mutex
	ready    time.Duration // exec to the HTTP server answering
	invokes  []invocation
	stopOnce sync.Once
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// startRIE starts aws-lambda-rie serving bootstrap with exactly env as its
// (and so the function's) environment, in its own process group, and waits
// until its HTTP server answers. It is stopped when the test ends. A port
// taken between choosing and binding it gets a second and third try.
func startRIE(t testing.TB, name, rieBin, bootstrap string, env []string) *rie {
	t.Helper()
	for attempt := 1; ; attempt++ {
		r := newRIE(t, name, rieBin, bootstrap, env)
		err := r.waitReady()
		if err == nil {
			return r
		}
		if attempt < 3 && strings.Contains(r.stderr.String(), "address already in use") {
			continue
		}
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", name, err, r.stdout, r.stderr)
	}
}

func newRIE(t testing.TB, name, rieBin, bootstrap string, env []string) *rie {
	t.Helper()
	port, apiPort := freePort(t), freePort(t)
	for apiPort == port {
		apiPort = freePort(t)
	}
	r := &rie{
		name:   name,
		base:   "http://127.0.0.1:" + port,
		stdout: &lockedBuffer{},
		stderr: &lockedBuffer{},
		exited: make(chan struct{}),
		client: &http.Client{Timeout: 60 * time.Second},
	}
	r.cmd = exec.Command(rieBin,
		"--runtime-interface-emulator-address", "127.0.0.1:"+port,
		"--runtime-api-address", "127.0.0.1:"+apiPort,
		bootstrap)
	// Lambda runs the bootstrap from its code directory (/var/task).
	r.cmd.Dir = filepath.Dir(bootstrap)
	r.cmd.Env = env
	r.cmd.Stdout, r.cmd.Stderr = r.stdout, r.stderr
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r.started = time.Now()
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start aws-lambda-rie for %s: %v", name, err)
	}
	go func() {
		_ = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// waitReady polls GET / (a 404 that invokes nothing; the emulator starts
// the function lazily, on the first invoke) until the server answers.
func (r *rie) waitReady() error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := r.client.Get(r.base + "/")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			r.ready = time.Since(r.started)
			return nil
		}
		select {
		case <-r.exited:
			return fmt.Errorf("aws-lambda-rie exited before serving (%v)", r.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("aws-lambda-rie did not answer within 10s: %w", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// invoke sends one event and returns the emulator's answer.
func (r *rie) invoke(t testing.TB, payload []byte) invocation {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	resp, err := r.client.Post(r.base+invokePath, "application/json", bytes.NewReader(payload))
	if err != nil {
		t.Fatalf("%s: invoke: %v\nstdout:\n%s\nstderr:\n%s", r.name, err, r.stdout, r.stderr)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: read the invoke answer: %v", r.name, err)
	}
	inv := invocation{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: body, took: time.Since(start)}
	r.invokes = append(r.invokes, inv)
	return inv
}

// stop ends the emulator: SIGTERM (it then stops the function, which runs
// in a process group of its own), SIGKILL to its group after 5 s. Safe to
// call more than once; the output is complete afterwards.
func (r *rie) stop(t testing.TB) {
	r.stopOnce.Do(func() {
		pid := r.cmd.Process.Pid
		select {
		case <-r.exited:
			return
		default:
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(5 * time.Second):
			t.Errorf("%s: aws-lambda-rie ignored SIGTERM for 5s; killing its process group", r.name)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-r.exited
		}
	})
}

// timings describes the emulator's start and its invokes. The emulator
// starts the bootstrap on the first invoke, so that invoke is the cold
// start: process spawn, init (configuration, AWS and Daytona clients) and
// the request itself.
func (r *rie) timings() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.invokes) == 0 {
		return fmt.Sprintf("emulator up %v after exec, never invoked", r.ready.Round(time.Microsecond))
	}
	s := fmt.Sprintf("emulator up %v after exec; cold start to first answer %v",
		r.ready.Round(time.Microsecond), r.invokes[0].took.Round(time.Microsecond))
	if warm := r.invokes[1:]; len(warm) > 0 {
		d := make([]time.Duration, len(warm))
		for i, inv := range warm {
			d[i] = inv.took
		}
		slices.Sort(d)
		s += fmt.Sprintf("; %d warm invokes: min %v, median %v, max %v",
			len(d), d[0].Round(time.Microsecond), d[len(d)/2].Round(time.Microsecond), d[len(d)-1].Round(time.Microsecond))
	}
	return s
}

// reapStrays registers a cleanup, to run after the emulators are stopped,
// that looks for processes still running an executable from dir (an
// emulator, or a bootstrap an emulator failed to stop), kills each by pid
// and fails the test.
func reapStrays(t testing.TB, dir string) {
	t.Cleanup(func() {
		pids, err := strays(dir)
		if err != nil {
			t.Logf("cannot look for stray processes: %v", err)
			return
		}
		for pid, exe := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("process %d (%s) was still running after its emulator stopped; killed it", pid, exe)
		}
	})
}

// strays returns the processes whose executable lies under dir.
func strays(dir string) (map[int]string, error) {
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		// Unreadable (another user's) or gone: not ours.
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		if strings.HasPrefix(exe, dir+string(filepath.Separator)) {
			out[pid] = exe
		}
	}
	return out, nil
}
