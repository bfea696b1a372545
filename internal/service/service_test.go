package service

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/config"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

type harness struct {
	svc      *Service
	provider *fakeProvider
	store    *store.Store
}

func newHarness(t *testing.T, quota int) *harness {
	t.Helper()
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: quota})
	p := newFakeProvider()
	p.execResult = ExecResult{ExitCode: 0, Stdout: "hello\n", DurationMs: 5}
	svc := newService(t, p, st, fakeSecrets{"ssm:/sandstep/secrets/users/alice/token": "canary-s3cr3t-value"}, Options{})
	return &harness{svc: svc, provider: p, store: st}
}

// testDeployment labels the test service's sandboxes.
const testDeployment = "test-abcdefgh"

// fixedDeployment is an Options.Deployment that is always id.
func fixedDeployment(id string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return id, nil }
}

// testLimits are the deployment's defaults, from their one home.
func testLimits() Limits {
	d := config.Defaults()
	return Limits{d.DefaultAutoStopMinutes, d.DefaultTTLMinutes, d.MaxTTLMinutes, d.DefaultExecTimeout, d.MaxExecTimeout, d.ExecTimeoutMargin, d.MaxOutputBytes,
		d.MaxTaskDuration, d.CapacityWait, d.TaskBackstop, int64(d.MaxTaskLogBytes), d.NetworkPolicy, d.GitHubQueueTimeout}
}

// newService returns a service over p and st; zero Limits in opts take
// testLimits.
func newService(t *testing.T, p Provider, st *store.Store, secrets SecretResolver, opts Options) *Service {
	t.Helper()
	if opts.Limits == (Limits{}) {
		opts.Limits = testLimits()
	}
	if opts.Deployment == nil {
		opts.Deployment = fixedDeployment(testDeployment)
	}
	svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st, Secrets: secrets}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func (h *harness) active(t *testing.T, user string) int {
	t.Helper()
	q, err := h.store.GetQuota(context.Background(), user)
	if err != nil {
		t.Fatalf("GetQuota(%s): %v", user, err)
	}
	return q.Active
}

func alice() Call { return Call{UserID: "alice", RequestID: "req-1"} }

func intp(v int) *int { return &v }

