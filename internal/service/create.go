package service

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sandstep/sandstep/internal/metrics"
	"github.com/sandstep/sandstep/internal/pause"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// Audit actions.
const (
	ActionCreate = "sandbox.create"
	ActionExec   = "sandbox.exec"
	ActionDelete = "sandbox.delete"
	ActionGone   = "sandbox.gone"
)

// CreateSandbox validates the request, takes a quota slot (writing the
// sandbox's record in state creating), creates and starts the provider
// sandbox, loads code and secrets into it and makes the record ready. Any
// failure after the slot is taken deletes the provider sandbox, marks the
// record failed and releases the slot before the classified error is
// returned.
func (s *Service) CreateSandbox(ctx context.Context, call Call, in CreateSandboxInput) (*sandstep.Sandbox, error) {
	defer metrics.Operation(ctx, "create", time.Now())
	if err := requireUser(call); err != nil {
		return nil, err
	}
	plan, err := s.validateCreate(&in)
	if err != nil {
		return refused[*sandstep.Sandbox](ctx, s, call, "create", in, err)
	}
	var drained func()
	plan.admit, drained = s.drainCheck(ctx)
	defer drained()
	return idempotent(ctx, s, call, "create", in, func(ctx context.Context) (*sandstep.Sandbox, error) {
		return s.create(ctx, call, in, plan)
	})
}

// provisioning is what a create puts into a new provider sandbox.
type provisioning struct {
	// deployment labels the sandbox as this deployment's.
	deployment string
	secrets    map[string]string
	files      []UploadFile
	clone      *GitCloneSpec
	// cloneSettled is when GitHub knows the clone's token everywhere (an
	// issue's read token, RepoToken.Settled); zero for a caller's own.
	cloneSettled time.Time
}

func (s *Service) create(ctx context.Context, call Call, in CreateSandboxInput, plan createPlan) (*sandstep.Sandbox, error) {
	// Secrets first: a bad reference fails before anything is reserved.
	load, err := s.resolveProvisioning(ctx, call.UserID, in, plan)
	if err != nil {
		return nil, err
	}
	if plan.admit != nil {
		if err := plan.admit(); err != nil {
			return nil, err
		}
	}
	sb := s.newRecord(call, in, plan.network)
	sb.TaskID = plan.task
	// The provider work stops early enough for its undoing to fit before
	// the caller's deadline.
	wctx, cancel, err := s.workContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	// Writes a create starts beside its work, awaited before its answer.
	var beside sync.WaitGroup
	defer beside.Wait()
	waits := &rateWaits{began: time.Now(), wanted: plan.wanted}
	if err := s.reserveWithin(ctx, wctx, sb, waits); err != nil {
		return nil, err
	}
	// The record and the create's audit event are written beside the
	// provider's work, not before it (the held slot already names the
	// sandbox for the reaper), and awaited before any answer.
	// The writer gets its own copy: provision fills in sb meanwhile.
	recorded, creating := make(chan error, 1), *sb
	started := s.auditEvent(call, sb, ActionCreate, nil, map[string]string{"step": "started"})
	go func() { recorded <- s.quota.RecordCreating(wctx, &creating, started) }()
	var rerr error
	stage, err := func() (string, error) {
		// Awaited even when the provider's work panics: no write of this
		// call outlives it.
		defer func() { rerr = <-recorded }()
		return s.createAndLoad(ctx, wctx, sb, in, plan, load, &beside, waits)
	}()
	// A cleanup starts once the record is written (or is not to be).
	if err == nil && rerr != nil {
		stage, err = "record sandbox", rerr
	}
	if err != nil {
		err = waits.outOfWaitedTime(wctx, err)
		return nil, s.discardCreated(ctx, call, sb, plan, fmt.Errorf("create sandbox %s: %s: %w", sb.ID, stage, err))
	}
	// Two writes on a create's path: the slot, and this one.
	if err := s.quota.CommitSandbox(wctx, sb); err != nil {
		return nil, s.discardCreated(ctx, call, sb, plan, fmt.Errorf("create sandbox %s: record sandbox: %w", sb.ID, err))
	}
	metrics.Add(ctx, metrics.SandboxesCreated, metrics.Count, 1)
	return sb, nil
}

