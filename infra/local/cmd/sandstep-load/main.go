// Command sandstep-load puts the local stack under load and checks that it
// stays exact. It starts its own stack on free ports of 127.0.0.1 (the
// local Daytona server slowed to a real Daytona's latency, every user's
// quota LOAD_QUOTA), then:
//
//   - sandboxes: LOAD_N creates spread over LOAD_USERS users (the bearer
//     token is the user id, as the local API Gateway takes it), at most
//     LOAD_INFLIGHT in flight; an exec in each sandbox made; every sandbox
//     deleted;
//   - the bare store: GetItem, PutItem and TransactWriteItems against the
//     same embedded DynamoDB, LOAD_INFLIGHT in flight;
//   - tasks: LOAD_TASKS tasks of a few seconds through POST /tasks, each
//     followed to its end.
//
// It checks that each user got exactly min(attempts, LOAD_QUOTA) sandboxes
// and a 429 for every other create, every exec and delete answered, every
// task succeeded, that after the creates and again after the tasks every
// create request the Daytona server saw made a sandbox the run was given
// (none failed, none was asked again) and none was refused, and that no
// sandbox and no quota slot is held at the end (the API, the table and the
// Daytona server asked). It prints p50, p95 and p99 per operation of the
// functions' time, split into Daytona's, the store's and their own (see
// README, "make load"), beside the bare store's.
//
// With LOAD_CREATE_RATE (creates a minute), the local Daytona server
// refuses creates beyond it as Daytona does and the functions share the
// same budget. A create the shared budget refuses (503, code transient,
// Retry-After, a message naming DAYTONA_CREATE_RATE) is asked again after
// its Retry-After; any other 503 is a failure, not asked again. The run
// reports the attempts and Daytona's refusals (none is exact).
//
// The stand-ins (the embedded DynamoDB, the local Daytona server and its
// sandboxes) run in a process of their own, on CPUs of their own where the
// machine allows (see standins.go); the functions' process runs with one P
// (GOMAXPROCS=1) unless GOMAXPROCS is set.
//
// Its last line is "load: exact" (exit 0) or "load: NOT exact: <why>"
// (exit 1). The whole run is bounded by LOAD_TIMEOUT; the stack stops with
// it. `make load` runs it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
)

func main() {
	if spec := os.Getenv(standInsEnv); spec != "" {
		os.Exit(serveStandIns(spec, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Getenv, os.Stdout, os.Stderr))
}

func run(getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(getenv)
	if err != nil {
		return verdict(stdout, []string{err.Error()})
	}
	oneP(getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return verdict(stdout, runLoad(ctx, cfg, stdout, stderr))
}

// verdict prints the last line and returns the exit status. Each problem
// is put on one line: a problem of several (the stack's configuration
// error, an answer's body) would push the verdict off the last line.
func verdict(w io.Writer, problems []string) int {
	if len(problems) == 0 {
		fmt.Fprintln(w, "load: exact")
		return 0
	}
	const shown = 5
	lines := make([]string, min(len(problems), shown))
	for i := range lines {
		lines[i] = strings.Join(strings.Fields(problems[i]), " ")
	}
	msg := strings.Join(lines, "; ")
	if len(problems) > shown {
		msg += fmt.Sprintf("; and %d more", len(problems)-shown)
	}
	fmt.Fprintf(w, "load: NOT exact: %s\n", msg)
	return 1
}

// oneP gives the run one P unless GOMAXPROCS says otherwise: the
// functions' process has one CPU (cpuSplit), and a handler runs from one
// call to its next unless it spends 10 ms, so its wait behind the other
// goroutines falls in the call it waited on. (Work it does while a call it
// made beside is out is booked to that call; README, "make load".)
func oneP(getenv func(string) string) {
	if getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}
