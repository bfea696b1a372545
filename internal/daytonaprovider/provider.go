// Package daytonaprovider runs sandstep's sandboxes on Daytona: it adapts
// the typed Daytona client (internal/daytona) to the provider interface the
// service consumes (service.Provider) and classifies Daytona's errors into
// sandstep's error codes — once, here.
package daytonaprovider

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// Options tune the adapter; zero values take the defaults.
type Options struct {
	// Target is the Daytona region for new sandboxes ("" = organisation default).
	Target string
	// SyncExecLimit is the longest command timeout run as one synchronous
	// session exec. Longer commands run asynchronously and are polled,
	// because proxies cut idle HTTP requests at about 60 s. Default 45s.
	SyncExecLimit time.Duration
	// MaxPollInterval caps the pause between polls of a long command's
	// status or of a restarting sandbox's state. Default 2s.
	MaxPollInterval time.Duration
	// CleanupTimeout bounds deleting a session after a command. Default 10s.
	CleanupTimeout time.Duration
	// StartTimeout bounds starting again a sandbox Daytona stopped, before
	// a toolbox call is made once more (the caller's own deadline bounds
	// it too). Default 60s, the wait Daytona's SDKs give a start.
	StartTimeout time.Duration
}

// firstPoll is the first pause of a poll; pauses double up to
// Options.MaxPollInterval.
const firstPoll = 50 * time.Millisecond

// Provider implements service.Provider on a Daytona client.
type Provider struct {
	c    *daytona.Client
	opts Options
}

var _ service.Provider = (*Provider)(nil)

// New returns a Provider using c for every call.
func New(c *daytona.Client, opts Options) *Provider {
	if opts.SyncExecLimit <= 0 {
		opts.SyncExecLimit = 45 * time.Second
	}
	if opts.MaxPollInterval <= 0 {
		opts.MaxPollInterval = 2 * time.Second
	}
	if opts.CleanupTimeout <= 0 {
		opts.CleanupTimeout = 10 * time.Second
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	return &Provider{c: c, opts: opts}
}

// Create creates the sandbox named spec.Name and waits until it started.
// The client finds a sandbox an ambiguous failure may have made by its
// name, and deletes one that never started (unless Daytona refuses while
// it is still changing state: the reaper deletes it later).
func (p *Provider) Create(ctx context.Context, spec service.ProviderSpec) (*service.ProviderSandbox, error) {
	params := daytona.CreateSandboxParams{
		Name:             spec.Name,
		Snapshot:         spec.Snapshot,
		Image:            spec.Image,
		Env:              spec.Env,
		Labels:           spec.Labels,
		Target:           p.opts.Target,
		AutoStopInterval: &spec.AutoStopMinutes,
		TTLMinutes:       &spec.TTLMinutes,
	}
	if r := spec.Resources; r != nil {
		params.Resources = &daytona.Resources{CPU: r.CPU, MemoryGiB: r.MemoryGiB, DiskGiB: r.DiskGiB}
	}
	if n := spec.Network; n != nil {
		params.NetworkBlockAll, params.NetworkAllowList, params.DomainAllowList = n.BlockAll, n.AllowList, n.DomainAllowList
	}
	if spent := spec.CreatesSpent; spent != nil {
		params.Budget = func(b daytona.RateBudget) {
			if b.Spent() {
				spent(b.ResetAt)
			}
		}
	}
	sb, err := p.c.CreateSandboxAndWait(ctx, params)
	if err != nil {
		return nil, sizeField(classify("create sandbox", err), spec)
	}
	ps := &service.ProviderSandbox{ID: sb.ID, Name: sb.Name, State: string(sb.State), ToolboxURL: sb.ToolboxProxyURL}
	if sb.CPU > 0 || sb.Memory > 0 || sb.Disk > 0 {
		// Whole units, as Daytona sizes and prices them; 0 where it did
		// not say.
		ps.Size = &sandstep.Resources{CPU: int(math.Ceil(sb.CPU)), MemoryGiB: int(math.Ceil(sb.Memory)), DiskGiB: int(math.Ceil(sb.Disk))}
	}
	return ps, nil
}

// Get returns the sandbox's current state.
func (p *Provider) Get(ctx context.Context, idOrName string) (*service.ProviderSandbox, error) {
	sb, err := p.c.GetSandbox(ctx, idOrName)
	if err != nil {
		return nil, classify("get sandbox", err)
	}
	return &service.ProviderSandbox{ID: sb.ID, Name: sb.Name, State: string(sb.State), Since: since(sb.UpdatedAt)}, nil
}

// since reads a sandbox's updatedAt; zero when it has none or it does not
// parse.
func since(updatedAt string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, updatedAt)
	return t
}