// createAndLoad asks for the clone's token, creates the provider sandbox
// and loads it; stage names the step that failed. Writes it starts beside
// that work join beside.
func (s *Service) createAndLoad(ctx, wctx context.Context, sb *sandstep.Sandbox, in CreateSandboxInput, plan createPlan, load provisioning, beside *sync.WaitGroup, waits *rateWaits) (stage string, err error) {
	// The provider's create spent its window: the other instances wait for
	// the next instead of meeting its 429. The hold is the caller's (ctx),
	// not the provider work's: Daytona counted the create even if that work
	// ran out as the answer came, and the hold costs this create no round
	// trip of its own (it runs beside the rest).
	spent := func(until time.Time) { beside.Go(func() { s.holdCreates(ctx, until) }) }
	if plan.cloneToken != nil && load.clone != nil {
		tok, files, err := plan.cloneToken(wctx)
		if err != nil {
			return "the clone's token", err
		}
		load.clone.Username, load.clone.Password = "x-access-token", tok.Value
		load.cloneSettled = tok.Settled
		load.files = append(slices.Clip(load.files), files...)
	}
	for {
		stage, err = s.provision(wctx, sb, in, load, spent)
		if !s.spendIfLimited(ctx, stage, err) {
			return stage, err
		}
		if !s.waitWithin(ctx, wctx, err, waits) {
			return stage, providerRateRefusal{err}
		}
		// Refused for the provider's rate, so nothing was made (the name
		// is free): asked again, once the create it takes of the rate
		// again lies past the provider's wait.
		if err := s.reserveWithin(ctx, wctx, sb, waits); err != nil {
			return stage, err
		}
	}
}

// resolveProvisioning resolves the secrets a create needs, as owner's.
func (s *Service) resolveProvisioning(ctx context.Context, owner string, in CreateSandboxInput, plan createPlan) (provisioning, error) {
	ctx = s.oneRead(ctx)
	values, err := s.resolveSecrets(ctx, owner, in.SecretEnv)
	if err != nil {
		return provisioning{}, err
	}
	deployment, err := s.opts.Deployment(ctx)
	if err != nil {
		return provisioning{}, fmt.Errorf("the deployment's id: %w", err)
	}
	load := provisioning{deployment: deployment, secrets: values, files: plan.files}
	if g := in.Git; g != nil {
		load.clone = &GitCloneSpec{URL: g.URL, Branch: g.Branch, Path: clonePath(g)}
		switch {
		case plan.cloneToken != nil:
			// Asked for once the slot is held (create).
		case g.TokenSecret != "":
			token, err := s.resolve(ctx, owner, "git.tokenSecret", g.TokenSecret)
			if err != nil {
				return provisioning{}, err
			}
			load.clone.Username, load.clone.Password = "x-access-token", token
		}
	}
	return load, nil
}

// newRecord is the record of a sandbox about to be created with network.
func (s *Service) newRecord(call Call, in CreateSandboxInput, network *sandstep.NetworkPolicy) *sandstep.Sandbox {
	now := s.opts.Now().UTC()
	sb := &sandstep.Sandbox{
		ID:              s.opts.NewID(),
		Owner:           call.UserID,
		State:           sandstep.StateCreating,
		Snapshot:        in.Snapshot,
		Image:           in.Image,
		Resources:       in.Resources,
		Labels:          in.Labels,
		Metadata:        in.Metadata,
		AutoStopMinutes: s.opts.DefaultAutoStopMinutes,
		TTLMinutes:      s.opts.DefaultTTLMinutes,
		Network:         network,
		NoSecretsFile:   len(in.SecretEnv) == 0,
		CreatedAt:       now,
		UpdatedAt:       now,
	}
	if in.AutoStopMinutes != nil {
		sb.AutoStopMinutes = *in.AutoStopMinutes
	}
	if in.TTLMinutes != nil {
		sb.TTLMinutes = *in.TTLMinutes
	}
	return sb
}

// createWaitFloor is the least time a create must have left after waiting
// for the next window of the provider's create rate: a sandbox of
// Daytona's takes seconds to start.
const createWaitFloor = 30 * time.Second

// reserveWithin reserves, waiting for the next window of the provider's
// create rate while the work's deadline (wctx) leaves time for the create
// after it; otherwise the refusal stands (503 with Retry-After). A slot
// sb holds already is kept: only a create of the rate is taken. A wait
// counts in waits; after one, a sandbox no longer wanted is not reserved.
func (s *Service) reserveWithin(ctx, wctx context.Context, sb *sandstep.Sandbox, waits *rateWaits) error {
	for {
		if waits.waited > 0 && waits.wanted != nil {
			if err := waits.wanted(wctx); err != nil {
				return err
			}
		}
		err := s.reserve(ctx, sb)
		if !errors.Is(err, sandstep.ErrCreateRate) || !s.waitWithin(ctx, wctx, err, waits) {
			return err
		}
	}
}

