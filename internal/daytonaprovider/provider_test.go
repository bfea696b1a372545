package daytonaprovider

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

func newProvider(t *testing.T, opts Options) (*Provider, *daytonalocal.Server) {
	t.Helper()
	return newProviderOn(t, opts, daytonalocal.Options{})
}

// newProviderOn is newProvider with the local server's options.
func newProviderOn(t *testing.T, opts Options, local daytonalocal.Options) (*Provider, *daytonalocal.Server) {
	t.Helper()
	local.Root = t.TempDir()
	srv, err := daytonalocal.New(local)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	c, err := daytona.New(daytona.Config{
		APIKey: "k", APIURL: hs.URL + "/api", PollInterval: 20 * time.Millisecond,
		Retry: daytona.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	return New(c, opts), srv
}

func create(t *testing.T, p *Provider, name string) string {
	t.Helper()
	ps, err := p.Create(context.Background(), service.ProviderSpec{
		Name: name, Labels: map[string]string{"sandstep.id": name}, Env: map[string]string{"MODE": "test"},
		AutoStopMinutes: 15, TTLMinutes: 60,
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if ps.State != "started" {
		t.Fatalf("state %q", ps.State)
	}
	return ps.ID
}

// stop stops a sandbox as Daytona's auto-stop does, behind the client's back.
func stop(t *testing.T, p *Provider, id string) { t.Helper(); lifecycle(t, p, id, "stop") }

// TestCreateSendsTheNetworkPolicy: the service's policy reaches Daytona's
// fields, read back from the server.
func TestCreateSendsTheNetworkPolicy(t *testing.T) {
	p, _ := newProvider(t, Options{})
	tests := []struct {
		name           string
		policy         *sandstep.NetworkPolicy
		block          bool
		cidrs, domains string
	}{
		{"open", nil, false, "", ""},
		{"blocked", &sandstep.NetworkPolicy{BlockAll: true}, true, "", ""},
		{"lists", &sandstep.NetworkPolicy{AllowList: []string{"10.0.0.0/8", "203.0.113.7/32"}, DomainAllowList: []string{"github.com", "*.pypi.org"}},
			false, "10.0.0.0/8,203.0.113.7/32", "github.com,*.pypi.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			ps, err := p.Create(ctx, service.ProviderSpec{Name: "net-" + tt.name, AutoStopMinutes: 15, TTLMinutes: 60, Network: tt.policy})
			if err != nil {
				t.Fatal(err)
			}
			sb, err := p.c.GetSandbox(ctx, ps.ID)
			if err != nil {
				t.Fatal(err)
			}
			if sb.NetworkBlockAll != tt.block || sb.NetworkAllowList != tt.cidrs || sb.DomainAllowList != tt.domains {
				t.Errorf("Daytona has networkBlockAll %v, networkAllowList %q, domainAllowList %q; want %v, %q, %q",
					sb.NetworkBlockAll, sb.NetworkAllowList, sb.DomainAllowList, tt.block, tt.cidrs, tt.domains)
			}
		})
	}
}

// Create tells the size Daytona gave the sandbox, read back from it.
func TestCreateTellsTheSizeDaytonaGave(t *testing.T) {
	p, _ := newProvider(t, Options{})
	tests := []struct {
		name      string
		image     string
		resources *sandstep.Resources
	}{
		{"asked for", "python:3.12", &sandstep.Resources{CPU: 2, MemoryGiB: 4, DiskGiB: 8}},
		{"Daytona's default", "", nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			ps, err := p.Create(ctx, service.ProviderSpec{Name: fmt.Sprint("size-", i), Image: tt.image, Resources: tt.resources, AutoStopMinutes: 15, TTLMinutes: 60})
			if err != nil {
				t.Fatal(err)
			}
			sb, err := p.c.GetSandbox(ctx, ps.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := sandstep.Resources{CPU: int(sb.CPU), MemoryGiB: int(sb.Memory), DiskGiB: int(sb.Disk)}
			if ps.Size == nil || *ps.Size != want || tt.resources != nil && *ps.Size != *tt.resources {
				t.Errorf("Create told the size %+v; Daytona has %+v (asked %+v)", ps.Size, want, tt.resources)
			}
		})
	}
}

func TestExec(t *testing.T) {
	tests := []struct {
		name       string
		syncLimit  time.Duration
		line       string
		timeout    time.Duration
		wantExit   int
		wantStdout string
		wantStderr string
		truncated  bool
		wantCode   sandstep.Code
	}{
		{name: "sync, streams apart", line: "echo out; echo err >&2; exit 4", timeout: 10 * time.Second, wantExit: 4, wantStdout: "out\n", wantStderr: "err\n"},
		{name: "async, polled", syncLimit: time.Millisecond, line: "sleep 0.2; echo done", timeout: 10 * time.Second, wantStdout: "done\n"},
		{name: "create-time env visible", line: "echo $MODE", timeout: 5 * time.Second, wantStdout: "test\n"},
		{name: "sync timeout", line: "sleep 31.7", timeout: time.Second, wantCode: sandstep.ETIMEOUT},
		{name: "async timeout", syncLimit: time.Millisecond, line: "sleep 31.7", timeout: time.Second, wantCode: sandstep.ETIMEOUT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newProvider(t, Options{SyncExecLimit: tt.syncLimit, MaxPollInterval: 100 * time.Millisecond})
			id := create(t, p, "sbx-exec")
			start := time.Now()
			res, err := p.Exec(context.Background(), id, service.Command{Line: tt.line, Timeout: tt.timeout})
			if tt.wantCode != "" {
				if got := sandstep.ErrorCode(err); got != tt.wantCode {
					t.Fatalf("err = %v (%s), want %s", err, got, tt.wantCode)
				}
				if d := time.Since(start); d > tt.timeout+3*time.Second {
					t.Errorf("timed-out command answered after %v", d)
				}
				// The session was deleted, which killed the command: it is
				// gone once the kill has been delivered, within seconds on a
				// loaded machine. (The odd duration tells it from other
				// tests' sleeps.)
				var out *service.ExecResult
				for range 50 {
					if out, err = p.Exec(context.Background(), id, service.Command{Line: "ps -eo args | grep -c '^sleep 31.7' || true", Timeout: 5 * time.Second}); err != nil || strings.TrimSpace(out.Stdout) == "0" {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if err != nil || strings.TrimSpace(out.Stdout) != "0" {
					t.Errorf("the timed-out command still runs: %+v, %v", out, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != tt.wantExit || res.Stdout != tt.wantStdout || res.Stderr != tt.wantStderr || res.Truncated != tt.truncated {
				t.Errorf("result = %+v", res)
			}
		})
	}
}

func TestUploadAndGitClone(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	repo := t.TempDir()
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "init"},
	} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(repo, "README"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"add", "README"}, {"-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m", "readme"}} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	p, _ := newProvider(t, Options{})
	id := create(t, p, "sbx-files")
	ctx := context.Background()
	if err := p.Upload(ctx, id, []service.UploadFile{{Path: "src/a.txt", Content: []byte("A")}}); err != nil {
		t.Fatal(err)
	}
	if err := p.GitClone(ctx, id, service.GitCloneSpec{URL: "file://" + repo, Branch: "main", Path: filepath.Base(repo)}); err != nil {
		t.Fatal(err)
	}
	res, err := p.Exec(ctx, id, service.Command{Line: "cat src/a.txt " + filepath.Base(repo) + "/README", Timeout: 5 * time.Second})
	if err != nil || res.Stdout != "Ahi\n" {
		t.Fatalf("files = %+v, %v", res, err)
	}
	err = p.GitClone(ctx, id, service.GitCloneSpec{URL: "file:///nonexistent/repo.git", Path: "x"})
	if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != "git.url" {
		t.Fatalf("clone of a missing repository: %v (field %q), want invalid git.url", err, sandstep.ErrorField(err))
	}
}

func TestGetDeleteAndErrors(t *testing.T) {
	p, srv := newProvider(t, Options{})
	ctx := context.Background()
	id := create(t, p, "sbx-del")
	// Since (Daytona's updatedAt) tells the reaper how long a sandbox has
	// been destroying.
	if ps, err := p.Get(ctx, id); err != nil || ps.State != "started" || time.Since(ps.Since) > time.Minute {
		t.Fatalf("get = %+v, %v; want started, changed within the minute", ps, err)
	}
	if list, err := p.List(ctx, nil); err != nil || len(list) != 1 || time.Since(list[0].Since) > time.Minute {
		t.Fatalf("list = %+v, %v; want the sandbox, changed within the minute", list, err)
	}
	if err := p.Delete(ctx, "sbx-del"); err != nil { // by name
		t.Fatal(err)
	}
	if err := p.Delete(ctx, id); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := p.Get(ctx, id); sandstep.ErrorCode(err) != sandstep.ENOTFOUND {
		t.Fatalf("get after delete: %v", err)
	}
	tests := []struct {
		name  string
		fault daytonalocal.Fault
		spec  service.ProviderSpec
		want  sandstep.Code
	}{
		{"unavailable", daytonalocal.Fault{Kind: daytonalocal.FaultUnavailable, Match: daytonalocal.Match{Operation: "createSandbox"}}, service.ProviderSpec{Name: "sbx-a"}, sandstep.ETRANSIENT},
		{"capacity", daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 400, Message: "Total CPU limit exceeded", Match: daytonalocal.Match{Operation: "createSandbox"}}, service.ProviderSpec{Name: "sbx-b"}, sandstep.ECAPACITY},
		{"refused", daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 400, Message: "bad snapshot", Match: daytonalocal.Match{Operation: "createSandbox"}}, service.ProviderSpec{Name: "sbx-c"}, sandstep.EINVALID},
		{"credentials", daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 401, Message: "Unauthorized", Match: daytonalocal.Match{Operation: "createSandbox"}}, service.ProviderSpec{Name: "sbx-d"}, sandstep.EINTERNAL},
		{"failed to start", daytonalocal.Fault{Kind: daytonalocal.FaultCreateError, Message: "oom"}, service.ProviderSpec{Name: "sbx-e"}, sandstep.ETRANSIENT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fid, err := srv.AddFault(tt.fault)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.RemoveFault(fid)
			_, err = p.Create(ctx, tt.spec)
			if got := sandstep.ErrorCode(err); got != tt.want {
				t.Fatalf("err = %v (%s), want %s", err, got, tt.want)
			}
			if strings.Contains(sandstep.ErrorMessage(err), "Unauthorized") && tt.want == sandstep.EINTERNAL {
				t.Errorf("an internal error shows provider text to the caller")
			}
		})
	}
	if _, err := p.Get(ctx, "sbx-e"); sandstep.ErrorCode(err) != sandstep.ENOTFOUND {
		t.Errorf("a sandbox that failed to start was left behind: %v", err)
	}
	if err := p.Delete(ctx, "sbx-none"); err != nil {
		t.Errorf("delete of a missing sandbox: %v, want no error", err)
	}
}

