package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/store"
)

// DemoOptions configure RunDemo.
type DemoOptions struct {
	// APIURL is the API's base URL, e.g. http://127.0.0.1:3000. Required.
	APIURL string
	// DynamoDBURL and TableName locate the table, to show the user's quota.
	// Required.
	DynamoDBURL string
	TableName   string
	// DaytonaURL is the local Daytona server's API base URL (…/api), to
	// show that no Daytona sandbox is left; "" skips that check (a real
	// Daytona). DaytonaKey is its key (default LocalDaytonaKey).
	DaytonaURL string
	DaytonaKey string
	// User is the user id (the bearer token). Default: "demo-" and a
	// random suffix, so every run starts at zero.
	User string
	// Out receives the walk-through. Nil: io.Discard.
	Out io.Writer
	// HTTPClient makes the calls. Nil: a client with a 60 s timeout.
	HTTPClient *http.Client
}

// DemoProject is the small project the demo uploads: a shell script that
// sources a library and reads a data file.
var DemoProject = map[string]string{
	"demo/main.sh":      "#!/bin/sh\nset -e\n. ./lib/greet.sh\nwhile read -r name; do\n  greet \"$name\"\ndone < names.txt\n",
	"demo/lib/greet.sh": "greet() {\n  printf 'Hello, %s!\\n' \"$1\"\n}\n",
	"demo/names.txt":    "Ada\nGrace\n",
}

// DemoWantStdout is what running DemoProject prints.
const DemoWantStdout = "Hello, Ada!\nHello, Grace!\n"

// demo is one walk through the API.
type demo struct {
	o     DemoOptions
	out   io.Writer
	http  *http.Client
	quota *store.Store
	step  int
}