func wantCode(t *testing.T, err error, code sandstep.Code) {
	t.Helper()
	if got := sandstep.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, 3)
	in := CreateSandboxInput{
		Image:           "python:3.12",
		Env:             map[string]string{"MODE": "test"},
		SecretEnv:       map[string]string{"GITHUB_TOKEN": "ssm:/sandstep/secrets/users/alice/token"},
		Labels:          map[string]string{"team": "agents"},
		AutoStopMinutes: intp(30),
		TTLMinutes:      intp(60),
		Files:           []File{{Path: "src/run.sh", ContentBase64: base64.StdEncoding.EncodeToString([]byte("echo hi\n"))}},
		Git:             &GitSource{URL: "https://github.com/octo/repo.git", Branch: "main", Path: "repo", TokenSecret: "ssm:/sandstep/secrets/users/alice/token"},
		Metadata:        sandstep.Metadata{InstallationID: "42", IssueID: "7", Repo: "octo/repo"},
	}
	sb, err := h.svc.CreateSandbox(ctx, alice(), in)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if sb.State != sandstep.StateReady || sb.Owner != "alice" || sb.DaytonaID == "" {
		t.Fatalf("created sandbox = %+v", sb)
	}
	spec := h.provider.specs[0]
	if spec.Name != sb.ID || spec.Labels[LabelID] != sb.ID || spec.Labels[LabelOwner] != "alice" || spec.Labels["team"] != "agents" ||
		spec.Labels[LabelDeployment] != testDeployment {
		t.Errorf("provider spec name/labels = %q %v", spec.Name, spec.Labels)
	}
	if spec.AutoStopMinutes != 30 || spec.TTLMinutes != 60 || spec.Image != "python:3.12" {
		t.Errorf("provider spec timers/image = %+v", spec)
	}
	if _, leaked := spec.Env["GITHUB_TOKEN"]; leaked {
		t.Error("secret env must not be create-time env")
	}
	files := h.provider.sandboxes[sb.ID].files
	if string(files["src/run.sh"]) != "echo hi\n" {
		t.Errorf("uploaded file = %q", files["src/run.sh"])
	}
	if got := string(files[secretsFile]); got != "GITHUB_TOKEN='canary-s3cr3t-value'\n" {
		t.Errorf("secrets file = %q", got)
	}
	if c := h.provider.clones[0]; c.Password != "canary-s3cr3t-value" || c.Branch != "main" || c.Path != "repo" {
		t.Errorf("clone = %+v", c)
	}
	if h.active(t, "alice") != 1 {
		t.Errorf("active slots = %d, want 1", h.active(t, "alice"))
	}

	res, err := h.svc.Exec(ctx, alice(), sb.ID, ExecInput{Command: "sh src/run.sh", Env: map[string]string{"X": "it's"}, Cwd: "src"})
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	if res.Stdout != "hello\n" || res.ExitCode != 0 {
		t.Errorf("exec result = %+v", res)
	}
	for _, c := range h.provider.execs {
		if strings.Contains(c.Line, "canary-s3cr3t-value") {
			t.Fatalf("a command line carries a secret value: %q", c.Line)
		}
	}
	last := h.provider.execs[len(h.provider.execs)-1]
	for _, want := range []string{"cd -- './src'", `export X='it'\''s'`, "/bin/sh -c 'sh src/run.sh'"} {
		if !strings.Contains(last.Line, want) {
			t.Errorf("command line %q lacks %q", last.Line, want)
		}
	}

	got, err := h.svc.GetSandbox(ctx, alice(), sb.ID)
	if err != nil || got.ProviderState != "started" {
		t.Fatalf("status = %+v, %v", got, err)
	}
	list, err := h.svc.ListSandboxes(ctx, alice(), SandboxListInput{})
	if err != nil || len(list.Items) != 1 || list.Items[0].ID != sb.ID {
		t.Fatalf("list = %+v, %v", list, err)
	}

	del, err := h.svc.DeleteSandbox(ctx, alice(), sb.ID)
	if err != nil || del.State != sandstep.StateDeleted || del.DeletedAt == nil {
		t.Fatalf("delete = %+v, %v", del, err)
	}
	if live := h.provider.live(); len(live) != 0 {
		t.Errorf("provider sandboxes left: %v", live)
	}
	if h.active(t, "alice") != 0 {
		t.Errorf("active slots after delete = %d", h.active(t, "alice"))
	}
	again, err := h.svc.DeleteSandbox(ctx, alice(), sb.ID)
	if err != nil || again.State != sandstep.StateDeleted {
		t.Fatalf("second delete = %+v, %v", again, err)
	}
	if h.active(t, "alice") != 0 {
		t.Errorf("second delete changed the count: %d", h.active(t, "alice"))
	}
	if _, err := h.svc.Exec(ctx, alice(), sb.ID, ExecInput{Command: "true"}); sandstep.ErrorCode(err) != sandstep.ECONFLICT {
		t.Errorf("exec in deleted sandbox: %v, want conflict", err)
	}
	events, _, err := h.store.ListAudit(ctx, sb.ID, "", 100, "")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range events {
		actions = append(actions, ev.Action)
		if ev.Metadata.Repo != "octo/repo" || ev.UserID != "alice" {
			t.Errorf("audit event lacks who/what: %+v", ev)
		}
	}
	if !slices.Equal(actions, []string{ActionCreate, ActionExec, ActionDelete}) {
		t.Errorf("audit actions = %v", actions)
	}
}

