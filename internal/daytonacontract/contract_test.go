package daytonacontract

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/daytonaspec"
	"github.com/sandstep/sandstep/internal/testutil"
)

const apiKey = "contract-canary-key-7f3a9c"

type env struct {
	srv    *daytonalocal.Server
	client *daytona.Client
	root   string
}

// newEnv starts the local server behind the spec middleware and a client
// whose transport validates every exchange. allow lists statuses the specs
// do not declare that a test provokes on purpose (fault injection).
func newEnv(t *testing.T, retry daytona.RetryPolicy, allow ...int) *env {
	t.Helper()
	spec := daytonaspec.Load(t)
	root := t.TempDir()
	srv, err := daytonalocal.New(daytonalocal.Options{Root: root, APIKey: apiKey, FollowIdleClose: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	opts := []daytonaspec.Option{daytonaspec.AllowStatus(allow...)}
	hs := httptest.NewServer(spec.Middleware(t, srv, opts...))
	t.Cleanup(func() {
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	if retry.MaxAttempts == 0 {
		retry = daytona.RetryPolicy{MaxAttempts: 4, BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond, MaxRetryAfter: 5 * time.Second}
	}
	client, err := daytona.New(daytona.Config{
		APIKey:       apiKey,
		APIURL:       hs.URL + "/api",
		HTTPClient:   &http.Client{Transport: spec.Transport(t, http.DefaultTransport, opts...)},
		Retry:        retry,
		PollInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, client: client, root: root}
}

func (e *env) create(t *testing.T, name string) *daytona.Sandbox {
	t.Helper()
	sb, err := e.client.CreateSandboxAndWait(context.Background(), daytona.CreateSandboxParams{
		Name:   name,
		Labels: map[string]string{"sandstep.id": name, "sandstep.owner": "contract"},
		Env:    map[string]string{"GREETING": "hello"},
	})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return sb
}

func TestLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e := newEnv(t, daytona.RetryPolicy{}, http.StatusNotFound)
	sb := e.create(t, "sbx-lifecycle")
	if sb.State != daytona.StateStarted || sb.ToolboxProxyURL == "" {
		t.Fatalf("created sandbox: state %q, toolboxProxyUrl %q", sb.State, sb.ToolboxProxyURL)
	}

	err := e.client.UploadFiles(ctx, sb.ID, []daytona.UploadFile{
		{Path: "proj/run.sh", Content: strings.NewReader("echo \"$GREETING from run.sh\"\necho oops >&2\nexit 3\n")},
		{Path: "proj/data.txt", Content: strings.NewReader("42\n")},
	})
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	var got bytes.Buffer
	if _, err := e.client.DownloadFile(ctx, sb.ID, "proj/data.txt", &got); err != nil || got.String() != "42\n" {
		t.Fatalf("download = %q, %v", got.String(), err)
	}

	res, err := e.client.ExecuteCommand(ctx, sb.ID, daytona.ExecuteRequest{Command: "sh proj/run.sh", Timeout: 10})
	if err != nil {
		t.Fatalf("execute: %v", err)
	}
	if res.ExitCode != 3 || !strings.Contains(res.Result, "hello from run.sh") || !strings.Contains(res.Result, "oops") {
		t.Fatalf("execute = %+v", res)
	}

	// An async session command whose logs are followed live, stdout and
	// stderr kept apart.
	if err := e.client.CreateSession(ctx, sb.ID, "job"); err != nil {
		t.Fatalf("create session: %v", err)
	}
	script := "for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.05; done"
	cmd, err := e.client.ExecuteSessionCommand(ctx, sb.ID, "job", daytona.SessionExecuteRequest{Command: script, RunAsync: true})
	if err != nil || cmd.CmdID == "" {
		t.Fatalf("async exec = %+v, %v", cmd, err)
	}
	var stdout, stderr bytes.Buffer
	if err := e.client.FollowSessionCommandLogs(ctx, sb.ID, "job", cmd.CmdID, &stdout, &stderr); err != nil {
		t.Fatalf("follow: %v", err)
	}
	if stdout.String() != "out1\nout2\nout3\n" || stderr.String() != "err1\nerr2\nerr3\n" {
		t.Fatalf("followed stdout %q stderr %q", stdout.String(), stderr.String())
	}
	status, err := e.client.GetSessionCommand(ctx, sb.ID, "job", cmd.CmdID)
	if err != nil || status.ExitCode == nil || *status.ExitCode != 0 {
		t.Fatalf("command status = %+v, %v", status, err)
	}
	logs, err := e.client.GetSessionCommandLogs(ctx, sb.ID, "job", cmd.CmdID)
	if err != nil || logs.Stdout != stdout.String() || logs.Stderr != stderr.String() {
		t.Fatalf("log snapshot = %+v, %v", logs, err)
	}
	if err := e.client.DeleteSession(ctx, sb.ID, "job"); err != nil {
		t.Fatalf("delete session: %v", err)
	}

	page, err := e.client.ListSandboxes(ctx, daytona.ListSandboxesOptions{Labels: map[string]string{"sandstep.owner": "contract"}})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != sb.ID {
		t.Fatalf("list by label = %+v, %v", page, err)
	}
	if _, err := e.client.DeleteSandbox(ctx, sb.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := e.client.GetSandbox(ctx, sb.ID); !daytona.IsNotFound(err) {
		t.Fatalf("get after delete: %v, want not found", err)
	}
	if dirs, _ := os.ReadDir(e.root); len(dirs) != 0 {
		t.Errorf("sandbox directories left after delete: %d", len(dirs))
	}
}

// TestNetworkPolicyFields: the network fields go out as the spec types
// them (booleans and comma-separated strings; the middleware refuses any
// other shape or name) and the server reports them back.
func TestNetworkPolicyFields(t *testing.T) {
	tests := []struct {
		name    string
		params  daytona.CreateSandboxParams
		block   bool
		cidrs   string
		domains string
	}{
		{"all blocked", daytona.CreateSandboxParams{NetworkBlockAll: true}, true, "", ""},
		{"allow lists", daytona.CreateSandboxParams{NetworkAllowList: []string{"10.0.0.0/8", "203.0.113.7/32"}, DomainAllowList: []string{"github.com", "*.pypi.org"}},
			false, "10.0.0.0/8,203.0.113.7/32", "github.com,*.pypi.org"},
		{"open", daytona.CreateSandboxParams{}, false, "", ""},
	}
	e := newEnv(t, daytona.RetryPolicy{})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p := tt.params
			p.Name = "sbx-net-" + strconv.Itoa(i)
			if _, err := e.client.CreateSandboxAndWait(ctx, p); err != nil {
				t.Fatalf("create: %v", err)
			}
			sb, err := e.client.GetSandbox(ctx, p.Name)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if sb.NetworkBlockAll != tt.block || sb.NetworkAllowList != tt.cidrs || sb.DomainAllowList != tt.domains {
				t.Errorf("reported networkBlockAll %v, networkAllowList %q, domainAllowList %q; want %v, %q, %q",
					sb.NetworkBlockAll, sb.NetworkAllowList, sb.DomainAllowList, tt.block, tt.cidrs, tt.domains)
			}
		})
	}
}

func TestRetriesAgainstInjectedFaults(t *testing.T) {
	tests := []struct {
		name      string
		fault     daytonalocal.Fault
		allow     []int
		call      func(ctx context.Context, e *env, sb *daytona.Sandbox) error
		wantHits  int
		minDelay  time.Duration
		wantError bool
	}{
		{
			name:  "429 with Retry-After is honoured",
			fault: daytonalocal.Fault{Kind: daytonalocal.FaultRateLimit, Match: daytonalocal.Match{Operation: "getSandbox"}, Times: 1, RetryAfter: time.Second},
			allow: []int{429},
			call: func(ctx context.Context, e *env, sb *daytona.Sandbox) error {
				_, err := e.client.GetSandbox(ctx, sb.ID)
				return err
			},
			wantHits: 1, minDelay: time.Second,
		},
		{
			name:  "a burst of 503s then success",
			fault: daytonalocal.Fault{Kind: daytonalocal.FaultUnavailable, Match: daytonalocal.Match{Operation: "getSandbox"}, Times: 3},
			allow: []int{503},
			call: func(ctx context.Context, e *env, sb *daytona.Sandbox) error {
				_, err := e.client.GetSandbox(ctx, sb.ID)
				return err
			},
			wantHits: 3,
		},
		{
			name:  "empty-body 502 from the proxy",
			fault: daytonalocal.Fault{Kind: daytonalocal.FaultBadGateway, Match: daytonalocal.Match{Operation: "deleteSandbox"}, Times: 2},
			allow: []int{502},
			call: func(ctx context.Context, e *env, sb *daytona.Sandbox) error {
				_, err := e.client.DeleteSandbox(ctx, sb.ID)
				return err
			},
			wantHits: 2,
		},
		{
			name:  "503 past the attempts gives a transient error",
			fault: daytonalocal.Fault{Kind: daytonalocal.FaultUnavailable, Match: daytonalocal.Match{Operation: "getSandbox"}},
			allow: []int{503},
			call: func(ctx context.Context, e *env, sb *daytona.Sandbox) error {
				_, err := e.client.GetSandbox(ctx, sb.ID)
				if !daytona.IsTransient(err) {
					t.Errorf("error %v is not transient", err)
				}
				return err
			},
			wantHits: 4, wantError: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, daytona.RetryPolicy{}, tt.allow...)
			sb := e.create(t, "sbx-retry")
			id, err := e.srv.AddFault(tt.fault)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = tt.call(context.Background(), e, sb)
			if (err != nil) != tt.wantError {
				t.Fatalf("err = %v, want error %v", err, tt.wantError)
			}
			if hits := e.srv.FaultHits(id); hits != tt.wantHits {
				t.Errorf("fault hit %d times, want %d", hits, tt.wantHits)
			}
			if d := time.Since(start); d < tt.minDelay {
				t.Errorf("returned after %v, before the Retry-After of %v", d, tt.minDelay)
			}
		})
	}
}

