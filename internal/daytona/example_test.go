package daytona_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/daytonalocal"
)

// localDaytona starts the local Daytona-compatible server on 127.0.0.1 and
// returns its API URL and a function that stops it. It stands in for
// https://app.daytona.io/api in these examples.
func localDaytona() (apiURL string, stop func()) {
	srv, err := daytonalocal.New(daytonalocal.Options{APIKey: "local-dev-key", FollowIdleClose: 50 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	return hs.URL + "/api", func() { hs.Close(); srv.Close() }
}

// newClient is the examples' client of the local server.
func newClient(apiURL string) *daytona.Client {
	c, err := daytona.New(daytona.Config{APIKey: "local-dev-key", APIURL: apiURL})
	if err != nil {
		log.Fatal(err)
	}
	return c
}

func ExampleNew() {
	apiURL, stop := localDaytona()
	defer stop()

	// One client per process; it is safe for concurrent use. Only the key
	// is required: APIURL defaults to Daytona Cloud.
	c, err := daytona.New(daytona.Config{APIKey: "local-dev-key", APIURL: apiURL})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.APIURL() == apiURL)
	fmt.Println(daytona.Config{APIKey: "local-dev-key"}) // the key is never printed
	// Output:
	// true
	// daytona.Config{APIKey:[REDACTED] APIURL:"" Target:""}
}

func ExampleClient_CreateSandboxAndWait() {
	apiURL, stop := localDaytona()
	defer stop()
	c := newClient(apiURL)
	ctx := context.Background()

	// The unique Name makes the create idempotent: after an ambiguous
	// failure the client looks the sandbox up by name instead of creating
	// a second one. A sandbox that does not start is deleted.
	ttl := 60
	sb, err := c.CreateSandboxAndWait(ctx, daytona.CreateSandboxParams{
		Name:       "sbx-example",
		Labels:     map[string]string{"sandstep.id": "sbx-example", "sandstep.owner": "alice"},
		TTLMinutes: &ttl,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.DeleteSandbox(ctx, sb.ID)
	fmt.Println(sb.Name, sb.State, sb.Labels["sandstep.id"])
	// Output:
	// sbx-example started sbx-example
}

func ExampleClient_ExecuteSessionCommand() {
	apiURL, stop := localDaytona()
	defer stop()
	c := newClient(apiURL)
	ctx := context.Background()
	sb, err := c.CreateSandboxAndWait(ctx, daytona.CreateSandboxParams{Name: "sbx-session"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.DeleteSandbox(ctx, sb.ID)

	// A session keeps stdout and stderr apart. Deleting it kills whatever
	// still runs in it.
	if err := c.CreateSession(ctx, sb.ID, "job-1"); err != nil {
		log.Fatal(err)
	}
	defer c.DeleteSession(ctx, sb.ID, "job-1")
	// Synchronous: the answer waits for the command, so ctx bounds it.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := c.ExecuteSessionCommand(cctx, sb.ID, "job-1", daytona.SessionExecuteRequest{
		Command: "echo out; echo err >&2; exit 3",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("exit %d, stdout %q, stderr %q\n", *res.ExitCode, res.Stdout, res.Stderr)
	// Output:
	// exit 3, stdout "out\n", stderr "err\n"
}

func ExampleClient_FollowSessionCommandLogs() {
	apiURL, stop := localDaytona()
	defer stop()
	c := newClient(apiURL)
	ctx := context.Background()
	sb, err := c.CreateSandboxAndWait(ctx, daytona.CreateSandboxParams{Name: "sbx-async"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.DeleteSandbox(ctx, sb.ID)
	if err := c.CreateSession(ctx, sb.ID, "job-2"); err != nil {
		log.Fatal(err)
	}

	// A long command runs asynchronously: the answer is its id at once.
	started, err := c.ExecuteSessionCommand(ctx, sb.ID, "job-2", daytona.SessionExecuteRequest{
		Command: "for i in 1 2; do echo line $i; done; echo warning >&2", RunAsync: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	// Streaming is best effort; the snapshot (GetSessionCommandLogs) and
	// the exit code (GetSessionCommand) are what to rely on.
	var stderr strings.Builder
	if err := c.FollowSessionCommandLogs(ctx, sb.ID, "job-2", started.CmdID, os.Stdout, &stderr); err != nil {
		log.Fatal(err)
	}
	var exitCode *int
	err = daytona.Poll(ctx, 10*time.Millisecond, time.Second, func() (bool, error) {
		cmd, err := c.GetSessionCommand(ctx, sb.ID, "job-2", started.CmdID)
		if err != nil {
			return false, err
		}
		exitCode = cmd.ExitCode
		return exitCode != nil, nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stderr %q, exit %d\n", stderr.String(), *exitCode)
	// Output:
	// line 1
	// line 2
	// stderr "warning\n", exit 0
}

func ExampleClient_DeleteSandbox() {
	apiURL, stop := localDaytona()
	defer stop()
	c := newClient(apiURL)
	ctx := context.Background()
	sb, err := c.CreateSandboxAndWait(ctx, daytona.CreateSandboxParams{Name: "sbx-delete"})
	if err != nil {
		log.Fatal(err)
	}

	// Deletion is asynchronous: the answer says what the sandbox is headed for.
	gone, err := c.DeleteSandbox(ctx, sb.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(gone.DesiredState)
	// Deleting it again is a 404, which callers usually treat as done.
	_, err = c.DeleteSandbox(ctx, sb.ID)
	fmt.Println(daytona.IsNotFound(err))
	// Output:
	// destroyed
	// true
}