func TestCreateFailureAtEachStepLeavesNothing(t *testing.T) {
	boom := sandstep.Errorf(sandstep.ETRANSIENT, "provider unavailable")
	// The sandbox a create is setting up failed (the provider judged it by
	// its state: error, or gone): that create is tried again, as a
	// sandbox that failed to start is.
	failed := sandstep.Errorf(sandstep.ECONFLICT, "the sandbox is in state error")
	gone := sandstep.Errorf(sandstep.ENOTFOUND, "the sandbox is gone")
	badURL := &sandstep.Error{Code: sandstep.EINVALID, Field: "git.url", Message: "the repository was not found"}
	tests := []struct {
		name           string
		op             string
		err            error // boom if nil
		createThenFail bool
		want           sandstep.Code
	}{
		{"create fails", "create", nil, false, sandstep.ETRANSIENT},
		{"create fails after the sandbox exists", "create", nil, true, sandstep.ETRANSIENT},
		{"secrets upload fails", "upload-secrets", nil, false, sandstep.ETRANSIENT},
		{"secrets chmod fails", "exec", nil, false, sandstep.ETRANSIENT},
		{"file upload fails", "upload", nil, false, sandstep.ETRANSIENT},
		{"git clone fails", "git", nil, false, sandstep.ETRANSIENT},
		{"the sandbox fails during the upload", "upload", failed, false, sandstep.ETRANSIENT},
		{"the sandbox is gone during the clone", "git", gone, false, sandstep.ETRANSIENT},
		{"the repository is not found", "git", badURL, false, sandstep.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 2)
			h.provider.failOn(tt.op, cmp.Or(tt.err, error(boom)))
			h.provider.createThenFail = tt.createThenFail
			_, err := h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{
				SecretEnv: map[string]string{"T": "ssm:/sandstep/secrets/users/alice/token"},
				Files:     []File{{Path: "a.txt", ContentBase64: "aGk="}},
				Git:       &GitSource{URL: "https://example.com/r.git"},
			})
			wantCode(t, err, tt.want)
			if live := h.provider.live(); len(live) != 0 {
				t.Errorf("provider sandboxes left: %v", live)
			}
			if n := h.active(t, "alice"); n != 0 {
				t.Errorf("active slots = %d, want 0", n)
			}
			// The record written first is left failed, saying why.
			list, err := h.svc.ListSandboxes(context.Background(), alice(), SandboxListInput{State: "all"})
			if err != nil || len(list.Items) != 1 || list.Items[0].State != sandstep.StateFailed || list.Items[0].Error == "" {
				t.Errorf("records left: %+v, %v; want one failed record", list, err)
			}
		})
	}
}

func TestQuotaExceededCreatesNothing(t *testing.T) {
	h := newHarness(t, 2)
	for i := 0; i < 2; i++ {
		if _, err := h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{})
	wantCode(t, err, sandstep.EQUOTA)
	if h.provider.creates != 2 {
		t.Errorf("provider creates = %d, want 2", h.provider.creates)
	}
	// Another user is not affected.
	if _, err := h.svc.CreateSandbox(context.Background(), Call{UserID: "bob"}, CreateSandboxInput{}); err != nil {
		t.Errorf("bob: %v", err)
	}
}

func TestParallelCreatesHonourQuota(t *testing.T) {
	h := newHarness(t, 3)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch sandstep.ErrorCode(err) {
		case "":
			ok++
		case sandstep.EQUOTA:
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 3 || len(h.provider.live()) != 3 || h.active(t, "alice") != 3 {
		t.Errorf("ok=%d live=%d active=%d, want 3 each", ok, len(h.provider.live()), h.active(t, "alice"))
	}
}

func TestOtherUsersSandboxIsNotFound(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, 3)
	sb, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	bob := Call{UserID: "bob"}
	tests := []struct {
		name string
		call func() error
	}{
		{"get", func() error { _, err := h.svc.GetSandbox(ctx, bob, sb.ID); return err }},
		{"exec", func() error { _, err := h.svc.Exec(ctx, bob, sb.ID, ExecInput{Command: "id"}); return err }},
		{"delete", func() error { _, err := h.svc.DeleteSandbox(ctx, bob, sb.ID); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.call(), sandstep.ENOTFOUND) })
	}
	list, err := h.svc.ListSandboxes(ctx, bob, SandboxListInput{ListInput: ListInput{Limit: intp(10)}})
	if err != nil || len(list.Items) != 0 {
		t.Errorf("bob's list = %+v, %v", list, err)
	}
	if len(h.provider.live()) != 1 {
		t.Error("bob's delete must not touch alice's sandbox")
	}
	_, err = h.svc.GetSandbox(ctx, Call{}, sb.ID)
	wantCode(t, err, sandstep.EUNAUTHENTICATED)
}