// List returns every sandbox carrying all of labels, walking every page.
func (p *Provider) List(ctx context.Context, labels map[string]string) ([]service.ProviderSandbox, error) {
	items, err := p.c.ListAllSandboxes(ctx, daytona.ListSandboxesOptions{Labels: labels})
	if err != nil {
		return nil, classify("list sandboxes", err)
	}
	out := make([]service.ProviderSandbox, len(items))
	for i, it := range items {
		out[i] = service.ProviderSandbox{ID: it.ID, Name: it.Name, State: string(it.State), Owner: it.Labels[service.LabelOwner], Since: since(it.UpdatedAt)}
	}
	return out, nil
}

// KnowToolbox is told where a sandbox's toolbox answers, from its record.
func (p *Provider) KnowToolbox(id, url string) { p.c.KnowToolbox(id, url) }

// Delete deletes the sandbox; one that does not exist is no error.
func (p *Provider) Delete(ctx context.Context, idOrName string) error {
	if _, err := p.c.DeleteSandbox(ctx, idOrName); err != nil && !daytona.IsNotFound(err) {
		return classify("delete sandbox", err)
	}
	return nil
}

// Upload writes the files in one multipart request.
func (p *Provider) Upload(ctx context.Context, id string, files []service.UploadFile) error {
	return p.onStarted(ctx, "upload files", id, func() error {
		// Fresh readers each time: the client consumes them.
		up := make([]daytona.UploadFile, len(files))
		for i, f := range files {
			up[i] = daytona.UploadFile{Path: f.Path, Content: bytes.NewReader(f.Content)}
		}
		return p.c.UploadFiles(ctx, id, up)
	})
}

// GitClone clones a repository into the sandbox at spec.Path (the service
// always names it).
func (p *Provider) GitClone(ctx context.Context, id string, spec service.GitCloneSpec) error {
	var gitErr error
	var cut bool
	err := p.onStarted(ctx, "git clone", id, func() error {
		err := p.c.GitClone(ctx, id, daytona.GitCloneRequest{
			URL: spec.URL, Path: spec.Path, Branch: spec.Branch, Username: spec.Username, Password: spec.Password,
		})
		cut = idleCut(err)
		if field, msg, ok := gitFailure(err); ok {
			gitErr = &sandstep.Error{Code: sandstep.EINVALID, Field: field, Message: msg, Err: err}
			return gitErr
		}
		return err
	})
	if err != nil && err != gitErr && sandstep.ErrorCode(err) == sandstep.EINVALID && !errors.As(err, new(*daytona.ValidationError)) {
		// Not git's word on the repository: the proxy, the daemon or our
		// own request failed, none of which the caller can fix.
		return sandstep.Wrap(err, sandstep.EINTERNAL, "git clone: Daytona refused the request")
	}
	if cut && sandstep.ErrorCode(err) == sandstep.ETRANSIENT {
		// Not the sandbox gone or failed (judge's word): asked again, the
		// clone is cut again, a minute and a sandbox each time.
		return &sandstep.Error{Code: sandstep.EINVALID, Field: "git.url", Err: err,
			Message: "the clone took longer than Daytona's proxy lets a request run (about 60 s) and was cut; clone a repository this large in the command instead"}
	}
	return err
}

// proxyIdleCut is how long a toolbox request may wait for its answer
// before Daytona's proxy cuts it with an empty 502 (about 60 s,
// daytonaio/daytona#4545), less a margin for the clocks.
const proxyIdleCut = 50 * time.Second