// RunDemo walks through the API, printing each step as it goes: create a
// sandbox with a small uploaded project, run it, show its output, show a
// failing command's exit code and stderr, list, delete; run a long task,
// follow its logs, fetch its artifact and show its end; and show that the
// user's quota and sandboxes are back to zero. It returns an error naming
// the first step that did not do what it should; a sandbox it created is
// deleted, and a task cancelled, even then.
func RunDemo(ctx context.Context, o DemoOptions) (err error) {
	if o.APIURL == "" || o.DynamoDBURL == "" || o.TableName == "" {
		return errors.New("demo: APIURL, DynamoDBURL and TableName are required")
	}
	d := &demo{o: o, out: o.Out, http: o.HTTPClient}
	if d.out == nil {
		d.out = io.Discard
	}
	if d.http == nil {
		d.http = &http.Client{Timeout: 60 * time.Second}
	}
	if d.o.User == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		d.o.User = "demo-" + hex.EncodeToString(b[:])
	}
	if d.o.DaytonaKey == "" {
		d.o.DaytonaKey = LocalDaytonaKey
	}
	d.o.APIURL = strings.TrimRight(d.o.APIURL, "/")
	// The demo only reads the slots held; the options shape nothing it reads.
	d.quota, err = ReadStore(o.DynamoDBURL, o.TableName)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	fmt.Fprintf(d.out, "sandstep demo against %s as user %q\n", d.o.APIURL, d.o.User)

	var id string
	defer func() {
		if err != nil && id != "" {
			// Leave nothing behind, whatever failed.
			_, _, _ = d.call(context.WithoutCancel(ctx), http.MethodDelete, "/sandboxes/"+id, nil, true)
		}
	}()

	if err := d.run("a request without a token is refused", func() error {
		status, body, err := d.call(ctx, http.MethodGet, "/sandboxes", nil, false)
		if err != nil {
			return err
		}
		d.show("GET /sandboxes (no Authorization header) -> %d %s", status, body)
		return wantStatus(status, http.StatusUnauthorized, body)
	}); err != nil {
		return err
	}

	if err := d.run("the quota starts at zero", func() error { return d.checkQuota(ctx, 0) }); err != nil {
		return err
	}

	if err := d.run("create a sandbox with a small project uploaded", func() error {
		var files []map[string]string
		for _, p := range slices.Sorted(maps.Keys(DemoProject)) {
			files = append(files, map[string]string{"path": p, "contentBase64": base64.StdEncoding.EncodeToString([]byte(DemoProject[p]))})
			d.show("upload %s (%d bytes)", p, len(DemoProject[p]))
		}
		req := map[string]any{"files": files, "labels": map[string]string{"purpose": "demo"}}
		var sb sandstep.Sandbox
		status, err := d.callJSON(ctx, http.MethodPost, "/sandboxes", req, &sb, http.StatusCreated)
		if err != nil {
			return err
		}
		id = sb.ID
		d.show("POST /sandboxes -> %d, id %s, state %s", status, sb.ID, sb.State)
		if sb.State != sandstep.StateReady {
			return fmt.Errorf("state is %q, want %q", sb.State, sandstep.StateReady)
		}
		return nil
	}); err != nil {
		return err
	}

	if err := d.run("read its status", func() error {
		var sb sandstep.Sandbox
		if _, err := d.callJSON(ctx, http.MethodGet, "/sandboxes/"+id, nil, &sb, http.StatusOK); err != nil {
			return err
		}
		d.show("GET /sandboxes/%s -> state %s (Daytona: %s)", id, sb.State, sb.ProviderState)
		if sb.ID != id || sb.State != sandstep.StateReady {
			return fmt.Errorf("got id %q state %q, want %q %q", sb.ID, sb.State, id, sandstep.StateReady)
		}
		return nil
	}); err != nil {
		return err
	}

	if err := d.run("run the project", func() error {
		res, err := d.exec(ctx, id, "cd demo && sh main.sh")
		if err != nil {
			return err
		}
		if res.ExitCode != 0 || res.Stdout != DemoWantStdout || res.Stderr != "" {
			return fmt.Errorf("got exit code %d, stdout %q, stderr %q; want 0, %q, \"\"", res.ExitCode, res.Stdout, res.Stderr, DemoWantStdout)
		}
		return nil
	}); err != nil {
		return err
	}

	if err := d.run("a failing command: exit code and stderr come back apart", func() error {
		res, err := d.exec(ctx, id, "echo 'to stdout'; echo 'to stderr' >&2; exit 3")
		if err != nil {
			return err
		}
		if res.ExitCode != 3 || res.Stdout != "to stdout\n" || res.Stderr != "to stderr\n" {
			return fmt.Errorf("got exit code %d, stdout %q, stderr %q; want 3, %q, %q", res.ExitCode, res.Stdout, res.Stderr, "to stdout\n", "to stderr\n")
		}
		return nil
	}); err != nil {
		return err
	}

	if err := d.run("list my sandboxes", func() error {
		active, err := d.list(ctx, id)
		if err != nil {
			return err
		}
		if active != 1 {
			return fmt.Errorf("%d active sandboxes, want 1", active)
		}
		return d.checkQuota(ctx, 1)
	}); err != nil {
		return err
	}

	if err := d.run("delete it", func() error {
		var sb sandstep.Sandbox
		status, err := d.callJSON(ctx, http.MethodDelete, "/sandboxes/"+id, nil, &sb, http.StatusOK)
		if err != nil {
			return err
		}
		d.show("DELETE /sandboxes/%s -> %d, state %s", id, status, sb.State)
		if sb.State != sandstep.StateDeleted {
			return fmt.Errorf("state is %q, want %q", sb.State, sandstep.StateDeleted)
		}
		return nil
	}); err != nil {
		return err
	}

	if err := d.runTask(ctx); err != nil {
		return err
	}

	if err := d.run("quota and sandboxes are back to zero", func() error {
		// The task's status is written before its clean-up deletes its
		// sandbox (a real Daytona delete takes seconds): waited for.
		check := func() error {
			active, err := d.list(ctx, id)
			if err != nil {
				return err
			}
			if active != 0 {
				return fmt.Errorf("%d active sandboxes, want 0", active)
			}
			if err := d.checkQuota(ctx, 0); err != nil {
				return err
			}
			return d.checkDaytona(ctx)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			err := check()
			if err == nil || time.Now().After(deadline) {
				return err
			}
			select {
			case <-ctx.Done():
				return err
			case <-time.After(500 * time.Millisecond):
			}
		}
	}); err != nil {
		return err
	}
	fmt.Fprintln(d.out, "\ndemo passed: every step did what it should")
	return nil
}

// DemoJob is the long task the demo runs: a few seconds of output on both
// streams, and a report left as an artifact.
const DemoJob = `for i in 1 2 3 4 5; do echo "building part $i of 5"; echo "warning: part $i is slow" >&2; sleep 1; done
mkdir -p out && echo "5 parts built" > out/report.txt`