func TestCreateIsIdempotentByName(t *testing.T) {
	tests := []struct {
		name  string
		fault daytonalocal.Fault
		allow []int
		want  func(t *testing.T, sb *daytona.Sandbox, err error)
	}{
		{
			name:  "a lost 500 response finds the sandbox by name",
			fault: daytonalocal.Fault{Kind: daytonalocal.FaultCreateLostResponse, Status: 500, Times: 1},
			allow: []int{500},
			want: func(t *testing.T, sb *daytona.Sandbox, err error) {
				if err != nil || sb.State != daytona.StateStarted {
					t.Fatalf("create = %+v, %v", sb, err)
				}
			},
		},
		{
			name:  "a lost empty 502 finds the sandbox by name",
			fault: daytonalocal.Fault{Kind: daytonalocal.FaultCreateLostResponse, Status: 502, Times: 1},
			allow: []int{502},
			want: func(t *testing.T, sb *daytona.Sandbox, err error) {
				if err != nil || sb.State != daytona.StateStarted {
					t.Fatalf("create = %+v, %v", sb, err)
				}
			},
		},
		{
			name:  "failed to start is an error and the sandbox is deleted",
			fault: daytonalocal.Fault{Kind: daytonalocal.FaultCreateFailedToStart, Message: "no capacity", Times: 1},
			allow: []int{400, 404},
			want: func(t *testing.T, sb *daytona.Sandbox, err error) {
				var se *daytona.StartError
				if !errors.As(err, &se) || !se.Deleted {
					t.Fatalf("create error = %v, want a StartError with the sandbox deleted", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, daytona.RetryPolicy{}, tt.allow...)
			if _, err := e.srv.AddFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			sb, err := e.client.CreateSandboxAndWait(ctx, daytona.CreateSandboxParams{Name: "sbx-once", Labels: map[string]string{"case": "idem"}})
			tt.want(t, sb, err)
			all, lerr := e.client.ListAllSandboxes(ctx, daytona.ListSandboxesOptions{Labels: map[string]string{"case": "idem"}})
			if lerr != nil {
				t.Fatal(lerr)
			}
			wantLive := 1
			if err != nil {
				wantLive = 0
			}
			if len(all) != wantLive {
				t.Errorf("%d sandboxes exist, want %d (never a second one)", len(all), wantLive)
			}
		})
	}
}

// A create stuck in creating is given up at the deadline, but Daytona
// refuses its delete while the state change is in flight (409, the spec
// declares no such status): the sandbox is left, named in the error, for
// the reaper, which finds it by its labels and record and asks again.
func TestStuckCreateIsLeftForTheReaperAtTheDeadline(t *testing.T) {
	e := newEnv(t, daytona.RetryPolicy{}, http.StatusNotFound, http.StatusConflict)
	if _, err := e.srv.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultCreateStuck, Times: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := e.client.CreateSandboxAndWait(ctx, daytona.CreateSandboxParams{Name: "sbx-stuck"})
	var se *daytona.StartError
	if !errors.As(err, &se) || se.Deleted || se.CleanupErr == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a StartError (deadline) whose delete was refused", err)
	}
	var ae *daytona.APIError
	if !errors.As(se.CleanupErr, &ae) || ae.StatusCode != http.StatusConflict {
		t.Errorf("cleanup error = %v, want Daytona's 409", se.CleanupErr)
	}
	sb, err := e.client.GetSandbox(context.Background(), "sbx-stuck")
	if err != nil || sb.State != daytona.StateCreating || sb.ID != se.SandboxID {
		t.Fatalf("the stuck sandbox = %+v, %v; want it still creating, as the error names it", sb, err)
	}
}