// idleCut says whether err is the proxy's idle cut: an empty 502 (no
// Daytona error object) that its try waited that long for. One sooner is
// a blip, and asking again may do; the time is the last try's alone, not
// the client's wait on a 429 before it (up to a minute).
func idleCut(err error) bool {
	var ae *daytona.APIError
	return errors.As(err, &ae) && ae.Took >= proxyIdleCut && ae.StatusCode == 502 &&
		ae.Message == "" && ae.Code == "" && ae.Source == ""
}

// gitFailure reports whether a clone's failure is git's own about the
// repository, its ref or the path, as the toolbox daemon reports it: its GIT_* codes,
// or, from a daemon that sends no such code, git's words. The proxy's
// answers (our key, a sandbox it cannot reach) never are.
func gitFailure(err error) (field, msg string, ok bool) {
	var ae *daytona.APIError
	if !errors.As(err, &ae) || ae.FromProxy() {
		return "", "", false
	}
	const (
		repoMsg = "the repository was not found or is not readable with the given token"
		refMsg  = "the branch was not found in the repository"
	)
	switch ae.Code {
	case "GIT_AUTH_FAILED", "GIT_REPO_NOT_FOUND":
		return "git.url", repoMsg, true
	case "GIT_BRANCH_NOT_FOUND":
		return "git.branch", refMsg, true
	case "", "BAD_REQUEST", "NOT_FOUND", "UNAUTHORIZED", "FORBIDDEN":
	default:
		return "", "", false
	}
	switch ae.StatusCode {
	case 400, 401, 403, 404:
	default:
		return "", "", false
	}
	m := strings.ToLower(ae.Message)
	if strings.Contains(m, "already exists") {
		return "git.path", "the clone's path already exists in the sandbox and is not an empty directory", true
	}
	for _, w := range gitRefWords {
		if strings.Contains(m, w) {
			return "git.branch", refMsg, true
		}
	}
	for _, w := range gitRepoWords {
		if strings.Contains(m, w) {
			return "git.url", repoMsg, true
		}
	}
	return "", "", false
}

// git's (and go-git's, which the daemon uses) words for a repository or
// ref the caller named wrongly or may not read.
var (
	gitRepoWords = []string{"repository not found", "authentication required", "authentication failed",
		"authorization failed", "could not read username", "does not appear to be a git repository",
		"remote repository is empty", "repository does not exist", "invalid auth method"}
	gitRefWords = []string{"couldn't find remote ref", "remote branch", "reference not found",
		"branch not found", "tag not found"}
)

