package service

import (
	"cmp"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// fakeRepoAccess mints numbered tokens and keeps what was asked of it.
type fakeRepoAccess struct {
	mu      sync.Mutex
	minted  []string // "read" or "push", in order
	revoked []string
	pulls   []string // "head->base: title"
	life    time.Duration
	now     func() time.Time
	// limit, when set, is asked first by every call ("read", "push",
	// "pull"); an error it answers is the call's.
	limit func(op string) error
	asked map[string][]time.Time // the calls limit was asked for, by op
}

func (f *fakeRepoAccess) limited(op string) error {
	f.mu.Lock()
	limit := f.limit
	if limit == nil {
		f.mu.Unlock()
		return nil
	}
	if f.asked == nil {
		f.asked = map[string][]time.Time{}
	}
	f.asked[op] = append(f.asked[op], time.Now())
	f.mu.Unlock()
	// Unlocked: a limit may act on the task (a cancel), which revokes.
	return limit(op)
}

func (f *fakeRepoAccess) mint(kind string) RepoToken {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.minted = append(f.minted, kind)
	return RepoToken{Value: "ghs_" + kind + "_SECRET_" + string(rune('a'+len(f.minted))), ExpiresAt: f.now().Add(f.life), Settled: f.now().Add(5 * time.Second)}
}

func (f *fakeRepoAccess) ReadToken(context.Context, int64, string) (RepoToken, error) {
	if err := f.limited("read"); err != nil {
		return RepoToken{}, err
	}
	return f.mint("read"), nil
}

func (f *fakeRepoAccess) PushToken(context.Context, int64, string) (RepoToken, error) {
	if err := f.limited("push"); err != nil {
		return RepoToken{}, err
	}
	return f.mint("push"), nil
}

func (f *fakeRepoAccess) Revoke(_ context.Context, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = append(f.revoked, token)
	return nil
}

func (f *fakeRepoAccess) OpenPullRequest(_ context.Context, _ int64, _, head, base, title, _ string) (string, error) {
	if err := f.limited("pull"); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pulls = append(f.pulls, head+"->"+base+": "+title)
	return "https://github.test/octo/hello/pull/1", nil
}

// diskProvider is shellProvider whose uploads are files in its directory,
// as in a sandbox, and which keeps every command line it ran.
type diskProvider struct {
	*shellProvider
	lines []string
}

func (p *diskProvider) Upload(ctx context.Context, id string, files []UploadFile) error {
	if err := p.shellProvider.Upload(ctx, id, files); err != nil {
		return err
	}
	for _, f := range files {
		path := filepath.Join(p.dir, f.Path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, f.Content, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (p *diskProvider) Exec(ctx context.Context, id string, cmd Command) (*ExecResult, error) {
	p.mu.Lock()
	p.lines = append(p.lines, cmd.Line)
	p.mu.Unlock()
	return p.shellProvider.Exec(ctx, id, cmd)
}

// repoHarness is an issue's task whose sandbox is a directory holding a
// clone of a bare repository standing for GitHub's.
type repoHarness struct {
	svc      *Service
	store    *store.Store
	provider *diskProvider
	access   *fakeRepoAccess
	clock    *settableClock
	origin   string // the bare repository
	clone    string // the agent's clone, in the sandbox
	task     *sandstep.Task
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	c := exec.Command("git", append([]string{"-c", "user.name=agent", "-c", "user.email=agent@example.test", "-c", "init.defaultBranch=main"}, args...)...)
	c.Dir = dir
	c.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func newRepoHarness(t *testing.T) *repoHarness {
	t.Helper()
	return newRepoHarnessWith(t, nil)
}

// newRepoHarnessWith is newRepoHarness whose GitHub is set by github
// before the task's sandbox is made.
func newRepoHarnessWith(t *testing.T, github func(*fakeRepoAccess)) *repoHarness {
	t.Helper()
	return newRepoHarnessSpec(t, github, nil)
}

// newRepoHarnessSpec is newRepoHarnessWith whose task's spec is edited by
// edit (nil: none) before it starts.
func newRepoHarnessSpec(t *testing.T, github func(*fakeRepoAccess), edit func(*TaskInput)) *repoHarness {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5, Now: clk.Now})
	p := &diskProvider{shellProvider: &shellProvider{fakeProvider: newFakeProvider(), dir: t.TempDir()}}
	access := &fakeRepoAccess{life: time.Hour, now: clk.Now}
	if github != nil {
		github(access)
	}
	svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
		Tasks: st, Objects: newFakeObjects(), Machine: fakeMachine{}, Sessions: &shellSessions{dir: p.dir}, RepoAccess: access},
		Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	h := &repoHarness{svc: svc, store: st, provider: p, access: access, clock: clk}

	// GitHub's repository, with one commit on main.
	h.origin = filepath.Join(t.TempDir(), "hello.git")
	seed := t.TempDir()
	git(t, seed, "init", "-q")
	git(t, seed, "commit", "-q", "--allow-empty", "-m", "first")
	git(t, seed, "clone", "-q", "--bare", seed, h.origin)

	ctx := context.Background()
	spec := TaskInput{Command: "true", TimeoutSeconds: intp(3 * 3600)}
	if edit != nil {
		edit(&spec)
	}
	ev := IssueEvent{Repo: "octo/hello", InstallationID: 7, Issue: 3, Title: "Fix the $(reboot) bug", CloneURL: "file://" + h.origin, DefaultBranch: "main"}
	if err := issueSpec(&spec, ev); err != nil {
		t.Fatal(err)
	}
	tk, err := svc.StartTask(ctx, Call{UserID: sandstep.RepoUser(ev.Repo), RequestID: "delivery-1"}, spec)
	if err != nil {
		t.Fatalf("StartTask: %v", err)
	}
	h.task = tk
	step, err := svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: tk.Owner})
	if err != nil {
		t.Fatalf("CreateTaskSandbox: %v", err)
	}
	// What Daytona's clone did, in the sandbox's directory.
	h.clone = filepath.Join(p.dir, "hello")
	git(t, p.dir, "clone", "-q", h.origin, h.clone)
	if _, err := svc.StartTaskCommand(ctx, *step); err != nil {
		t.Fatalf("StartTaskCommand: %v", err)
	}
	h.task = h.record(t)
	return h
}