// runTask starts a long task, follows its logs while it runs, fetches its
// artifact and shows its end; a task it started is cancelled if a step
// fails.
func (d *demo) runTask(ctx context.Context) (err error) {
	var id string
	defer func() {
		if err != nil && id != "" {
			_, _, _ = d.call(context.WithoutCancel(ctx), http.MethodDelete, "/tasks/"+id, nil, true)
		}
	}()
	if err := d.run("start a long task (POST /tasks)", func() error {
		req := map[string]any{"command": DemoJob, "artifacts": []string{"out/report.txt"}, "timeoutSeconds": 600}
		var tk sandstep.Task
		status, err := d.callJSON(ctx, http.MethodPost, "/tasks", req, &tk, http.StatusAccepted)
		if err != nil {
			return err
		}
		id = tk.ID
		d.show("POST /tasks -> %d, task %s, status %s (the state machine's execution is named after it)", status, tk.ID, tk.Status)
		return nil
	}); err != nil {
		return err
	}
	if err := d.run("follow its logs while it runs", func() error {
		var cursor string
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			var page service.TaskLogs
			if _, err := d.callJSON(ctx, http.MethodGet, "/tasks/"+id+"/logs?cursor="+url.QueryEscape(cursor), nil, &page, http.StatusOK); err != nil {
				return err
			}
			for _, c := range page.Chunks {
				for line := range strings.SplitSeq(strings.TrimSuffix(c.Data, "\n"), "\n") {
					d.show("%s %s | %s", c.Time.Format("15:04:05"), c.Stream, line)
				}
			}
			cursor = page.NextCursor
			if page.Complete {
				return nil
			}
			time.Sleep(time.Second)
		}
		return errors.New("the logs did not complete within 2 minutes")
	}); err != nil {
		return err
	}
	if err := d.run("fetch its artifact", func() error {
		var arts struct {
			Items []service.Artifact `json:"items"`
		}
		if _, err := d.callJSON(ctx, http.MethodGet, "/tasks/"+id+"/artifacts", nil, &arts, http.StatusOK); err != nil {
			return err
		}
		if len(arts.Items) != 1 || arts.Items[0].URL == "" {
			return fmt.Errorf("artifacts %+v, want out/report.txt with a link", arts.Items)
		}
		res, err := d.http.Get(arts.Items[0].URL)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		d.show("GET %s (a presigned link) -> %d %q", arts.Items[0].Path, res.StatusCode, body)
		if res.StatusCode != http.StatusOK || string(body) != "5 parts built\n" {
			return fmt.Errorf("the artifact is %d %q", res.StatusCode, body)
		}
		return nil
	}); err != nil {
		return err
	}
	return d.run("the task's final state", func() error {
		var tk sandstep.Task
		if _, err := d.callJSON(ctx, http.MethodGet, "/tasks/"+id, nil, &tk, http.StatusOK); err != nil {
			return err
		}
		exit := "none"
		if tk.ExitCode != nil {
			exit = fmt.Sprint(*tk.ExitCode)
		}
		d.show("GET /tasks/%s -> %s, exit code %s", id, tk.Status, exit)
		if tk.Status != sandstep.TaskSucceeded {
			return fmt.Errorf("status %s, want %s", tk.Status, sandstep.TaskSucceeded)
		}
		return nil
	})
}

// run prints a step's title, runs it and prints its outcome.
func (d *demo) run(title string, f func() error) error {
	d.step++
	fmt.Fprintf(d.out, "\n[%d] %s\n", d.step, title)
	if err := f(); err != nil {
		fmt.Fprintf(d.out, "    FAILED: %v\n", err)
		return fmt.Errorf("demo step %d (%s): %w", d.step, title, err)
	}
	fmt.Fprintln(d.out, "    ok")
	return nil
}

func (d *demo) show(format string, args ...any) {
	fmt.Fprintf(d.out, "    "+format+"\n", args...)
}

// call makes one API request and returns the status and body.
func (d *demo) call(ctx context.Context, method, path string, body any, auth bool) (int, []byte, error) {
	token := ""
	if auth {
		token = d.o.User
	}
	return CallAPI(ctx, d.http, method, d.o.APIURL+path, token, body, 8<<20)
}

// CallAPI makes one request to an API as the local gateway takes it: body,
// when not nil, as JSON, and token, when not "", as the bearer token (the
// local gateway's user). It returns the status and the body, cut at max
// bytes.
func CallAPI(ctx context.Context, client *http.Client, method, url, token string, body any, max int64) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, max))
	return res.StatusCode, b, err
}