// Exec runs the command line in a session of its own, so stdout and stderr
// come back apart and deleting the session kills the command at its
// timeout (Daytona has no kill call for a session command). Short commands
// run as one synchronous exec; long ones asynchronously, polled with
// backoff. cmd.Timeout counts from the call: restarting an auto-stopped
// sandbox spends it too.
func (p *Provider) Exec(ctx context.Context, id string, cmd service.Command) (*service.ExecResult, error) {
	start := time.Now()
	cctx, cancel := context.WithDeadline(ctx, start.Add(cmd.Timeout))
	defer cancel()
	sid := "sandstep-" + rand.Text()
	serr := p.c.CreateSession(cctx, id, sid)
	if serr == nil {
		defer p.endSession(ctx, id, sid)
	}
	if cmd.Ready != nil {
		if err := cmd.Ready(cctx); err != nil {
			return nil, err
		}
	}
	if serr != nil {
		// Daytona auto-stops an idle sandbox (processes inside do not count
		// as activity); a stopped one is started again, once, now that
		// Ready has said it may be touched, unless the command is a
		// reader's look (NoStart).
		if restarted, err := p.judge(cctx, "run command", id, serr, !cmd.NoStart); !restarted {
			return nil, p.execError(ctx, cctx, id, cmd, err)
		}
		if err := p.c.CreateSession(cctx, id, sid); err != nil {
			return nil, p.execError(ctx, cctx, id, cmd, err)
		}
		defer p.endSession(ctx, id, sid)
	}

	var exitCode *int
	var stdout, stderr string
	var truncated bool
	if cmd.Timeout <= p.opts.SyncExecLimit {
		res, err := p.c.ExecuteSessionCommand(cctx, id, sid, daytona.SessionExecuteRequest{Command: cmd.Line})
		if err != nil {
			return nil, p.execError(ctx, cctx, id, cmd, err)
		}
		if res.ExitCode == nil {
			return nil, sandstep.Errorf(sandstep.EINTERNAL, "the provider answered a command without an exit code")
		}
		exitCode, stdout, stderr, truncated = res.ExitCode, res.Stdout, res.Stderr, res.Truncated
	} else {
		res, err := p.c.ExecuteSessionCommand(cctx, id, sid, daytona.SessionExecuteRequest{Command: cmd.Line, RunAsync: true})
		if err != nil {
			return nil, p.execError(ctx, cctx, id, cmd, err)
		}
		if exitCode, err = p.waitCommand(cctx, id, sid, res.CmdID); err != nil {
			return nil, p.execError(ctx, cctx, id, cmd, err)
		}
		logs, err := p.c.GetSessionCommandLogs(ctx, id, sid, res.CmdID)
		if err != nil {
			return nil, p.toolboxError(ctx, "read command logs", id, err)
		}
		stdout, stderr, truncated = logs.Stdout, logs.Stderr, logs.Truncated
	}
	// The client has already bounded each stream (Config.MaxOutputBytes)
	// while reading it, and says so in truncated.
	return &service.ExecResult{ExitCode: *exitCode, Stdout: stdout, Stderr: stderr, Truncated: truncated,
		DurationMs: time.Since(start).Milliseconds()}, nil
}

// endSession deletes an exec's session, which kills whatever still runs
// in it. It may use what is left of the caller's time, never more, and may
// run beside the caller's own last write.
func (p *Provider) endSession(ctx context.Context, id, sid string) {
	dctx, cancel := p.cleanupContext(ctx)
	service.Beside(ctx, func() {
		defer cancel()
		_ = p.c.DeleteSession(dctx, id, sid)
	})
}

// cleanupContext is detached from ctx's cancellation but not from its
// deadline: cleanup runs after a failure or a timeout, within what the
// caller has left, and at most CleanupTimeout.
func (p *Provider) cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return service.Detached(ctx, p.opts.CleanupTimeout)
}

// toolboxError classifies an error of a toolbox call by the sandbox's
// state (judge), never starting it.
func (p *Provider) toolboxError(ctx context.Context, op, id string, err error) error {
	_, jerr := p.judge(ctx, op, id, err, false)
	return jerr
}

// onStarted runs call, a toolbox call in sandbox id that may be made
// twice. When it fails because Daytona stopped the sandbox, the sandbox is
// started again and call made once more; any other failure is judged by
// the sandbox's state, unless call classified it itself.
func (p *Provider) onStarted(ctx context.Context, op, id string, call func() error) error {
	err := call()
	if err == nil || errors.As(err, new(*sandstep.Error)) {
		return err
	}
	restarted, jerr := p.judge(ctx, op, id, err, true)
	if !restarted {
		return jerr
	}
	if err = call(); err != nil && !errors.As(err, new(*sandstep.Error)) {
		return p.toolboxError(ctx, op, id, err)
	}
	return err
}

// stateMayExplain reports whether a toolbox failure may come from a
// sandbox that is not started: the proxy answers 400, 404 or 502 for one
// that is stopping, stopped or archived (daytonaio/daytona#4142, #4632),
// and 404 for more than a missing sandbox (a missing session or command).
func stateMayExplain(err error) bool {
	var ae *daytona.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.StatusCode {
	case 400, 404, 410, 502, 503:
		return true
	}
	return false
}