func (h *repoHarness) record(t *testing.T) *sandstep.Task {
	t.Helper()
	tk, err := h.store.GetTask(context.Background(), h.task.ID)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// exit records the command's exit and collects, as the state machine does.
func (h *repoHarness) exit(t *testing.T, code int) *sandstep.Task {
	t.Helper()
	ctx := context.Background()
	if err := h.svc.recordExit(ctx, h.task, code); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.CollectTask(ctx, TaskStep{TaskID: h.task.ID, UserID: h.task.Owner, SandboxID: h.task.SandboxID}); err != nil {
		t.Fatalf("CollectTask: %v", err)
	}
	return h.record(t)
}

// The agent gets a token that can only read: the clone's credential and
// a file its own git reads, never in a command line; it is replaced before
// it expires.
func TestIssueTaskReadToken(t *testing.T) {
	h := newRepoHarness(t)
	clones := h.provider.clones
	if len(clones) != 1 || clones[0].Password != "ghs_read_SECRET_b" || clones[0].URL != "file://"+h.origin || clones[0].Branch != "main" {
		t.Fatalf("clones = %+v, want one of %s at main with the read token", clones, h.origin)
	}
	cred, err := os.ReadFile(filepath.Join(h.provider.dir, readCredential))
	if err != nil || !strings.Contains(string(cred), "password=ghs_read_SECRET_b") {
		t.Fatalf("credential file = %q, %v", cred, err)
	}
	if h.task.TokenExpiresAt == nil || !h.task.TokenExpiresAt.Equal(h.clock.Now().Add(time.Hour)) {
		t.Errorf("TokenExpiresAt = %v", h.task.TokenExpiresAt)
	}
	// The watch's wait ends in time to replace it.
	step := h.svc.nextWait(h.task, TaskStep{})
	if max := int((time.Hour - refreshAhead) / time.Second); step.WaitSeconds > max {
		t.Errorf("wait %d s, past the token's refresh at %d s", step.WaitSeconds, max)
	}
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		advance time.Duration
		minted  int
	}{
		{"fresh: kept", 10 * time.Minute, 1},
		{"about to expire: replaced", 45 * time.Minute, 2},
	} {
		h.clock.Set(h.clock.Now().Add(c.advance))
		if _, err := h.svc.CheckTask(ctx, TaskStep{TaskID: h.task.ID, UserID: h.task.Owner}); err != nil {
			t.Fatalf("%s: CheckTask: %v", c.name, err)
		}
		if got := len(h.access.minted); got != c.minted {
			t.Errorf("%s: %d tokens minted, want %d", c.name, got, c.minted)
		}
	}
	cred, _ = os.ReadFile(filepath.Join(h.provider.dir, readCredential))
	if !strings.Contains(string(cred), "ghs_read_SECRET_c") {
		t.Errorf("the credential file was not replaced: %q", cred)
	}
	if got := h.record(t).TokenExpiresAt; got == nil || !got.Equal(h.clock.Now().Add(time.Hour)) {
		t.Errorf("TokenExpiresAt after the refresh = %v", got)
	}
	h.noTokenInLines(t)
}