func TestExecStartsAStoppedSandboxAgain(t *testing.T) {
	p, _ := newProvider(t, Options{MaxPollInterval: 50 * time.Millisecond})
	id := create(t, p, "sbx-stopped")
	ctx := context.Background()
	if err := p.Upload(ctx, id, []service.UploadFile{{Path: "kept.txt", Content: []byte("still here")}}); err != nil {
		t.Fatal(err)
	}
	stop(t, p, id)
	if ps, err := p.Get(ctx, id); err != nil || ps.State != "stopped" {
		t.Fatalf("after stop: %+v, %v", ps, err)
	}
	res, err := p.Exec(ctx, id, service.Command{Line: "cat kept.txt", Timeout: 10 * time.Second})
	if err != nil || res.Stdout != "still here\n" { // Daytona ends a partial last line
		t.Fatalf("exec in a stopped sandbox = %+v, %v", res, err)
	}
	if ps, _ := p.Get(ctx, id); ps.State != "started" {
		t.Errorf("state after exec = %q", ps.State)
	}
}

func TestExecRestartThatRunsOutOfTimeKeepsTheSandbox(t *testing.T) {
	p, _ := newProviderOn(t, Options{MaxPollInterval: 20 * time.Millisecond}, daytonalocal.Options{StartDelay: 400 * time.Millisecond})
	id := create(t, p, "sbx-slow-start")
	stop(t, p, id)
	ctx := context.Background()
	start := time.Now()
	_, err := p.Exec(ctx, id, service.Command{Line: "true", Timeout: 100 * time.Millisecond})
	if got := sandstep.ErrorCode(err); got != sandstep.ETIMEOUT {
		t.Fatalf("err = %v (%s), want %s", err, got, sandstep.ETIMEOUT)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("answered after %v", took)
	}
	// The sandbox holds the caller's files: running out of time must not delete it.
	if _, err := p.Get(ctx, id); err != nil {
		t.Errorf("sandbox after a restart that ran out of time: %v", err)
	}
}