// waitWithin waits out the Retry-After of err, a refusal for the create
// rate (the deployment's or the provider's), when the work's deadline
// (wctx) leaves time for a create after it, and reports whether it did
// (counting the wait in waits then).
func (s *Service) waitWithin(ctx, wctx context.Context, err error, waits *rateWaits) bool {
	// A little spread, so the waiting instances do not all ask at the
	// window's first millisecond.
	wait := sandstep.ErrorRetryAfter(err) + rand.N(100*time.Millisecond)
	if d, ok := wctx.Deadline(); ok && time.Until(d) < wait+createWaitFloor {
		return false
	}
	metrics.Add(ctx, metrics.DaytonaRateLimitWaits, metrics.Count, 1)
	waits.waited += wait
	return pause.For(wctx, wait)
}

// rateWaits is how long one create, begun at began, has waited for the
// create rate in all; wanted (createPlan's) is asked after a wait.
type rateWaits struct {
	began  time.Time
	waited time.Duration
	wanted func(context.Context) error
}

// outOfWaitedTime is the answer of the create that failed with err after
// its waits for the create rate. When the work's deadline (wctx) cut it
// short and the waits took at least the time they left the work (as
// little as createWaitFloor), the invocation went to the rate rather than
// to a create too slow for it: transient, of the rate (no fault), so that
// a task's step is asked again in a fresh invocation with its whole time
// (the state machine does not ask again after a timeout). A shorter wait
// leaves the timeout the work's own.
func (w *rateWaits) outOfWaitedTime(wctx context.Context, err error) error {
	end, timed := wctx.Deadline()
	if !timed || w.waited == 0 || sandstep.ErrorCode(err) != sandstep.ETIMEOUT || !errors.Is(wctx.Err(), context.DeadlineExceeded) {
		return err
	}
	if left := end.Sub(w.began) - w.waited; w.waited < left {
		return err
	}
	return sandstep.Wrap(fmt.Errorf("%w: %w", sandstep.ErrCreateRate, err), sandstep.ETRANSIENT,
		"the sandbox was not made in the time left after waiting for the create rate; try again")
}

// spendIfLimited spends the deployment's create budget for as long as the
// provider asked, when it refused the create for its rate (a transient
// refusal of the create naming a wait: a 429, which made nothing), and
// reports whether it did refuse so. Every instance then holds its
// creates back, this one's next ask included.
func (s *Service) spendIfLimited(ctx context.Context, stage string, err error) bool {
	wait := sandstep.ErrorRetryAfter(err)
	if err == nil || stage != stageCreate || sandstep.ErrorCode(err) != sandstep.ETRANSIENT || wait <= 0 {
		return false
	}
	s.holdCreates(ctx, s.opts.Now().Add(wait))
	return true
}

// providerRateRefusal is a create given up on Daytona's own 429, with too
// little of its work's time left to wait it out: a refusal for the create
// rate to a task's admission (notAdmitted), as the deployment's is, though
// it stays a fault.
type providerRateRefusal struct{ error }

func (e providerRateRefusal) Unwrap() error { return e.error }

// rateRefused reports whether err refuses a create for the create rate,
// the deployment's or Daytona's.
func rateRefused(err error) bool {
	return errors.Is(err, sandstep.ErrCreateRate) || errors.As(err, new(providerRateRefusal))
}

// holdCreates holds every instance's creates back until until, when the
// provider's budget comes back: written even when the caller has gone
// (the budget is spent for every instance), within the write timeout. A
// hold that fails to be written is only a lost saving: a create it would
// have held meets the provider's 429, which holds them back then.
func (s *Service) holdCreates(ctx context.Context, until time.Time) {
	wctx, cancel := s.writeContext(ctx)
	defer cancel()
	if err := s.quota.SpendCreates(wctx, until); err != nil {
		s.opts.Logger.WarnContext(ctx, "the create budget was not held back for the provider's rate limit", "until", until, "err", err)
	}
}

// reserve takes the slot. When the outcome is unknown (a timeout, a 5xx
// after the write), it gives back what may have been taken: releasing is
// idempotent.
func (s *Service) reserve(ctx context.Context, sb *sandstep.Sandbox) error {
	err := s.quota.ReserveSlot(ctx, sb)
	switch code := sandstep.ErrorCode(err); {
	case code == "":
		return nil
	case code == sandstep.EQUOTA:
		s.denied(ctx, DeniedQuota, sb.Owner, sb.ID)
	case code == sandstep.EINVALID, code == sandstep.ECONFLICT, errors.Is(err, sandstep.ErrCreateRate):
	default:
		cctx, cancel := s.cleanupContext(ctx)
		defer cancel()
		s.abandon(cctx, sb, err)
	}
	return fmt.Errorf("reserve quota slot: %w", err)
}