// judge classifies a failed toolbox call by the sandbox's state, read from
// the main API, as the toolbox's answer alone cannot tell a sandbox that
// is not started from a bad request or a missing one: gone is ENOTFOUND,
// failed ECONFLICT, in transition ETRANSIENT. A stopped (or archived,
// paused) sandbox is started again when mayRestart, unless Daytona has
// begun archiving or deleting it (ETRANSIENT), and one already
// starting (another call's start) is waited for the same way; restarted
// says the call may be made once more. Without mayRestart either is
// ETRANSIENT, as the next call starts it. A sandbox that runs leaves the
// failure as it was, never the caller's input when it came from the proxy
// or a stop (desiredState) is under way.
func (p *Provider) judge(ctx context.Context, op, id string, err error, mayRestart bool) (restarted bool, _ error) {
	if !stateMayExplain(err) {
		return false, classify(op, err)
	}
	gctx, cancel := p.cleanupContext(ctx)
	sb, gerr := p.c.GetSandbox(gctx, id)
	cancel()
	if daytona.IsNotFound(gerr) {
		return false, sandstep.Wrap(err, sandstep.ENOTFOUND, "%s: the sandbox no longer exists at Daytona", op)
	} else if gerr != nil {
		return false, sandstep.Wrap(errors.Join(err, gerr), sandstep.ETRANSIENT, "%s: Daytona's toolbox failed and the sandbox's state could not be read; try again", op)
	}
	var ae *daytona.APIError
	errors.As(err, &ae)
	switch sb.State {
	case daytona.StateStarted:
		switch {
		case leaving(sb):
			// A stop, archive or delete Daytona has begun (its auto-stop,
			// most often) before the runner moved the state: the proxy
			// then refuses with words of its own (#4142), never the
			// caller's fault.
			return false, sandstep.Wrap(err, sandstep.ETRANSIENT, "%s: Daytona is taking the sandbox to %s; try again", op, sb.DesiredState)
		case ae.StatusCode == 404:
			return false, sandstep.Wrap(err, sandstep.ETRANSIENT, "%s: Daytona's toolbox answered not found for a running sandbox; try again", op)
		case ae.FromProxy():
			// The proxy cannot reach it yet or any more; its state
			// lags (it may be stopping).
			return false, sandstep.Wrap(err, sandstep.ETRANSIENT, "%s: Daytona's proxy could not reach the sandbox; try again", op)
		}
		return false, classify(op, err)
	case daytona.StateDestroyed, daytona.StateDestroying, daytona.StateError, daytona.StateBuildFailed:
		settled := settledError(sb)
		return false, sandstep.Wrap(err, sandstep.ErrorCode(settled), "%s: %s", op, sandstep.ErrorMessage(settled))
	case daytona.StateStopped, daytona.StateArchived, daytona.StatePaused:
		if moving(sb) {
			// An archive or delete Daytona has begun (its auto-archive,
			// most often): it refuses a start meanwhile, and restart
			// would wait for a start nobody made.
			return false, sandstep.Wrap(err, sandstep.ETRANSIENT, "%s: Daytona is taking the sandbox to %s; try again", op, sb.DesiredState)
		}
		if !mayRestart {
			return false, sandstep.Wrap(err, sandstep.ETRANSIENT, "%s: the sandbox is %s; try again, which starts it", op, sb.State)
		}
		if err := p.restart(ctx, id, true); err != nil {
			return false, err
		}
		return true, nil
	case daytona.StateStarting, daytona.StateRestoring, daytona.StateResuming:
		// A start on its way, most often another call's on the same
		// auto-stopped sandbox: wait for it rather than fail a burst.
		// Daytona shows an archived sandbox's start (or a stopped one's
		// brought back elsewhere) as restoring, a paused one's as
		// resuming.
		if !mayRestart {
			break
		}
		if err := p.restart(ctx, id, false); err != nil {
			return false, err
		}
		return true, nil
	}
	return false, sandstep.Wrap(err, sandstep.ETRANSIENT, "%s: the sandbox is %s, not started; try again once it has settled", op, sb.State)
}