// A client idle past its sandbox's auto-stop (DEFAULT_AUTO_STOP_MINUTES,
// 15) sends two commands at once, as an agent runner that fans out does.
// README: an auto-stopped sandbox "is started again, once, and the call
// goes on". A call that meets it starting, or whose own start Daytona
// refuses mid-transition (409 "state change in progress", retried by the
// client only briefly) because another call's start is under way, must
// wait for that start, not answer `transient` (503): nothing failed, yet
// `transient` is a fault the edge counts in Faults, the numerator of
// <stack>-fault-rate-execute, so an ordinary burst would page the operator.
func TestConcurrentExecsOnAStoppedSandboxWaitForTheOneStart(t *testing.T) {
	tests := []struct {
		name string
		// stagger delays the second call; startLatency holds every
		// start before Daytona takes it, so both calls read it stopped.
		stagger, startLatency time.Duration
	}{
		{name: "the second meets the first's start under way", stagger: 300 * time.Millisecond},
		{name: "both start it, and Daytona refuses the second start", startLatency: 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, srv := newProviderOn(t, Options{MaxPollInterval: 20 * time.Millisecond}, daytonalocal.Options{StartDelay: 1500 * time.Millisecond})
			ctx := context.Background()
			id := create(t, p, "sbx-idle")
			lifecycle(t, p, id, "stop") // Daytona's auto-stop
			if tt.startLatency > 0 {
				if _, err := srv.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultLatency, Delay: tt.startLatency,
					Match: daytonalocal.Match{Operation: "startSandbox"}}); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i := range errs {
				wg.Go(func() {
					time.Sleep(time.Duration(i) * tt.stagger)
					_, errs[i] = p.Exec(ctx, id, service.Command{Line: "true", Timeout: 20 * time.Second})
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("exec %d on an auto-stopped sandbox = %v (%s); want it run once the one start is done", i+1, err, sandstep.ErrorCode(err))
				}
			}
		})
	}
}