// stageCreate is provision's stage of the provider's create.
const stageCreate = "provider create"

// provision creates the provider sandbox and loads it; stage names the step
// that failed.
func (s *Service) provision(ctx context.Context, sb *sandstep.Sandbox, in CreateSandboxInput, load provisioning, spent func(until time.Time)) (stage string, err error) {
	labels := maps.Clone(in.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelID], labels[LabelOwner], labels[LabelDeployment] = sb.ID, sb.Owner, load.deployment
	asked := s.opts.Now().UTC()
	ps, err := s.provider.Create(ctx, ProviderSpec{
		Name:            sb.ID,
		Snapshot:        in.Snapshot,
		Image:           in.Image,
		Resources:       in.Resources,
		Env:             in.Env,
		Labels:          labels,
		AutoStopMinutes: sb.AutoStopMinutes,
		TTLMinutes:      sb.TTLMinutes,
		Network:         sb.Network,
		CreatesSpent:    spent,
	})
	if err != nil {
		return stageCreate, err
	}
	sb.DaytonaID, sb.ProviderState, sb.ToolboxURL, sb.MadeAt, sb.Size = ps.ID, ps.State, ps.ToolboxURL, &asked, ps.Size
	if len(load.secrets) > 0 {
		if err := s.installSecrets(ctx, sb.DaytonaID, load.secrets); err != nil {
			return "install secrets", setupFailed(err)
		}
	}
	if len(load.files) > 0 {
		if err := s.provider.Upload(ctx, sb.DaytonaID, load.files); err != nil {
			return "upload files", setupFailed(err)
		}
	}
	if load.clone != nil {
		if err := s.gitClone(ctx, sb.DaytonaID, load); err != nil {
			return "git clone", setupFailed(err)
		}
	}
	return "", nil
}

// gitClone clones load's repository into sandbox id. A token GitHub has
// not settled yet may be refused for a moment (401, 403 while its
// permissions replicate, or a private repository not found: the provider
// reads each as git.url, and cannot tell them apart): the clone
// goes again with it after 1 s and 2 s, as the push does, even when the
// token settles meanwhile. A refusal of a settled token, or of a caller's
// own, is GitHub's word.
func (s *Service) gitClone(ctx context.Context, id string, load provisioning) error {
	for wait, again := newTokenWait, 0; ; wait, again = wait*2, again+1 {
		err := s.provider.GitClone(ctx, id, *load.clone)
		if err == nil || again == 2 || sandstep.ErrorField(err) != "git.url" ||
			!s.opts.Now().Before(load.cloneSettled) || !pause.For(ctx, wait) {
			return err
		}
	}
}

// setupFailed is a create's answer when its sandbox failed while being
// set up: the provider says the sandbox is in error (conflict) or gone
// (not found), which for a create that deletes it anyway means try again,
// as for a sandbox that failed to start.
func setupFailed(err error) error {
	switch sandstep.ErrorCode(err) {
	case sandstep.ECONFLICT, sandstep.ENOTFOUND:
		return sandstep.Wrap(err, sandstep.ETRANSIENT, "the sandbox failed while it was being set up; try again")
	}
	return err
}

// clonePath is where a repository is cloned: the caller's git.path, or
// the directory git itself would choose.
func clonePath(g *GitSource) string {
	if g.Path != "" {
		return g.Path
	}
	return repoDir(g.URL)
}

// repoDir is the directory git would clone url into.
func repoDir(url string) string {
	s := strings.TrimSuffix(strings.TrimRight(url, "/"), ".git")
	if i := strings.LastIndexAny(s, "/:"); i >= 0 {
		s = s[i+1:]
	}
	if s == "" || s == "." || s == ".." {
		return "repo"
	}
	return s
}

