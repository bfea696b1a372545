package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/sandstep/sandstep/infra/local"
	"github.com/sandstep/sandstep/internal/daytonalocal"
)

// The stand-ins of the services the functions call (the embedded DynamoDB
// and the local Daytona server, with the sandboxes' processes) run in a
// process of their own, as they run elsewhere in AWS: their CPU is not the
// functions', so a function's own time is its own. Where the machine
// allows it, each process has CPUs of its own too (see splitCPUs).

// standInsEnv carries the stand-ins' spec to the process that serves them:
// this program, started again.
const standInsEnv = "SANDSTEP_LOAD_STANDINS"

// standInsSpec is what the stand-ins' process is asked to serve.
type standInsSpec struct {
	Latency daytonalocal.Latency
	Faults  []daytonalocal.Fault
	Rate    daytonalocal.RateLimit
	CPUs    []int  // the CPUs it may use; none: any
	Root    string // the Daytona server's sandboxes, made and removed by the run
}

// standInsAddrs is its answer, one JSON line on its stdout.
type standInsAddrs struct {
	DynamoDB string // DynamoDB's endpoint URL
	Daytona  string // the Daytona API's base URL (ending in /api)
	Control  string // GET /creates: the create counts; POST /faults: a fault added
	// NotPinned says why the process could not keep to spec.CPUs.
	NotPinned string `json:",omitempty"`
}

// createCounts are the local Daytona server's createSandbox requests and
// how many of them its create rate refused.
type createCounts struct{ Requests, Refused int }

// serveStandIns is the stand-ins' process: it serves until its stdin
// ends (the load run closed it, or died), then stops every sandbox. An
// interrupt is the run's to handle: it ends the run, which closes stdin.
func serveStandIns(specJSON string, stdin io.Reader, stdout, stderr io.Writer) int {
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	fail := func(err error) int {
		fmt.Fprintf(stderr, "sandstep-load stand-ins: %v\n", err)
		return 1
	}
	var spec standInsSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		return fail(fmt.Errorf("%s: %w", standInsEnv, err))
	}
	var addrs standInsAddrs
	if len(spec.CPUs) > 0 {
		if err := pinProcess(spec.CPUs); err != nil {
			addrs.NotPinned = err.Error()
		} else {
			runtime.GOMAXPROCS(len(spec.CPUs))
		}
	}
	d, err := daytonalocal.New(daytonalocal.Options{
		Root: spec.Root, APIKey: local.LocalDaytonaKey, Latency: spec.Latency, Faults: spec.Faults, CreateRate: spec.Rate,
		Logger: slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return fail(err)
	}
	defer d.Close()
	control := http.NewServeMux()
	control.HandleFunc("GET /creates", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(createCounts{Requests: d.CreateRequests(), Refused: d.RateLimited()})
	})
	control.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var f daytonalocal.Fault
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := d.AddFault(f); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	var urls []string
	for _, h := range []http.Handler{local.DynamoDBServer(), d, control} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fail(err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		urls = append(urls, "http://"+ln.Addr().String())
	}
	addrs.DynamoDB, addrs.Daytona, addrs.Control = urls[0], urls[1]+"/api", urls[2]
	if err := json.NewEncoder(stdout).Encode(addrs); err != nil {
		return fail(err)
	}
	_, _ = io.Copy(io.Discard, stdin)
	return 0
}

// standIns is the stand-ins' process, seen from the load run.
type standIns struct {
	standInsAddrs
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error
	root  string
}

// startStandIns starts this program again as the stand-ins' process, its
// log lines going to logs, and waits for its addresses.
func startStandIns(ctx context.Context, spec standInsSpec, logs io.Writer) (*standIns, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if spec.Root, err = os.MkdirTemp("", "sandstep-load-daytona-"); err != nil {
		return nil, err
	}
	cmd, stdin, stdout, err := standInsCommand(self, spec, logs)
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		_ = os.RemoveAll(spec.Root)
		return nil, fmt.Errorf("start the stand-ins' process: %w", err)
	}
	s := &standIns{cmd: cmd, stdin: stdin, done: make(chan error, 1), root: spec.Root}
	lines := make(chan []byte, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Bytes()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
		s.done <- cmd.Wait()
	}()
	select {
	case line, ok := <-lines:
		if ok {
			err = json.Unmarshal(line, &s.standInsAddrs)
		} else {
			err = errors.New("it ended before it served")
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("the stand-ins' process: %w", err)
	}
	return s, nil
}

// standInsCommand is the stand-ins' process to start: self with spec, its
// stdin and stdout piped, its stderr going to logs.
func standInsCommand(self string, spec standInsSpec, logs io.Writer) (*exec.Cmd, io.WriteCloser, io.ReadCloser, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, nil, nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), standInsEnv+"="+string(b))
	cmd.Stderr = logs
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	return cmd, stdin, stdout, err
}

// creates asks the stand-ins' Daytona server for its create counts.
func (s *standIns) creates(ctx context.Context) (createCounts, error) {
	var c createCounts
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Control+"/creates", nil)
	if err != nil {
		return c, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("GET /creates: %s", resp.Status)
	}
	return c, json.NewDecoder(resp.Body).Decode(&c)
}

// addFault adds f to the stand-ins' Daytona server, from now on.
func (s *standIns) addFault(ctx context.Context, f daytonalocal.Fault) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Control+"/faults", bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("POST /faults: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// Close ends the stand-ins' process (it stops its sandboxes first), waits
// for it and removes its sandboxes' directory; one that does not end in
// 30 s is killed.
func (s *standIns) Close() error {
	_ = s.stdin.Close()
	var err error
	select {
	case err = <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		err = errors.New("the stand-ins' process did not stop within 30 s; killed")
	}
	return errors.Join(err, os.RemoveAll(s.root))
}

// cpuSplit is how a run shares the machine's CPUs: the functions' process
// the first it may use, the stand-ins' processes (and the Step Functions
// runner, which the stack starts) the rest. With one CPU, or where a
// process cannot choose its CPUs, nothing is pinned and why says so.
type cpuSplit struct {
	all, functions, standIns []int
	why                      string
}

func splitCPUs() *cpuSplit {
	cpus, err := allowedCPUs()
	switch {
	case err != nil:
		return &cpuSplit{why: err.Error()}
	case len(cpus) < 2:
		return &cpuSplit{all: cpus, why: "one CPU"}
	}
	return &cpuSplit{all: cpus, functions: cpus[:1], standIns: cpus[1:]}
}

// pin keeps this process on cpus, while the split holds. A refusal ends
// the split: the process may use every CPU again, and why says so.
func (c *cpuSplit) pin(cpus []int) {
	if c.functions == nil {
		return
	}
	if err := pinProcess(cpus); err != nil {
		c.end(err.Error())
	}
}

// end gives up the split, for why.
func (c *cpuSplit) end(why string) {
	c.restore()
	c.functions, c.standIns, c.why = nil, nil, why
}

// restore lets this process use every CPU it could at the start.
func (c *cpuSplit) restore() {
	if len(c.all) > 0 {
		_ = pinProcess(c.all)
	}
}

func (c *cpuSplit) String() string {
	if c.functions == nil {
		return "not pinned to CPUs (" + c.why + ")"
	}
	return fmt.Sprintf("the functions' process on CPU %v, the stand-ins' on %v", c.functions, c.standIns)
}