// TestExecAwaitsReady: the caller's check runs once the session is made
// (or could not be), before the command starts or a stopped sandbox is
// started again; its refusal ends the exec with the session deleted.
func TestExecAwaitsReady(t *testing.T) {
	errRefused := sandstep.Errorf(sandstep.ECONFLICT, "refused by the record")
	tests := []struct {
		name    string
		stopped bool
		refuse  bool
		// wantBefore are the requests made when Ready is called; wantAfter
		// those made after it, in order.
		wantBefore, wantAfter []string
	}{
		{name: "accepts", wantBefore: []string{"POST session"},
			wantAfter: []string{"POST exec", "DELETE session"}},
		{name: "refuses", refuse: true, wantBefore: []string{"POST session"},
			wantAfter: []string{"DELETE session"}},
		{name: "refuses a stopped sandbox", stopped: true, refuse: true,
			wantBefore: []string{"POST session"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := daytonalocal.New(daytonalocal.Options{Root: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var seen []string
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var what string
				switch {
				case strings.HasSuffix(r.URL.Path, "/exec"):
					what = "exec"
				case strings.Contains(r.URL.Path, "/process/session"):
					what = "session"
				case strings.HasSuffix(r.URL.Path, "/start"):
					what = "start"
				}
				if what != "" {
					mu.Lock()
					seen = append(seen, r.Method+" "+what)
					mu.Unlock()
				}
				srv.ServeHTTP(w, r)
			}))
			t.Cleanup(func() { hs.Close(); srv.Close() })
			c, err := daytona.New(daytona.Config{APIKey: "k", APIURL: hs.URL + "/api", PollInterval: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			p := New(c, Options{MaxPollInterval: 50 * time.Millisecond})
			id := create(t, p, "sbx-ready")
			if tt.stopped {
				stop(t, p, id)
			}
			mu.Lock()
			seen = nil
			mu.Unlock()
			var before []string
			var readyDeadline time.Time
			res, err := p.Exec(context.Background(), id, service.Command{Line: "echo ran", Timeout: 5 * time.Second, Ready: func(ctx context.Context) error {
				readyDeadline, _ = ctx.Deadline()
				mu.Lock()
				before = slices.Clone(seen)
				mu.Unlock()
				if tt.refuse {
					return errRefused
				}
				return nil
			}})
			mu.Lock()
			after := seen[len(before):]
			mu.Unlock()
			if tt.refuse && err != errRefused {
				t.Errorf("exec = %+v, %v; want the check's refusal as it is", res, err)
			}
			if !tt.refuse && (err != nil || res.Stdout != "ran\n") {
				t.Errorf("exec = %+v, %v", res, err)
			}
			if readyDeadline.IsZero() || readyDeadline.After(time.Now().Add(5*time.Second)) {
				t.Errorf("Ready's deadline %v, want the command's (5 s from the call)", readyDeadline)
			}
			if !slices.Equal(before, tt.wantBefore) || !slices.Equal(after, tt.wantAfter) {
				t.Errorf("requests: %q, then Ready, then %q; want %q, then %q", before, after, tt.wantBefore, tt.wantAfter)
			}
			if ps, err := p.Get(context.Background(), id); tt.stopped && (err != nil || ps.State != "stopped") {
				t.Errorf("a refused exec left the stopped sandbox %+v, %v", ps, err)
			}
		})
	}
}

// A record may keep a proxy URL that is no longer the sandbox's: another
// instance told it still runs commands and reads a running one's state.
func TestAStaleToolboxFromARecord(t *testing.T) {
	p, _ := newProvider(t, Options{MaxPollInterval: 20 * time.Millisecond})
	id := create(t, p, "sbx-moved")
	ctx := context.Background()
	sid := "sandstep-task"
	cmdID, err := p.StartCommand(ctx, id, sid, "sleep 30")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.StopCommand(context.Background(), id, sid) })
	old := httptest.NewServer(http.NotFoundHandler()) // a proxy that no longer knows it
	t.Cleanup(old.Close)

	for name, run := range map[string]func(*Provider) error{
		"exec": func(fresh *Provider) error {
			res, err := fresh.Exec(ctx, id, service.Command{Line: "echo here", Timeout: 5 * time.Second})
			if err == nil && res.Stdout != "here\n" {
				return fmt.Errorf("stdout %q", res.Stdout)
			}
			return err
		},
		"a running command's state": func(fresh *Provider) error {
			code, err := fresh.CommandExit(ctx, id, sid, cmdID)
			if err == nil && code != nil {
				return fmt.Errorf("exit code %d of a running command", *code)
			}
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := daytona.New(daytona.Config{APIKey: "k", APIURL: p.c.APIURL(), PollInterval: 20 * time.Millisecond,
				Retry: daytona.RetryPolicy{MaxAttempts: 1}})
			if err != nil {
				t.Fatal(err)
			}
			fresh := New(c, Options{MaxPollInterval: 20 * time.Millisecond})
			fresh.KnowToolbox(id, old.URL+"/toolbox")
			if err := run(fresh); err != nil {
				t.Errorf("told a stale proxy URL: %v", err)
			}
		})
	}
}

// newLocalService is a service over p, a provider on local Daytona, with a
// store of one slot a user; set, when given, changes its options.
func newLocalService(t *testing.T, p *Provider, set func(*service.Options)) (*service.Service, *store.Store) {
	t.Helper()
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 1})
	opts := service.Options{
		Deployment: func(context.Context) (string, error) { return "test-deployment", nil },
		Limits:     serviceLimits(),
	}
	if set != nil {
		set(&opts)
	}
	svc, err := service.New(service.Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return svc, st
}

// serviceLimits are a service's limits, a minute and a MiB each.
func serviceLimits() service.Limits {
	return service.Limits{
		DefaultTTLMinutes: 60, MaxTTLMinutes: 60, DefaultExecTimeout: time.Minute, MaxExecTimeout: time.Minute, MaxOutputBytes: 1 << 20,
		MaxTaskDuration: time.Minute, MaxTaskLogBytes: 1 << 20, TaskBackstop: time.Minute,
	}
}