// A refresh that fails is tried again later and later, never at the
// watch's next second; one GitHub will not mint again is no longer asked
// for; a token minted for a refresh that failed is revoked. Over two
// hours of the watch, every minute would be 120 looks.
func TestIssueTaskRefreshThatFails(t *testing.T) {
	tests := []struct {
		name    string
		refusal error // GitHub's, to every token
		// sabotage is what the agent did to the credential file.
		sabotage  bool
		maxAsked  int // GitHub, over the two hours
		maxLooks  int
		stopped   bool // the refresh given up: no expiry in the record
		allRevoke bool // every token minted, revoked
	}{
		{name: "GitHub's rate limit", refusal: gitHubLimit(time.Hour), maxAsked: 20, maxLooks: 20},
		{name: "GitHub unavailable", refusal: sandstep.Errorf(sandstep.ETRANSIENT, "GitHub is unavailable"), maxAsked: 20, maxLooks: 20},
		{name: "the App uninstalled", refusal: sandstep.Errorf(sandstep.ENOTFOUND, "not found at GitHub"), maxAsked: 1, maxLooks: 20, stopped: true},
		{name: "the installation suspended", refusal: sandstep.Errorf(sandstep.EUNAUTHENTICATED, "GitHub forbids it: This installation has been suspended"), maxAsked: 20, maxLooks: 20},
		{name: "the credential file made a directory", sabotage: true, maxAsked: 20, maxLooks: 20, allRevoke: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			h.access.limit = func(op string) error { return tt.refusal }
			if tt.sabotage {
				path := filepath.Join(h.provider.dir, readCredential)
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Join(path, "x"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			// Due since 4 minutes; watched for two of the task's three hours.
			h.clock.Set(h.clock.Now().Add(55 * time.Minute))
			end := h.clock.Now().Add(2 * time.Hour)
			looks := 0
			for ; h.clock.Now().Before(end); looks++ {
				step, err := h.svc.CheckTask(context.Background(), TaskStep{TaskID: h.task.ID, UserID: h.task.Owner})
				if err != nil {
					t.Fatalf("CheckTask: %v", err)
				}
				if step.Ended || step.WaitSeconds < int(refreshRetry/time.Second) {
					t.Fatalf("look %d: the next in %d s, want at least %v", looks, step.WaitSeconds, refreshRetry)
				}
				h.clock.Set(h.clock.Now().Add(time.Duration(step.WaitSeconds) * time.Second))
			}
			asked := len(h.access.asked["read"])
			t.Logf("GitHub asked %d times in %d looks", asked, looks)
			if asked > tt.maxAsked || looks > tt.maxLooks {
				t.Errorf("GitHub asked %d times in %d looks over two hours, want at most %d in %d", asked, looks, tt.maxAsked, tt.maxLooks)
			}
			got := h.record(t)
			if got.Status != sandstep.TaskRunning {
				t.Errorf("task %s (%s), want still running", got.Status, got.Error)
			}
			if stopped := got.TokenExpiresAt == nil; stopped != tt.stopped {
				t.Errorf("the refresh given up: %v, want %v", stopped, tt.stopped)
			}
			minted := len(h.access.minted) - 1 // the clone's
			if tt.allRevoke && (minted == 0 || len(h.access.revoked) != minted) {
				t.Errorf("%d tokens minted for a refresh, %d revoked; want every one revoked", minted, len(h.access.revoked))
			}
		})
	}
}

// noTokenInLines fails when a token reached a command line.
func (h *repoHarness) noTokenInLines(t *testing.T) {
	t.Helper()
	h.provider.mu.Lock()
	defer h.provider.mu.Unlock()
	for _, l := range h.provider.lines {
		if strings.Contains(l, "ghs_") {
			t.Errorf("a token is in a command line: %q", l)
		}
	}
}

// After the command ends, the agent's commits reach sandstep/<taskId>
// (never the default branch) with a token only the push held, and become
// a pull request.
func TestIssueTaskPullRequest(t *testing.T) {
	tests := []struct {
		name string
		// agent does the agent's work in its clone.
		agent    func(t *testing.T, h *repoHarness)
		exit     int
		status   sandstep.TaskStatus
		pushed   bool
		pull     string
		errorHas string
	}{
		{
			name:   "commits become a pull request",
			agent:  func(t *testing.T, h *repoHarness) { git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix") },
			status: sandstep.TaskSucceeded, pushed: true, pull: "https://github.test/octo/hello/pull/1",
		},
		{
			name:   "nothing committed: no pull request",
			agent:  func(t *testing.T, h *repoHarness) {},
			status: sandstep.TaskSucceeded,
		},
		{
			name:   "a failed command pushes nothing",
			agent:  func(t *testing.T, h *repoHarness) { git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "half") },
			exit:   2,
			status: sandstep.TaskFailed, errorHas: "exited with 2",
		},
		{
			name: "the agent's hooks and remotes are not used",
			agent: func(t *testing.T, h *repoHarness) {
				git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
				hooks := filepath.Join(h.clone, "evil-hooks")
				if err := os.MkdirAll(hooks, 0o755); err != nil {
					t.Fatal(err)
				}
				for _, hook := range []string{"pre-push", "reference-transaction", "post-checkout"} {
					script := "#!/bin/sh\ntouch " + filepath.Join(h.provider.dir, "hooked") + "\n"
					if err := os.WriteFile(filepath.Join(hooks, hook), []byte(script), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				git(t, h.clone, "config", "core.hooksPath", hooks)
				git(t, h.clone, "config", "url./nonexistent/.insteadOf", h.origin)
				git(t, h.clone, "config", "remote.origin.url", "/nonexistent/evil.git")
			},
			status: sandstep.TaskSucceeded, pushed: true, pull: "https://github.test/octo/hello/pull/1",
		},
		{
			// The branch exists at GitHub with other commits: sandstep
			// never forces a push.
			name: "a refused push fails the task",
			agent: func(t *testing.T, h *repoHarness) {
				git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
				other := filepath.Join(t.TempDir(), "other")
				git(t, filepath.Dir(other), "clone", "-q", h.origin, other)
				git(t, other, "commit", "-q", "--allow-empty", "-m", "someone else's")
				git(t, other, "push", "-q", "origin", "HEAD:refs/heads/"+PushBranch(h.task.ID))
			},
			status: sandstep.TaskFailed, errorHas: "rejected",
		},
		// Whether the agent committed is judged against the base as the
		// agent's clone last saw it: its own fetches move that.
		{
			name:   "main moved, nothing fetched or committed: no pull request",
			agent:  func(t *testing.T, h *repoHarness) { mergedMeanwhile(t, h) },
			status: sandstep.TaskSucceeded,
		},
		{
			name: "main moved, the agent fetched and committed nothing: no pull request",
			agent: func(t *testing.T, h *repoHarness) {
				mergedMeanwhile(t, h)
				git(t, h.clone, "fetch", "-q", "origin")
			},
			status: sandstep.TaskSucceeded,
		},
		{
			name: "main moved, the agent pulled and committed nothing: no pull request",
			agent: func(t *testing.T, h *repoHarness) {
				mergedMeanwhile(t, h)
				git(t, h.clone, "pull", "-q", "--ff-only")
			},
			status: sandstep.TaskSucceeded,
		},
		{
			name: "the agent commits, then fetches a moved main: pushed",
			agent: func(t *testing.T, h *repoHarness) {
				git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
				mergedMeanwhile(t, h)
				git(t, h.clone, "fetch", "-q", "origin")
			},
			status: sandstep.TaskSucceeded, pushed: true, pull: "https://github.test/octo/hello/pull/1",
		},
		{
			name: "the agent rebases its commits on a moved main: pushed",
			agent: func(t *testing.T, h *repoHarness) {
				git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
				mergedMeanwhile(t, h)
				git(t, h.clone, "pull", "-q", "--rebase")
			},
			status: sandstep.TaskSucceeded, pushed: true, pull: "https://github.test/octo/hello/pull/1",
		},
		// A shallow fetch cuts the ancestry walk to the moved base, and a
		// force-push takes the clone's commit off it: HEAD where the clone
		// started is nothing committed all the same.
		{
			name: "main moved, the agent fetched shallowly and committed nothing: no pull request",
			agent: func(t *testing.T, h *repoHarness) {
				mergedMeanwhile(t, h)
				git(t, h.clone, "fetch", "-q", "--depth=1", "file://"+h.origin, "+main:refs/remotes/origin/main")
			},
			status: sandstep.TaskSucceeded,
		},
		{
			name: "main force-pushed, the agent fetched and committed nothing: no pull request",
			agent: func(t *testing.T, h *repoHarness) {
				forcePushed(t, h)
				git(t, h.clone, "fetch", "-q", "origin")
			},
			status: sandstep.TaskSucceeded,
		},
		{
			name: "the agent commits, then fetches a moved main shallowly: pushed",
			agent: func(t *testing.T, h *repoHarness) {
				git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
				mergedMeanwhile(t, h)
				git(t, h.clone, "fetch", "-q", "--depth=1", "file://"+h.origin, "+main:refs/remotes/origin/main")
			},
			status: sandstep.TaskSucceeded, pushed: true, pull: "https://github.test/octo/hello/pull/1",
		},
		{
			name: "the agent commits on a force-pushed main: pushed",
			agent: func(t *testing.T, h *repoHarness) {
				forcePushed(t, h)
				git(t, h.clone, "fetch", "-q", "origin")
				git(t, h.clone, "reset", "-q", "--hard", "origin/main")
				git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
			},
			status: sandstep.TaskSucceeded, pushed: true, pull: "https://github.test/octo/hello/pull/1",
		},
		{
			// A start asked again runs the line after the agent's commits.
			name: "the start's line run again keeps the clone's commit: pushed",
			agent: func(t *testing.T, h *repoHarness) {
				git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
				sh(t, h.provider.dir, startHeadLine("hello"))
			},
			status: sandstep.TaskSucceeded, pushed: true, pull: "https://github.test/octo/hello/pull/1",
		},
		{
			// Only an object name is read from the agent-writable file.
			name: "the clone's commit rewritten to a ref name is not read: pushed",
			agent: func(t *testing.T, h *repoHarness) {
				git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
				if err := os.WriteFile(filepath.Join(h.provider.dir, startHead), []byte("HEAD\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			status: sandstep.TaskSucceeded, pushed: true, pull: "https://github.test/octo/hello/pull/1",
		},
		{
			name:   "detached HEAD, nothing committed: no pull request",
			agent:  func(t *testing.T, h *repoHarness) { git(t, h.clone, "checkout", "-q", "--detach") },
			status: sandstep.TaskSucceeded,
		},
		{
			name: "detached HEAD with a commit: pushed",
			agent: func(t *testing.T, h *repoHarness) {
				git(t, h.clone, "checkout", "-q", "--detach")
				git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
			},
			status: sandstep.TaskSucceeded, pushed: true, pull: "https://github.test/octo/hello/pull/1",
		},
		{
			// With no base to compare with, the commits are pushed rather
			// than lost.
			name: "the base ref is gone: pushed",
			agent: func(t *testing.T, h *repoHarness) {
				git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
				git(t, h.clone, "remote", "remove", "origin")
			},
			status: sandstep.TaskSucceeded, pushed: true, pull: "https://github.test/octo/hello/pull/1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			tt.agent(t, h)
			head := git(t, h.clone, "rev-parse", "HEAD")
			mainBefore := git(t, h.origin, "rev-parse", "main")
			got := h.exit(t, tt.exit)

			if got.Status != tt.status || got.PullRequest != tt.pull || !strings.Contains(got.Error, tt.errorHas) {
				t.Errorf("task %s, pull %q, error %q; want %s, %q, error with %q", got.Status, got.PullRequest, got.Error, tt.status, tt.pull, tt.errorHas)
			}
			branch := PushBranch(h.task.ID)
			c := exec.Command("git", "rev-parse", "--verify", "-q", "refs/heads/"+branch)
			c.Dir = h.origin
			out, _ := c.Output()
			if gotPushed := strings.TrimSpace(string(out)) == head; gotPushed != tt.pushed {
				t.Errorf("%s at GitHub: %q, want the agent's %s: %v", branch, out, head, tt.pushed)
			}
			if after := git(t, h.origin, "rev-parse", "main"); after != mainBefore {
				t.Errorf("the default branch moved: %s -> %s", mainBefore, after)
			}
			pushTokens := 0
			for _, k := range h.access.minted {
				if k == "push" {
					pushTokens++
				}
			}
			if pushTokens != len(h.access.revoked) {
				t.Errorf("%d push tokens minted, %d revoked", pushTokens, len(h.access.revoked))
			}
			if tt.pull != "" && (len(h.access.pulls) != 1 || h.access.pulls[0] != branch+"->main: sandstep: #3 Fix the $(reboot) bug") {
				t.Errorf("pull requests = %q", h.access.pulls)
			}
			if tt.pull == "" && len(h.access.pulls) != 0 {
				t.Errorf("pull requests = %q, want none", h.access.pulls)
			}
			if _, err := os.Stat(filepath.Join(h.provider.dir, pushCredential)); !os.IsNotExist(err) {
				t.Errorf("the push credential is still in the sandbox: %v", err)
			}
			if _, err := os.Stat(filepath.Join(h.provider.dir, "hooked")); !os.IsNotExist(err) {
				t.Error("a hook of the agent's ran")
			}
			h.noTokenInLines(t)
		})
	}
}

// mergedMeanwhile is someone else's commit merged to main at GitHub while
// the agent works.
func mergedMeanwhile(t *testing.T, h *repoHarness) {
	t.Helper()
	other := filepath.Join(t.TempDir(), "other")
	git(t, filepath.Dir(other), "clone", "-q", h.origin, other)
	git(t, other, "commit", "-q", "--allow-empty", "-m", "merged meanwhile")
	git(t, other, "push", "-q", "origin", "HEAD:main")
}

// forcePushed is main replaced at GitHub by a history without the
// clone's commit.
func forcePushed(t *testing.T, h *repoHarness) {
	t.Helper()
	other := filepath.Join(t.TempDir(), "other")
	git(t, filepath.Dir(other), "clone", "-q", h.origin, other)
	git(t, other, "commit", "-q", "--amend", "--allow-empty", "-m", "rewritten")
	git(t, other, "push", "-q", "--force", "origin", "HEAD:main")
}

func sh(t *testing.T, dir, line string) {
	t.Helper()
	c := exec.Command("/bin/sh", "-c", line)
	c.Dir = dir
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
}

// Every process the agent's command started is gone before the push
// token enters the sandbox, however it detached.
func TestIssueTaskPushKillsLeftovers(t *testing.T) {
	h := newRepoHarness(t)
	git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
	left := exec.Command("setsid", "sleep", "300")
	left.Env = append(os.Environ(), taskMark(h.task.ID))
	if err := left.Start(); err != nil {
		t.Skipf("cannot start a detached process: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- left.Wait() }()
	t.Cleanup(func() { _ = left.Process.Kill() })
	other := exec.Command("sleep", "300") // not the task's
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	otherDone := make(chan error, 1)
	go func() { otherDone <- other.Wait() }()
	t.Cleanup(func() { _ = other.Process.Kill() })

	if got := h.exit(t, 0); got.Status != sandstep.TaskSucceeded {
		t.Fatalf("task %s: %s", got.Status, got.Error)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the task's leftover process still runs after the push")
	}
	select {
	case err := <-otherDone:
		t.Errorf("a process not the task's was killed: %v", err)
	default:
	}
}

// A caller's own task that names a repository, an installation and an
// issue in its metadata (which any caller may write) is not an issue's
// task: no token of the App is minted for it, nothing is cloned with one,
// and the issue is not commented on.
func TestAUserTaskNeverActsAsTheApp(t *testing.T) {
	clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5, Now: clk.Now})
	p := &diskProvider{shellProvider: &shellProvider{fakeProvider: newFakeProvider(), dir: t.TempDir()}}
	access := &fakeRepoAccess{life: time.Hour, now: clk.Now}
	comments := &fakeComments{}
	svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
		Tasks: st, Objects: newFakeObjects(), Machine: fakeMachine{}, Sessions: fakeSessions{}, RepoAccess: access, Comments: comments},
		Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	spec := TaskInput{Command: "true", Sandbox: CreateSandboxInput{Git: &GitSource{URL: "https://evil.example/r.git"}},
		Metadata: sandstep.Metadata{Repo: "octo/private", InstallationID: "7", IssueID: "1"}}
	_, step := taskWithSandbox(t, svc, spec)
	if _, err := svc.StartTaskCommand(ctx, *step); err != nil {
		t.Fatal(err)
	}
	if len(access.minted) != 0 || len(comments.bodies) != 0 {
		t.Errorf("alice's task minted %v and commented %v: it acted as the App", access.minted, comments.bodies)
	}
	for _, c := range p.clones {
		if c.Password != "" {
			t.Errorf("alice's clone was given a token: %+v", c)
		}
	}
}

// pushThief is what an agent that wants the push token plants: its work
// committed, and a script that copies the push credential to a file; it
// returns the git configuration that would run the script in the push
// (a url rewrite to a transport running it) and checks, once the task has
// ended, that it never ran and the push was made.
func pushThief(t *testing.T, h *repoHarness) (evil string, check func(*sandstep.Task)) {
	t.Helper()
	stolen := filepath.Join(t.TempDir(), "stolen")
	git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
	thief := filepath.Join(h.provider.dir, ".thief")
	if err := os.WriteFile(thief, []byte("#!/bin/sh\ncat \"$SANDSTEP_PUSH_CREDENTIAL\" > "+stolen+"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	evil = "[protocol \"ext\"]\n\tallow = always\n[url \"ext::" + thief + "\"]\n\tinsteadOf = file://" + h.origin + "\n"
	return evil, func(got *sandstep.Task) {
		t.Helper()
		if data, err := os.ReadFile(stolen); err == nil {
			t.Errorf("the agent's script ran in the push, which read its token: %q", strings.TrimSpace(string(data)))
		}
		if got.PullRequest == "" {
			t.Errorf("task %s (%s): want the push made and the pull request opened", got.Status, got.Error)
		}
	}
}

// The agent's own git configuration cannot reach the push: a hook its
// ~/.gitconfig names, which would run while sandstep makes its bare
// repository and write a url rewrite to a transport running the agent's
// script there, never runs, and the push reads no such rewrite.
func TestIssueTaskPushReadsNoAgentConfig(t *testing.T) {
	h := newRepoHarness(t)
	home := h.provider.dir // the sandbox user's home: where the clone is
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	evil, check := pushThief(t, h)
	hooks := filepath.Join(home, ".hooks")
	if err := os.MkdirAll(hooks, 0o755); err != nil {
		t.Fatal(err)
	}
	stageConf := filepath.Join(home, stageDir, "config")
	if err := os.WriteFile(filepath.Join(home, ".evilconfig"), []byte(evil), 0o644); err != nil {
		t.Fatal(err)
	}
	hook := "#!/bin/sh\n[ -f " + stageConf + " ] && ! grep -q thief " + stageConf + " && cat " + filepath.Join(home, ".evilconfig") + " >> " + stageConf + "\nexit 0\n"
	if err := os.WriteFile(filepath.Join(hooks, "reference-transaction"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[core]\n\thooksPath = "+hooks+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	check(h.exit(t, 0))
}

// What wrote to sandstep's bare repository after it was made (a process
// the kill missed) is gone by the push, and the push speaks only its
// URL's transport.
func TestIssueTaskPushRewritesItsConfig(t *testing.T) {
	h := newRepoHarness(t)
	evil, check := pushThief(t, h)
	h.provider.after = func(_ int, res *ExecResult) error {
		if strings.HasPrefix(strings.TrimSpace(res.Stdout), pushedPrefix) { // staged
			f, err := os.OpenFile(filepath.Join(h.provider.dir, stageDir, "config"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteString(evil)
			return err
		}
		return nil
	}
	check(h.exit(t, 0))
}

// A push that cannot reach GitHub is transient: the collect fails for the
// state machine to ask again, the task still running, and the next try
// pushes and opens the pull request.
func TestIssueTaskPushThatDoesNotReachGitHub(t *testing.T) {
	h := newRepoHarness(t)
	git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
	away := h.origin + ".away"
	h.provider.after = func(_ int, res *ExecResult) error {
		if strings.HasPrefix(strings.TrimSpace(res.Stdout), pushedPrefix) { // staged: GitHub goes away
			h.provider.after = nil
			return os.Rename(h.origin, away)
		}
		return nil
	}
	ctx := context.Background()
	if err := h.svc.recordExit(ctx, h.task, 0); err != nil {
		t.Fatal(err)
	}
	step := TaskStep{TaskID: h.task.ID, UserID: h.task.Owner, SandboxID: h.task.SandboxID}
	if _, err := h.svc.CollectTask(ctx, step); sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
		t.Fatalf("collect with GitHub away = %v, want a transient failure", err)
	}
	if got := h.record(t); got.Status != sandstep.TaskRunning {
		t.Fatalf("task %s (%s), want still running for the next try", got.Status, got.Error)
	}
	if err := os.Rename(away, h.origin); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.CollectTask(ctx, step); err != nil {
		t.Fatalf("collect again: %v", err)
	}
	if got := h.record(t); got.Status != sandstep.TaskSucceeded || got.PullRequest == "" {
		t.Errorf("task %s, pull %q (%s); want succeeded with its pull request", got.Status, got.PullRequest, got.Error)
	}
}

// gitHubLimit is GitHub's refusal for its rate limit, asking for wait.
func gitHubLimit(wait time.Duration) error {
	e := sandstep.Errorf(sandstep.ETRANSIENT, "GitHub's secondary rate limit; try again later")
	e.RetryAfter = wait
	return e
}

// A step GitHub refuses for its rate limit waits the refusal out and asks
// again, while its deadline leaves time: the state machine's retries,
// seconds apart, would ask again before the limit lifts and give up.
func TestIssueTaskWaitsOutGitHubsRateLimit(t *testing.T) {
	const wait = 150 * time.Millisecond
	tests := []struct {
		name     string
		op       string        // the call GitHub refuses
		refusals int           // how many times, each asking for wait
		deadline time.Duration // of the step; 0 for none
		wait     time.Duration // what GitHub asks for; 0 for the test's
		asked    int           // calls of op
		ok       bool
	}{
		{name: "the pull request, once", op: "pull", refusals: 1, asked: 2, ok: true},
		{name: "the push token, twice", op: "push", refusals: 2, asked: 3, ok: true},
		{name: "the clone's token, once", op: "read", refusals: 1, asked: 2, ok: true},
		{name: "a limit that lasts is left to the state machine", op: "pull", refusals: 100, asked: 1 + githubWaits},
		{name: "no time left to wait", op: "pull", refusals: 1, deadline: githubWaitFloor, asked: 1},
		{name: "no time left to wait and push", op: "push", refusals: 1, deadline: pushWaitFloor, asked: 1},
		{name: "a wait too long for a step", op: "pull", refusals: 1, wait: maxGitHubWait + time.Second, asked: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			left := tt.refusals
			limit := func(op string) error {
				if op != tt.op || left == 0 {
					return nil
				}
				left--
				return gitHubLimit(cmp.Or(tt.wait, wait))
			}
			// The clone's token is minted as the harness makes the sandbox.
			h := newRepoHarnessWith(t, func(a *fakeRepoAccess) {
				if tt.op == "read" {
					a.limit = limit
				}
			})
			h.access.limit = limit
			git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			var err error
			if tt.op != "read" {
				if err := h.svc.recordExit(ctx, h.task, 0); err != nil {
					t.Fatal(err)
				}
				_, err = h.svc.CollectTask(ctx, TaskStep{TaskID: h.task.ID, UserID: h.task.Owner, SandboxID: h.task.SandboxID})
			}
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want success %v", err, tt.ok)
			}
			if err != nil && sandstep.ErrorRetryAfter(err) != cmp.Or(tt.wait, wait) {
				t.Errorf("err = %v, want GitHub's refusal with its wait for the state machine", err)
			}
			asked := h.access.asked[tt.op]
			if len(asked) != tt.asked {
				t.Fatalf("GitHub asked %d times for %s, want %d", len(asked), tt.op, tt.asked)
			}
			for i := 1; i < len(asked); i++ {
				if gap := asked[i].Sub(asked[i-1]); gap < wait {
					t.Errorf("asked again %v after a refusal asking for %v", gap, wait)
				}
			}
			if tt.op == "read" {
				if got := h.record(t); got.Status != sandstep.TaskRunning || got.TokenExpiresAt == nil {
					t.Errorf("task %s, token expiring %v; want running with its token", got.Status, got.TokenExpiresAt)
				}
			} else {
				want := sandstep.TaskRunning // for the state machine's next try
				if tt.ok {
					want = sandstep.TaskSucceeded
				}
				if got := h.record(t); got.Status != want {
					t.Errorf("task %s (%s), want %s", got.Status, got.Error, want)
				}
			}
		})
	}
}