// cleanupFailedCreate deletes the provider sandbox (by its unique name, so a
// create that failed after the provider made it is found too), marks the
// record failed and releases the slot, on a context the caller's
// cancellation cannot stop but that ends with the caller's deadline. A
// sandbox it could not delete stays on record, deleting and counted in the
// quota, for its owner to see and the reaper to finish; the error
// returned, cause, then names it.
func (s *Service) cleanupFailedCreate(ctx context.Context, call Call, sb *sandstep.Sandbox, cause error) error {
	cctx, cancel := s.cleanupContext(ctx)
	defer cancel()
	if err := s.provider.Delete(cctx, sb.ID); err != nil {
		s.opts.Logger.ErrorContext(ctx, "failed create: provider sandbox not deleted; left deleting for the reaper", "sandboxId", sb.ID, "err", err)
		_, terr := s.sandboxes.TransitionSandbox(cctx, sb.ID, []sandstep.State{sandstep.StateCreating, sandstep.StateReady}, sandstep.StateDeleting, func(r *sandstep.Sandbox) {
			r.Error = sandstep.ErrorMessage(cause)
		})
		if terr != nil {
			// Still creating: the reaper takes it over once no create can be
			// at work.
			s.opts.Logger.ErrorContext(ctx, "failed create: record not marked deleting", "sandboxId", sb.ID, "err", terr)
		}
		s.audit(ctx, call, sb, ActionCreate, cause, map[string]string{"error": sandstep.ErrorMessage(cause)})
		return sandstep.WithSandbox(cause, sb.ID)
	}
	s.abandon(cctx, sb, cause)
	s.audit(ctx, call, sb, ActionCreate, cause, map[string]string{"error": sandstep.ErrorMessage(cause)})
	return cause
}

// discardCreated is cleanupFailedCreate telling plan of a sandbox the
// provider made (a task's usage counts it: README, "Task cost").
func (s *Service) discardCreated(ctx context.Context, call Call, sb *sandstep.Sandbox, plan createPlan, cause error) error {
	err := s.cleanupFailedCreate(ctx, call, sb, cause)
	if sb.MadeAt != nil && plan.discarded != nil {
		plan.discarded(sb, s.opts.Now())
	}
	return err
}

// abandon marks a sandbox whose create failed as failed and releases its
// slot.
func (s *Service) abandon(ctx context.Context, sb *sandstep.Sandbox, cause error) {
	_, err := s.sandboxes.TransitionSandbox(ctx, sb.ID, []sandstep.State{sandstep.StateCreating, sandstep.StateReady}, sandstep.StateFailed, func(r *sandstep.Sandbox) {
		r.Error = sandstep.ErrorMessage(cause)
	})
	if code := sandstep.ErrorCode(err); err != nil && code != sandstep.ENOTFOUND && code != sandstep.ECONFLICT {
		s.opts.Logger.ErrorContext(ctx, "failed create: record not marked failed", "sandboxId", sb.ID, "err", err)
	}
	if _, err := s.quota.ReleaseSlot(ctx, sb.Owner, sb.ID); err != nil {
		s.opts.Logger.ErrorContext(ctx, "failed create: quota slot not released", "sandboxId", sb.ID, "err", err)
	}
}

func (s *Service) resolve(ctx context.Context, owner, field, ref string) (string, error) {
	if s.secrets == nil {
		return "", sandstep.Invalid(field, "secret references are not enabled in this deployment")
	}
	v, err := s.secrets.Resolve(ctx, owner, field, ref)
	if err != nil {
		s.secretDenied(ctx, owner, field, ref, err)
		return "", fmt.Errorf("resolve %s: %w", field, err)
	}
	return v, nil
}

func (s *Service) resolveSecrets(ctx context.Context, owner string, refs map[string]string) (map[string]string, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	values := make(map[string]string, len(refs))
	for _, name := range slices.Sorted(maps.Keys(refs)) {
		field := "secretEnv." + name
		v, err := s.resolve(ctx, owner, field, refs[name])
		if err != nil {
			return nil, err
		}
		// A binary secret, or a JSON secret's member, may hold what env
		// refuses.
		if err := checkEnvValue(field, v); err != nil {
			return nil, err
		}
		values[name] = v
	}
	// Every command gets these in its environment, as env's: the same
	// bound, on the file they are sourced from.
	if n := len(secretsFileContent(values)); n > MaxEnvBytes {
		return nil, sandstep.Invalid("secretEnv", "the secrets it names take %d bytes as resolved and quoted, at most %d are allowed", n, MaxEnvBytes)
	}
	return values, nil
}

// installSecrets writes the secrets file and makes it readable by the
// sandbox user only.
func (s *Service) installSecrets(ctx context.Context, id string, values map[string]string) error {
	err := s.provider.Upload(ctx, id, []UploadFile{
		{Path: ReservedDir + "/.gitignore", Content: []byte("*\n")},
		{Path: secretsFile, Content: secretsFileContent(values)},
	})
	if err != nil {
		return err
	}
	res, err := s.provider.Exec(ctx, id, Command{
		Line:    "chmod 700 " + ReservedDir + " && chmod 600 " + secretsFile,
		Timeout: 30 * time.Second,
	})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return sandstep.Errorf(sandstep.EINTERNAL, "restricting the secrets file failed with exit code %d", res.ExitCode)
	}
	return nil
}