func TestIdempotentCreate(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, 3)
	call := Call{UserID: "alice", IdempotencyKey: "key-1"}
	first, err := h.svc.CreateSandbox(ctx, call, CreateSandboxInput{Labels: map[string]string{"a": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.svc.CreateSandbox(ctx, call, CreateSandboxInput{Labels: map[string]string{"a": "1"}})
	if err != nil || again.ID != first.ID {
		t.Fatalf("retry = %+v, %v; want sandbox %s", again, err, first.ID)
	}
	if h.provider.creates != 1 || h.active(t, "alice") != 1 {
		t.Errorf("creates=%d active=%d, want 1 and 1", h.provider.creates, h.active(t, "alice"))
	}
	_, err = h.svc.CreateSandbox(ctx, call, CreateSandboxInput{Labels: map[string]string{"a": "2"}})
	wantCode(t, err, sandstep.ECONFLICT)
	// The same key belongs to each user separately.
	if _, err := h.svc.CreateSandbox(ctx, Call{UserID: "bob", IdempotencyKey: "key-1"}, CreateSandboxInput{}); err != nil {
		t.Errorf("bob with alice's key: %v", err)
	}
	// A failed attempt frees the key.
	h.provider.failOn("create", sandstep.Errorf(sandstep.ETRANSIENT, "down"))
	call2 := Call{UserID: "alice", IdempotencyKey: "key-2"}
	_, err = h.svc.CreateSandbox(ctx, call2, CreateSandboxInput{})
	wantCode(t, err, sandstep.ETRANSIENT)
	h.provider.failOn("create", nil)
	if _, err := h.svc.CreateSandbox(ctx, call2, CreateSandboxInput{}); err != nil {
		t.Errorf("retry after failure: %v", err)
	}
}

func TestExecTimeoutBoundedByDeadline(t *testing.T) {
	h := newHarness(t, 3)
	sb, err := h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := h.svc.Exec(ctx, alice(), sb.ID, ExecInput{Command: "sleep 1", TimeoutSeconds: intp(600)}); err != nil {
		t.Fatal(err)
	}
	got := h.provider.execs[len(h.provider.execs)-1].Timeout
	if got > 17*time.Second || got < 10*time.Second {
		t.Errorf("timeout = %v, want at most the 20s deadline less the 3s margin", got)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	_, err = h.svc.Exec(short, alice(), sb.ID, ExecInput{Command: "true"})
	wantCode(t, err, sandstep.ETIMEOUT)

	h.provider.execResult = ExecResult{ExitCode: 3, Stderr: "bad\n"}
	res, err := h.svc.Exec(context.Background(), alice(), sb.ID, ExecInput{Command: "exit 3"})
	if err != nil || res.ExitCode != 3 || res.Stderr != "bad\n" {
		t.Errorf("non-zero exit = %+v, %v; want a result, not an error", res, err)
	}
}

func TestStatusOfSandboxTheProviderLost(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, 3)
	sb, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	h.provider.failOn("get", errors.New("connection refused"))
	got, err := h.svc.GetSandbox(ctx, alice(), sb.ID)
	if err != nil || got.ProviderState != "unknown" || got.State != sandstep.StateReady {
		t.Fatalf("status with provider down = %+v, %v", got, err)
	}
	h.provider.failOn("get", nil)
	if err := h.provider.Delete(ctx, sb.ID); err != nil { // the TTL backstop fired
		t.Fatal(err)
	}
	got, err = h.svc.GetSandbox(ctx, alice(), sb.ID)
	if err != nil || got.State != sandstep.StateGone {
		t.Fatalf("status of lost sandbox = %+v, %v", got, err)
	}
	if h.active(t, "alice") != 0 {
		t.Errorf("slot of a gone sandbox not released")
	}
	if _, err := h.svc.DeleteSandbox(ctx, alice(), sb.ID); err != nil || h.active(t, "alice") != 0 {
		t.Errorf("delete of gone sandbox: %v, active %d", err, h.active(t, "alice"))
	}
}

func TestConcurrentDeletesReleaseOnce(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, 3)
	a, _ := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if _, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.svc.DeleteSandbox(ctx, alice(), a.ID); err != nil {
				t.Errorf("delete: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := h.active(t, "alice"); n != 1 {
		t.Errorf("active = %d, want 1 (the other sandbox)", n)
	}
}

func TestAgentExecute(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		keep        bool
		execErr     error
		wantErr     sandstep.Code
		wantLive    int
		wantActive  int
		wantDeleted bool
	}{
		{name: "runs and deletes", wantLive: 0, wantDeleted: true},
		{name: "keeps when asked", keep: true, wantLive: 1, wantActive: 1},
		{name: "deletes when the command fails", execErr: sandstep.Errorf(sandstep.ETIMEOUT, "too slow"), wantErr: sandstep.ETIMEOUT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 3)
			in := AgentExecuteInput{Command: "make test", KeepSandbox: tt.keep}
			in.Files = []File{{Path: "Makefile", ContentBase64: "dGVzdDoK"}}
			if tt.execErr != nil {
				h.provider.failOn("exec", tt.execErr)
			}
			res, err := h.svc.AgentExecute(ctx, alice(), in)
			wantCode(t, err, tt.wantErr)
			if len(h.provider.live()) != tt.wantLive || h.active(t, "alice") != tt.wantActive {
				t.Errorf("live=%d active=%d, want %d and %d", len(h.provider.live()), h.active(t, "alice"), tt.wantLive, tt.wantActive)
			}
			if res != nil && (res.Deleted != tt.wantDeleted || res.SandboxID == "" || res.Stdout != "hello\n") {
				t.Errorf("result = %+v", res)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	long := strings.Repeat("x", MaxCommandBytes+1)
	createTests := []struct {
		name  string
		in    CreateSandboxInput
		field string
	}{
		{"snapshot and image", CreateSandboxInput{Snapshot: "s", Image: "i"}, "image"},
		{"image with newline", CreateSandboxInput{Image: "ubuntu\nRUN curl evil"}, "image"},
		{"resources with snapshot", CreateSandboxInput{Snapshot: "s", Resources: &sandstep.Resources{CPU: 2}}, "resources"},
		{"negative cpu", CreateSandboxInput{Image: "i", Resources: &sandstep.Resources{CPU: -1}}, "resources.cpu"},
		{"env name", CreateSandboxInput{Env: map[string]string{"1BAD": "x"}}, "env.1BAD"},
		{"env name with dash", CreateSandboxInput{Env: map[string]string{"A-B": "x"}}, "env.A-B"},
		{"env larger in all than processes may carry", CreateSandboxInput{Env: bigEnv()}, "env"},
		{"secret ref scheme", CreateSandboxInput{SecretEnv: map[string]string{"T": "plain-value"}}, "secretEnv.T"},
		{"secret also in env", CreateSandboxInput{Env: map[string]string{"T": "x"}, SecretEnv: map[string]string{"T": "ssm:/a"}}, "secretEnv.T"},
		{"reserved label", CreateSandboxInput{Labels: map[string]string{"sandstep.owner": "mallory"}}, "labels.sandstep.owner"},
		{"negative autostop", CreateSandboxInput{AutoStopMinutes: intp(-1)}, "autoStopMinutes"},
		{"huge ttl", CreateSandboxInput{TTLMinutes: intp(1 << 20)}, "ttlMinutes"},
		{"zero ttl", CreateSandboxInput{TTLMinutes: intp(0)}, "ttlMinutes"},
		{"absolute file path", CreateSandboxInput{Files: []File{{Path: "/etc/passwd"}}}, "files[0].path"},
		{"escaping file path", CreateSandboxInput{Files: []File{{Path: "a/../../x"}}}, "files[0].path"},
		{"empty file path", CreateSandboxInput{Files: []File{{Path: ""}}}, "files[0].path"},
		{"reserved file path", CreateSandboxInput{Files: []File{{Path: ".sandstep/secrets.env"}}}, "files[0].path"},
		{"duplicate file path", CreateSandboxInput{Files: []File{{Path: "a"}, {Path: "./a"}}}, "files[1].path"},
		{"bad base64", CreateSandboxInput{Files: []File{{Path: "a", ContentBase64: "%%%"}}}, "files[0].contentBase64"},
		{"git without url", CreateSandboxInput{Git: &GitSource{}}, "git.url"},
		{"git bad scheme", CreateSandboxInput{Git: &GitSource{URL: "javascript:alert(1)"}}, "git.url"},
		{"git credentials in url", CreateSandboxInput{Git: &GitSource{URL: "https://u:p@h/r"}}, "git.url"},
		{"git token as the url's user", CreateSandboxInput{Git: &GitSource{URL: "https://ghp_0123456789abcdef@github.com/o/r.git"}}, "git.url"},
		{"git option injection", CreateSandboxInput{Git: &GitSource{URL: "https://h/r", Branch: "--upload-pack=x"}}, "git.branch"},
		{"git path escape", CreateSandboxInput{Git: &GitSource{URL: "https://h/r", Path: "../x"}}, "git.path"},
		{"metadata newline", CreateSandboxInput{Metadata: sandstep.Metadata{Repo: "a\nb"}}, "metadata.repo"},
		{"network CIDR", CreateSandboxInput{Network: &sandstep.NetworkPolicy{AllowList: []string{"10.0.0.0/33"}}}, "network.allowList[0]"},
		{"network domain", CreateSandboxInput{Network: &sandstep.NetworkPolicy{DomainAllowList: []string{"github.com", "git hub.com"}}}, "network.domainAllowList[1]"},
		{"network blocked and listed", CreateSandboxInput{Network: &sandstep.NetworkPolicy{BlockAll: true, DomainAllowList: []string{"github.com"}}}, "network.blockAll"},
	}
	h := newHarness(t, 3)
	for _, tt := range createTests {
		t.Run("create/"+tt.name, func(t *testing.T) {
			_, err := h.svc.CreateSandbox(context.Background(), alice(), tt.in)
			wantCode(t, err, sandstep.EINVALID)
			if f := sandstep.ErrorField(err); f != tt.field {
				t.Errorf("field = %q, want %q (%v)", f, tt.field, err)
			}
		})
	}
	if h.provider.creates != 0 || h.active(t, "alice") != 0 {
		t.Fatalf("bad input reached the provider or the quota")
	}
	sb, err := h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	execTests := []struct {
		name  string
		id    string
		in    ExecInput
		field string
	}{
		{"empty command", sb.ID, ExecInput{Command: "  "}, "command"},
		{"huge command", sb.ID, ExecInput{Command: long}, "command"},
		{"negative timeout", sb.ID, ExecInput{Command: "x", TimeoutSeconds: intp(-1)}, "timeoutSeconds"},
		{"huge timeout", sb.ID, ExecInput{Command: "x", TimeoutSeconds: intp(100000)}, "timeoutSeconds"},
		{"bad env", sb.ID, ExecInput{Command: "x", Env: map[string]string{"A B": "1"}}, "env.A B"},
		{"env larger in all than processes may carry", sb.ID, ExecInput{Command: "x", Env: bigEnv()}, "env"},
		{"cwd escape", sb.ID, ExecInput{Command: "x", Cwd: "../.."}, "cwd"},
		{"empty id", "", ExecInput{Command: "x"}, "id"},
		{"malformed id", "../../etc", ExecInput{Command: "x"}, "id"},
	}
	for _, tt := range execTests {
		t.Run("exec/"+tt.name, func(t *testing.T) {
			_, err := h.svc.Exec(context.Background(), alice(), tt.id, tt.in)
			wantCode(t, err, sandstep.EINVALID)
			if f := sandstep.ErrorField(err); f != tt.field {
				t.Errorf("field = %q, want %q (%v)", f, tt.field, err)
			}
		})
	}
	if n := len(h.provider.execs); n != 0 {
		t.Errorf("bad exec input reached the provider %d times", n)
	}
	_, err = h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{SecretEnv: map[string]string{"T": "ssm:/sandstep/secrets/users/alice/missing"}})
	wantCode(t, err, sandstep.EINVALID)
	if f := sandstep.ErrorField(err); f != "secretEnv.T" {
		t.Errorf("unresolvable secret field = %q", f)
	}
	if h.active(t, "alice") != 1 {
		t.Errorf("an unresolvable secret took a slot")
	}
}

// bigEnv is an env each of whose values is within MaxEnvValueBytes and
// which holds more than MaxEnvBytes in all.
func bigEnv() map[string]string {
	env := map[string]string{}
	for i := 0; i*MaxEnvValueBytes <= MaxEnvBytes; i++ {
		env["V"+strconv.Itoa(i)] = strings.Repeat("x", MaxEnvValueBytes)
	}
	return env
}