// leaving says whether Daytona has begun taking a started sandbox off
// running (a stop, archive, pause or delete: its desiredState), which
// shows in desiredState before the runner moves the state.
func leaving(sb *daytona.Sandbox) bool {
	switch sb.DesiredState {
	case daytona.DesiredStopped, daytona.DesiredArchived, daytona.DesiredPaused, daytona.DesiredDestroyed:
		return true
	}
	return false
}

// moving says whether Daytona has begun taking a sandbox that is not
// started elsewhere than started (an archive or delete of a stopped one),
// which shows in desiredState before the runner moves the state.
func moving(sb *daytona.Sandbox) bool {
	return leaving(sb) && string(sb.DesiredState) != string(sb.State)
}

// settledError is what a call meeting sb answers when sb has settled
// where asking again changes nothing: gone is ENOTFOUND (the service marks
// it gone and releases its slot), failed ECONFLICT with Daytona's reason;
// nil for any other state.
func settledError(sb *daytona.Sandbox) error {
	switch sb.State {
	case daytona.StateDestroyed, daytona.StateDestroying:
		return sandstep.Errorf(sandstep.ENOTFOUND, "the sandbox no longer exists at Daytona")
	case daytona.StateError, daytona.StateBuildFailed:
		return sandstep.Errorf(sandstep.ECONFLICT, "the sandbox has failed at Daytona (state %s): %s", sb.State, sb.ErrorReason)
	}
	return nil
}

// restart starts a sandbox Daytona stopped (when start; else, or when
// Daytona refuses the start mid-transition, the start is already under
// way) and waits until it runs again, for at most StartTimeout. Unlike
// the client's WaitUntilStarted it never deletes the sandbox when the
// wait runs out: it is the caller's, with the caller's files in it.
func (p *Provider) restart(ctx context.Context, id string, start bool) error {
	sctx, cancel := context.WithTimeout(ctx, p.opts.StartTimeout)
	defer cancel()
	if start {
		// Refused while a state change runs: another call's start, most
		// often, which is waited for like one under way.
		if _, err := p.c.StartSandbox(sctx, id); err != nil && !daytona.IsStateChangeInProgress(err) {
			return classify("start the stopped sandbox", err)
		}
	}
	err := daytona.Poll(sctx, firstPoll, p.opts.MaxPollInterval, func() (bool, error) {
		sb, err := p.c.GetSandbox(sctx, id)
		if err != nil {
			return false, classify("wait for the restarted sandbox", err)
		}
		// Judged as a call meeting the sandbox in that state is (judge).
		if sb.State == daytona.StateStarted {
			return true, nil
		}
		if settled := settledError(sb); settled != nil {
			return false, sandstep.Wrap(settled, sandstep.ErrorCode(settled), "the stopped sandbox did not start again: %s", sandstep.ErrorMessage(settled))
		}
		return false, nil
	})
	var se *sandstep.Error
	switch {
	case err == nil, errors.As(err, &se) && ctx.Err() == nil && sctx.Err() == nil:
		return err
	case ctx.Err() != nil:
		return sandstep.Wrap(err, sandstep.ETIMEOUT, "the stopped sandbox did not start again in time")
	}
	// StartTimeout, not the caller's time, ran out: it is still starting.
	return sandstep.Wrap(err, sandstep.ETRANSIENT, "the stopped sandbox did not start again within %s; try again", p.opts.StartTimeout)
}

// waitCommand polls a command's status until it has an exit code.
func (p *Provider) waitCommand(ctx context.Context, id, sid, cmdID string) (*int, error) {
	var exitCode *int
	err := daytona.Poll(ctx, firstPoll, p.opts.MaxPollInterval, func() (bool, error) {
		c, err := p.c.GetSessionCommand(ctx, id, sid, cmdID)
		if err != nil {
			return false, err
		}
		exitCode = c.ExitCode
		return exitCode != nil, nil
	})
	return exitCode, err
}