// callJSON makes an authenticated request, checks the status and decodes
// the answer into out.
func (d *demo) callJSON(ctx context.Context, method, path string, body, out any, want int) (int, error) {
	status, b, err := d.call(ctx, method, path, body, true)
	if err != nil {
		return status, err
	}
	if err := wantStatus(status, want, b); err != nil {
		return status, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return status, fmt.Errorf("%s %s: answer is not the expected JSON: %w", method, path, err)
	}
	return status, nil
}

func wantStatus(got, want int, body []byte) error {
	if got != want {
		return fmt.Errorf("status %d, want %d; body: %s", got, want, clipBytes(body, 400))
	}
	return nil
}

func clipBytes(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

func (d *demo) exec(ctx context.Context, id, command string) (*service.ExecResult, error) {
	var res service.ExecResult
	if _, err := d.callJSON(ctx, http.MethodPost, "/sandboxes/"+id+"/exec", map[string]any{"command": command}, &res, http.StatusOK); err != nil {
		return nil, err
	}
	d.show("POST /sandboxes/%s/exec %q -> exit code %d in %d ms", id, command, res.ExitCode, res.DurationMs)
	d.showOutput("stdout", res.Stdout)
	d.showOutput("stderr", res.Stderr)
	return &res, nil
}

func (d *demo) showOutput(name, s string) {
	if s == "" {
		d.show("%s: (empty)", name)
		return
	}
	d.show("%s:", name)
	for line := range strings.SplitSeq(strings.TrimSuffix(s, "\n"), "\n") {
		d.show("  | %s", line)
	}
}

// list lists the user's sandboxes (every page), shows them, checks that
// id is among them, and returns how many are not in a terminal state.
func (d *demo) list(ctx context.Context, id string) (active int, err error) {
	var (
		cursor string
		found  bool
	)
	for {
		path := "/sandboxes?limit=100&state=all"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var page service.SandboxList
		if _, err := d.callJSON(ctx, http.MethodGet, path, nil, &page, http.StatusOK); err != nil {
			return 0, err
		}
		for _, sb := range page.Items {
			d.show("GET /sandboxes: %s %s", sb.ID, sb.State)
			if !sb.State.Terminal() {
				active++
			}
			found = found || sb.ID == id
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if !found {
		return 0, fmt.Errorf("sandbox %s is not in the list", id)
	}
	d.show("active sandboxes: %d", active)
	return active, nil
}

// checkQuota reads the user's quota from the table, as the functions keep
// it, and checks the number of slots held.
func (d *demo) checkQuota(ctx context.Context, want int) error {
	q, err := d.quota.GetQuota(ctx, d.o.User)
	if err != nil {
		return fmt.Errorf("read the quota from DynamoDB at %s: %w", d.o.DynamoDBURL, err)
	}
	d.show("quota of %s (DynamoDB %s, table %s): %d slot(s) held", d.o.User, d.o.DynamoDBURL, d.o.TableName, q.Active)
	if q.Active != want {
		return fmt.Errorf("the user holds %d quota slot(s), want %d", q.Active, want)
	}
	return nil
}

// checkDaytona asks the local Daytona server for the user's sandboxes
// (by the owner label sandstep puts on each) and checks that none is left.
func (d *demo) checkDaytona(ctx context.Context) error {
	if d.o.DaytonaURL == "" {
		d.show("Daytona: not the local server; its sandboxes are not listed here")
		return nil
	}
	client, err := daytona.New(daytona.Config{APIKey: d.o.DaytonaKey, APIURL: d.o.DaytonaURL, HTTPClient: d.http})
	if err != nil {
		return err
	}
	items, err := client.ListAllSandboxes(ctx, daytona.ListSandboxesOptions{Labels: map[string]string{service.LabelOwner: d.o.User}})
	if err != nil {
		return fmt.Errorf("list Daytona sandboxes: %w", err)
	}
	d.show("Daytona (%s): %d sandbox(es) labelled %s=%s", d.o.DaytonaURL, len(items), service.LabelOwner, d.o.User)
	if len(items) != 0 {
		return fmt.Errorf("the Daytona server still has %d sandbox(es) of the user, e.g. %s (%s)", len(items), items[0].ID, items[0].State)
	}
	return nil
}