func TestCancelStopsRetriesAtOnce(t *testing.T) {
	e := newEnv(t, daytona.RetryPolicy{MaxAttempts: 100, BaseDelay: time.Second, MaxDelay: 5 * time.Second, MaxRetryAfter: 5 * time.Second}, 503)
	sb := e.create(t, "sbx-cancel")
	if _, err := e.srv.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultUnavailable, Match: daytonalocal.Match{Operation: "getSandbox"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.client.GetSandbox(ctx, sb.ID)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // inside the first backoff wait
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled in the chain", err)
		}
	case <-time.After(time.Second):
		t.Fatal("a cancelled context did not stop the retries")
	}
}

func TestBadInputAndHostileServers(t *testing.T) {
	e := newEnv(t, daytona.RetryPolicy{}, http.StatusRequestTimeout)
	sb := e.create(t, "sbx-bad")
	ctx := context.Background()

	for _, id := range []string{"", "../etc", "a/b", "x\x00y"} {
		if _, err := e.client.GetSandbox(ctx, id); err == nil {
			t.Errorf("GetSandbox(%q) succeeded", id)
		} else if _, isAPI := errors.AsType[*daytona.APIError](err); isAPI {
			t.Errorf("GetSandbox(%q) reached the server: %v", id, err)
		}
	}

	// A command that never ends: 408, and its whole process group is gone.
	pidFile := "never.pid"
	_, err := e.client.ExecuteCommand(ctx, sb.ID, daytona.ExecuteRequest{Command: "echo $$ > " + pidFile + "; sleep 600 & wait", Timeout: 1})
	if !daytona.IsTimeout(err) {
		t.Fatalf("never-ending command: %v, want a timeout", err)
	}
	var pidBuf bytes.Buffer
	if _, err := e.client.DownloadFile(ctx, sb.ID, pidFile, &pidBuf); err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(pidBuf.String()))
	if pid <= 0 {
		t.Fatalf("no pid recorded: %q", pidBuf.String())
	}
	waitGroupGone(t, pid)

	// Oversized output is cut and flagged, not buffered whole.
	small, err := daytona.New(daytona.Config{APIKey: apiKey, APIURL: e.client.APIURL(), MaxOutputBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	res, err := small.ExecuteCommand(ctx, sb.ID, daytona.ExecuteRequest{Command: "head -c 100000 /dev/zero | tr '\\0' x", Timeout: 10})
	if err != nil || !res.Truncated || len(res.Result) > 1000 {
		t.Fatalf("oversized output: truncated=%v len=%d err=%v", res != nil && res.Truncated, len(res.Result), err)
	}

	// Servers that answer garbage give a specific error, never a panic,
	// and never the key.
	garbage := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"html", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(200)
			w.Write([]byte("<html>maintenance</html>"))
		}},
		{"truncated json", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id": "x", "state": `))
		}},
		{"html 500 echoing the key", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			w.Write([]byte("<h1>error " + r.Header.Get("Authorization") + "</h1>"))
		}},
	}
	for _, g := range garbage {
		t.Run("garbage/"+g.name, func(t *testing.T) {
			hs := httptest.NewServer(g.handler)
			defer hs.Close()
			c, err := daytona.New(daytona.Config{APIKey: apiKey, APIURL: hs.URL + "/api", Retry: daytona.RetryPolicy{MaxAttempts: 1}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.GetSandbox(ctx, "sbx-x")
			if err == nil {
				t.Fatal("garbage accepted")
			}
			if strings.Contains(err.Error(), apiKey) {
				t.Fatalf("error carries the API key: %v", err)
			}
		})
	}
}

// waitGroupGone waits until no live process is left in pid's process group.
func waitGroupGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if !groupAlive(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("process group %d still has live processes", pid)
}

// groupAlive reports whether a non-zombie process of group pgid exists.
func groupAlive(pgid int) bool { return len(testutil.LiveInGroup(pgid)) > 0 }
