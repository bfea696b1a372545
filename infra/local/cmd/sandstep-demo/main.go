// Command sandstep-demo walks through the sandstep API step by step,
// printing each step as it goes: create a sandbox with a small uploaded
// project, run it, show its output, list, delete; then run a long task,
// follow its logs, fetch its artifact and show its end; and show that the
// quota and the sandboxes are back to zero (see local.RunDemo). It exits 0 only if
// every step did what it should. `make demo` runs it.
//
// It uses the API at SANDSTEP_API_URL (default http://127.0.0.1:3000, a
// running `make local`); its quota is read from DynamoDB at
// SANDSTEP_DYNAMODB_URL (default http://127.0.0.1:8000, table TABLE_NAME,
// default SandboxTable) and leftover sandboxes are looked for on the local
// Daytona server at SANDSTEP_DAYTONA_URL (default
// http://127.0.0.1:3003/api) when it answers. If nothing answers at the
// default API URL, it starts the local stack in this process (on the
// default ports, or free ones if those are taken) and stops it afterwards.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sandstep/sandstep/infra/local"
)

func main() {
	os.Exit(run(os.Getenv, os.Stdout, os.Stderr))
}

func run(getenv func(string) string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	apiURL := or(getenv("SANDSTEP_API_URL"), "http://127.0.0.1:3000")
	opts := local.DemoOptions{APIURL: apiURL, Out: stdout}
	var logs *syncBuffer
	if answers(ctx, apiURL+"/sandboxes") {
		opts.DynamoDBURL = or(getenv("SANDSTEP_DYNAMODB_URL"), "http://127.0.0.1:8000")
		opts.TableName = or(getenv("TABLE_NAME"), "SandboxTable")
		if u := or(getenv("SANDSTEP_DAYTONA_URL"), "http://127.0.0.1:3003/api"); answers(ctx, u+"/sandbox") {
			opts.DaytonaURL = u
		}
	} else {
		if getenv("SANDSTEP_API_URL") != "" {
			fmt.Fprintf(stderr, "sandstep-demo: nothing answers at SANDSTEP_API_URL=%s\n", apiURL)
			return 1
		}
		fmt.Fprintf(stdout, "no API answers at %s: starting the local stack in this process\n", apiURL)
		logs = &syncBuffer{}
		st, err := local.Start(ctx, local.Options{Ports: local.DefaultPorts(), Getenv: getenv, LogWriter: logs})
		var inUse *local.PortInUseError
		if errors.As(err, &inUse) {
			fmt.Fprintf(stdout, "(%v; using free ports instead)\n", err)
			st, err = local.Start(ctx, local.Options{Getenv: getenv, LogWriter: logs})
		}
		if err != nil {
			fmt.Fprintf(stderr, "sandstep-demo: start the local stack: %v\n", err)
			return 1
		}
		defer func() {
			if err := st.Close(); err != nil {
				fmt.Fprintf(stderr, "sandstep-demo: stop the local stack: %v\n", err)
			}
		}()
		opts.APIURL, opts.DynamoDBURL, opts.TableName, opts.DaytonaURL = st.APIURL, st.DynamoDBURL, st.Config.TableName, st.DaytonaURL
	}

	if err := local.RunDemo(ctx, opts); err != nil {
		fmt.Fprintf(stderr, "\nsandstep-demo: FAILED: %v\n", err)
		if logs != nil {
			fmt.Fprintf(stderr, "\nlast lines of the local stack's log:\n%s", logs.tail(40))
		}
		return 1
	}
	return 0
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return strings.TrimRight(v, "/")
}

// answers reports whether an HTTP server answers at url, whatever its
// status.
func answers(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = res.Body.Close()
	return true
}

// syncBuffer keeps the in-process stack's log for a failure report.
type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *syncBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := strings.SplitAfter(string(b.buf), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}