// execError tells a command that ran out of its own time (ETIMEOUT; the
// session is deleted by Exec's defer) from other failures.
func (p *Provider) execError(ctx, cctx context.Context, id string, cmd service.Command, err error) error {
	var se *sandstep.Error
	if ctx.Err() == nil && cctx.Err() != nil {
		if errors.As(err, &se) && se.Code == sandstep.ETIMEOUT {
			// Judged already: the sandbox's start (its own, or one under
			// way) ran out of the command's time, and the command never
			// ran; the answer must not say it did.
			return err
		}
		return sandstep.Wrap(err, sandstep.ETIMEOUT, "the command did not finish within %s", cmd.Timeout)
	}
	if errors.As(err, &se) {
		return err // classified already (judge)
	}
	return p.toolboxError(ctx, "run command", id, err)
}

// classify maps a Daytona client error to a sandstep error code. Messages
// shown to callers come from Daytona's error text for caller mistakes
// only; everything else keeps its detail in the wrapped cause.
func classify(op string, err error) error {
	var se *daytona.StartError
	if errors.As(err, &se) {
		switch {
		case errors.Is(se.Err, daytona.ErrSandboxFailed) && se.State == daytona.StateBuildFailed:
			return &sandstep.Error{Code: sandstep.EINVALID, Field: "image",
				Message: "failed to build: " + se.ErrorReason, Err: err}
		case errors.Is(se.Err, daytona.ErrSandboxFailed):
			return sandstep.Wrap(err, sandstep.ETRANSIENT, "the sandbox failed to start: %s", se.ErrorReason)
		case errors.Is(se.Err, context.DeadlineExceeded):
			return sandstep.Wrap(err, sandstep.ETIMEOUT, "the sandbox did not start in time")
		}
		return sandstep.Wrap(err, sandstep.ETRANSIENT, "the sandbox did not start")
	}
	var ve *daytona.ValidationError
	if errors.As(err, &ve) {
		return sandstep.Wrap(err, sandstep.EINVALID, "%s", ve.Error())
	}
	var ae *daytona.APIError
	hasAPI := errors.As(err, &ae)
	var cte *daytona.CommandTimeoutError
	switch {
	// Only our own deadline, or a command's own timeout, is a timeout; a
	// gateway timeout or a slow network on Daytona's side is transient,
	// so that a state machine retries it.
	case errors.Is(err, context.DeadlineExceeded):
		return sandstep.Wrap(err, sandstep.ETIMEOUT, "%s: ran out of time", op)
	case errors.Is(err, context.Canceled):
		return sandstep.Wrap(err, sandstep.ETRANSIENT, "%s: cancelled", op)
	case errors.As(err, &cte), hasAPI && ae.StatusCode == 408:
		return sandstep.Wrap(err, sandstep.ETIMEOUT, "%s: the command timed out", op)
	case daytona.IsNotFound(err):
		return sandstep.Wrap(err, sandstep.ENOTFOUND, "%s: not found at Daytona", op)
	case errors.As(err, new(*daytona.RateLimitError)):
		// Daytona's wait travels on: the service spends the deployment's
		// create budget until then, so no instance meets the same 429,
		// and asks again after it. A 429 naming no wait (a proxy's) asks
		// for minRateLimitWait: the client does not wait out a create's.
		limited := sandstep.Wrap(err, sandstep.ETRANSIENT, "%s: Daytona is rate limiting us; try again", op)
		limited.RetryAfter = max(errorRetryAfter(err), minRateLimitWait)
		return limited
	case daytona.IsTransient(err), daytona.IsTimeout(err):
		return sandstep.Wrap(err, sandstep.ETRANSIENT, "%s: Daytona is unavailable, slow or rate limited; try again", op)
	case hasAPI && ae.StatusCode == 409:
		return sandstep.Wrap(err, sandstep.ECONFLICT, "%s: %s", op, ae.Message)
	case hasAPI && orgLimitStatus(ae.StatusCode) && orgFull(ae.Message):
		// "Total CPU/memory/disk limit exceeded" (or, in the 403 releases,
		// "quota exceeded"): the organisation is full. Not the caller's
		// quota, not a blip: wait for capacity.
		return sandstep.Wrap(err, sandstep.ECAPACITY, "%s: the Daytona organisation has no capacity left; try again later", op)
	case hasAPI && ae.StatusCode == 400 && strings.Contains(strings.ToLower(ae.Message), "no available runners"):
		// None of Daytona's runners has room for a new sandbox: its
		// capacity, back once they have room; nothing in the request.
		return sandstep.Wrap(err, sandstep.ECAPACITY, "%s: Daytona has no runner with room for the sandbox; try again later", op)
	case hasAPI && orgLimitStatus(ae.StatusCode) && overCeiling(ae.Message):
		// "CPU request 8 exceeds maximum allowed per sandbox (4).": the
		// size asked for (the caller's, or its snapshot's), as a 400 of
		// any other words would be.
		return sandstep.Wrap(err, sandstep.EINVALID, "%s: Daytona refused the request: %s", op, ae.Message)
	case hasAPI && (ae.StatusCode == 400 || ae.StatusCode == 422):
		refused := sandstep.Wrap(err, sandstep.EINVALID, "%s: Daytona refused the request: %s", op, ae.Message)
		// "Snapshot <name> not found…", "Snapshot <name> is <state>": the
		// caller's snapshot. Daytona names no field otherwise.
		if strings.HasPrefix(strings.ToLower(ae.Message), "snapshot ") {
			refused.Field = "snapshot"
		}
		return refused
	}
	return sandstep.Wrap(err, sandstep.EINTERNAL, "%s failed", op)
}

// overCeiling says whether msg is Daytona's refusal of a size over its
// per-sandbox ceiling: "… exceeds maximum allowed per sandbox (4).", or
// for disk "… per non-ephemeral sandbox (10GB)." (a region's
// maxDiskPerNonEphemeralSandbox; sandstep's sandboxes are all
// non-ephemeral).
func overCeiling(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "exceeds maximum allowed per sandbox") ||
		strings.Contains(m, "exceeds maximum allowed per non-ephemeral sandbox")
}

// sizeField names the field at fault in Daytona's refusal of a create
// over its per-sandbox ceiling ("CPU request 8 exceeds maximum allowed
// per sandbox (4)."), which names none: for an image, the resource the
// message leads with, asked for or left to Daytona's default (an image
// has no size of its own: Daytona builds it with the resources given,
// 1 vCPU, 1 GiB and 3 GiB where none is); else the snapshot, whose own
// size it is.
func sizeField(err error, spec service.ProviderSpec) error {
	var e *sandstep.Error
	if !errors.As(err, &e) || e.Code != sandstep.EINVALID || e.Field != "" || !overCeiling(e.Message) {
		return err
	}
	named := *e
	named.Err = err
	_, said, _ := strings.Cut(e.Message, "Daytona refused the request: ")
	said = strings.ToLower(said)
	switch {
	case spec.Image != "" && strings.HasPrefix(said, "cpu"):
		named.Field = "resources.cpu"
	case spec.Image != "" && strings.HasPrefix(said, "memory"):
		named.Field = "resources.memoryGiB"
	case spec.Image != "" && strings.HasPrefix(said, "disk"):
		named.Field = "resources.diskGiB"
	case spec.Image != "":
		named.Field = "image"
	default:
		named.Field = "snapshot"
	}
	return &named
}

// orgLimitStatus says whether status is one Daytona refuses a create over
// the organisation's limits with: 400 now, 403 (ForbiddenException) in
// the releases before; either carries the same words.
func orgLimitStatus(status int) bool { return status == 400 || status == 403 }

// orgFull says whether msg is Daytona's refusal over the organisation's
// total CPU, memory or disk: "Total <x> limit exceeded…" now, "Total <x>
// quota exceeded…" in the releases that answered it 403.
func orgFull(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "limit exceeded") ||
		strings.HasPrefix(m, "total ") && strings.Contains(m, "quota exceeded")
}

// minRateLimitWait is the wait a 429 is taken to ask for at least.
const minRateLimitWait = time.Second

// errorRetryAfter is the wait Daytona asked for with err, zero if none.
func errorRetryAfter(err error) time.Duration {
	var ae *daytona.APIError
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	return 0
}
