package service

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Audit actions.
const (
	ActionCreate = "sandbox.create"
	ActionExec   = "sandbox.exec"
	ActionDelete = "sandbox.delete"
	ActionGone   = "sandbox.gone"
)

// CreateSandbox validates the request, takes a quota slot, creates and
// starts the provider sandbox, loads code and secrets into it and records
// it. Any failure after the slot is taken deletes the provider sandbox and
// releases the slot before the classified error is returned.
func (s *Service) CreateSandbox(ctx context.Context, call Call, in CreateSandboxInput) (*sandstep.Sandbox, error) {
	if err := requireUser(call); err != nil {
		return nil, err
	}
	files, err := s.validateCreate(&in)
	if err != nil {
		return nil, err
	}
	return idempotent(ctx, s, call, "create", in, func(ctx context.Context) (*sandstep.Sandbox, error) {
		return s.create(ctx, call, in, files)
	})
}

func (s *Service) create(ctx context.Context, call Call, in CreateSandboxInput, files []UploadFile) (*sandstep.Sandbox, error) {
	// Secrets first: a bad reference fails before anything is reserved.
	secretValues, err := s.resolveSecrets(ctx, in.SecretEnv)
	if err != nil {
		return nil, err
	}
	var clone *GitCloneSpec
	if g := in.Git; g != nil {
		clone = &GitCloneSpec{URL: g.URL, Branch: g.Branch, Path: clonePath(g)}
		if g.TokenSecret != "" {
			token, err := s.resolve(ctx, "git.tokenSecret", g.TokenSecret)
			if err != nil {
				return nil, err
			}
			clone.Username, clone.Password = "x-access-token", token
		}
	}

	now := s.opts.Now().UTC()
	sb := &sandstep.Sandbox{
		ID:              s.opts.NewID(),
		Owner:           call.UserID,
		State:           sandstep.StateReady,
		Snapshot:        in.Snapshot,
		Image:           in.Image,
		Resources:       in.Resources,
		Labels:          in.Labels,
		Metadata:        in.Metadata,
		AutoStopMinutes: s.opts.DefaultAutoStopMinutes,
		TTLMinutes:      s.opts.DefaultTTLMinutes,
		CreatedAt:       now,
		UpdatedAt:       now,
	}
	if in.AutoStopMinutes != nil {
		sb.AutoStopMinutes = *in.AutoStopMinutes
	}
	if in.TTLMinutes != nil {
		sb.TTLMinutes = *in.TTLMinutes
	}
	// The provider work stops early enough for its undoing to fit before
	// the caller's deadline.
	wctx, cancel, err := s.workContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if err := s.store.ReserveSlot(ctx, call.UserID, sb.ID); err != nil {
		switch sandstep.ErrorCode(err) {
		case sandstep.EQUOTA, sandstep.EINVALID, sandstep.ECONFLICT:
		default:
			// The write may have happened even so (a timeout, a 5xx after
			// the commit): release what may be held; releasing is
			// idempotent.
			cctx, cancel := s.cleanupContext(ctx)
			if _, rerr := s.store.ReleaseSlot(cctx, call.UserID, sb.ID); rerr != nil {
				s.opts.Logger.ErrorContext(ctx, "ambiguous reservation: slot not released", "sandboxId", sb.ID, "err", rerr)
			}
			cancel()
		}
		return nil, fmt.Errorf("reserve quota slot: %w", err)
	}
	parent := ctx
	fail := func(stage string, err error) (*sandstep.Sandbox, error) {
		s.cleanupFailedCreate(parent, call, sb, err)
		return nil, fmt.Errorf("create sandbox %s: %s: %w", sb.ID, stage, err)
	}
	ctx = wctx

	labels := make(map[string]string, len(in.Labels)+2)
	for k, v := range in.Labels {
		labels[k] = v
	}
	labels[LabelID], labels[LabelOwner] = sb.ID, call.UserID
	ps, err := s.provider.Create(ctx, ProviderSpec{
		Name:            sb.ID,
		Snapshot:        in.Snapshot,
		Image:           in.Image,
		Resources:       in.Resources,
		Env:             in.Env,
		Labels:          labels,
		AutoStopMinutes: sb.AutoStopMinutes,
		TTLMinutes:      sb.TTLMinutes,
	})
	if err != nil {
		return fail("provider create", err)
	}
	sb.DaytonaID, sb.ProviderState = ps.ID, ps.State

	if len(secretValues) > 0 {
		if err := s.installSecrets(ctx, sb.DaytonaID, secretValues); err != nil {
			return fail("install secrets", err)
		}
	}
	if len(files) > 0 {
		if err := s.provider.Upload(ctx, sb.DaytonaID, files); err != nil {
			return fail("upload files", err)
		}
	}
	if clone != nil {
		if err := s.provider.GitClone(ctx, sb.DaytonaID, *clone); err != nil {
			return fail("git clone", err)
		}
	}
	if err := s.store.CommitSandbox(ctx, sb); err != nil {
		return fail("record sandbox", err)
	}
	s.audit(parent, call, sb, ActionCreate, nil, nil)
	return sb, nil
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

// fitResponse cuts each of an exec result's streams to perStream bytes,
// then the output until its JSON encoding (which may escape a byte into
// six) fits max bytes, so the answer always fits a Lambda response. It
// halves the longer stream each round and keeps the start of each.
func fitResponse(res *ExecResult, perStream, max int) {
	for _, s := range []*string{&res.Stdout, &res.Stderr} {
		if len(*s) > perStream {
			*s = cutUTF8(*s, perStream)
			res.Truncated = true
		}
	}
	for {
		b, err := json.Marshal(res)
		if err != nil || len(b) <= max || len(res.Stdout)+len(res.Stderr) == 0 {
			return
		}
		if len(res.Stdout) >= len(res.Stderr) {
			res.Stdout = cutUTF8(res.Stdout, len(res.Stdout)/2)
		} else {
			res.Stderr = cutUTF8(res.Stderr, len(res.Stderr)/2)
		}
		res.Truncated = true
	}
}

// cutUTF8 returns s cut to at most n bytes, on a character boundary.
func cutUTF8(s string, n int) string {
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// cleanupFailedCreate deletes the provider sandbox (by its unique name, so a
// create that failed after the provider made it is found too), marks a
// record that an ambiguous commit may have written as failed, and releases
// the slot, on a context the caller's cancellation cannot stop but that
// ends with the caller's deadline.
func (s *Service) cleanupFailedCreate(ctx context.Context, call Call, sb *sandstep.Sandbox, cause error) {
	cctx, cancel := s.cleanupContext(ctx)
	defer cancel()
	if err := s.provider.Delete(cctx, sb.ID); err != nil {
		// The provider's ttlMinutes backstop still destroys it; the reaper
		// finds it by its labels.
		s.opts.Logger.ErrorContext(ctx, "failed create: provider sandbox not deleted", "sandboxId", sb.ID, "err", err)
	}
	_, err := s.store.TransitionSandbox(cctx, sb.ID, []sandstep.State{sandstep.StateReady}, sandstep.StateFailed, func(r *sandstep.Sandbox) {
		r.Error = sandstep.ErrorMessage(cause)
	})
	if code := sandstep.ErrorCode(err); err != nil && code != sandstep.ENOTFOUND && code != sandstep.ECONFLICT {
		s.opts.Logger.ErrorContext(ctx, "failed create: record not marked failed", "sandboxId", sb.ID, "err", err)
	}
	if _, err := s.store.ReleaseSlot(cctx, call.UserID, sb.ID); err != nil {
		s.opts.Logger.ErrorContext(ctx, "failed create: quota slot not released", "sandboxId", sb.ID, "err", err)
	}
	s.audit(ctx, call, sb, ActionCreate, cause, map[string]string{"error": sandstep.ErrorMessage(cause)})
}

func (s *Service) resolve(ctx context.Context, field, ref string) (string, error) {
	if s.secrets == nil {
		return "", sandstep.Invalid(field, "secret references are not enabled in this deployment")
	}
	v, err := s.secrets.Resolve(ctx, field, ref)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", field, err)
	}
	return v, nil
}

func (s *Service) resolveSecrets(ctx context.Context, refs map[string]string) (map[string]string, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	values := make(map[string]string, len(refs))
	for _, name := range sortedKeys(refs) {
		v, err := s.resolve(ctx, "secretEnv."+name, refs[name])
		if err != nil {
			return nil, err
		}
		values[name] = v
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

// Exec runs a command in the caller's sandbox and waits for it. The
// timeout is bounded by the caller's deadline less a margin.
func (s *Service) Exec(ctx context.Context, call Call, id string, in ExecInput) (*ExecResult, error) {
	if err := requireUser(call); err != nil {
		return nil, err
	}
	if err := validateID("id", id); err != nil {
		return nil, err
	}
	timeout, err := s.validateExec(&in)
	if err != nil {
		return nil, err
	}
	return idempotent(ctx, s, call, "exec:"+id, in, func(ctx context.Context) (*ExecResult, error) {
		sb, err := s.ownedSandbox(ctx, call, id)
		if err != nil {
			return nil, err
		}
		return s.exec(ctx, call, sb, in, timeout)
	})
}

func (s *Service) exec(ctx context.Context, call Call, sb *sandstep.Sandbox, in ExecInput, timeout time.Duration) (*ExecResult, error) {
	if sb.State != sandstep.StateReady {
		return nil, sandstep.Errorf(sandstep.ECONFLICT, "sandbox %s is %s; commands run only in a ready sandbox", sb.ID, sb.State)
	}
	timeout, err := s.boundTimeout(ctx, timeout)
	if err != nil {
		return nil, err
	}
	res, err := s.provider.Exec(ctx, sb.DaytonaID, Command{
		Line:    commandLine(in.Command, in.Cwd, in.Env),
		Timeout: timeout,
	})
	if err == nil {
		fitResponse(res, s.opts.MaxOutputBytes, s.opts.MaxResponseBytes)
	}
	if err != nil {
		if sandstep.ErrorCode(err) == sandstep.ENOTFOUND {
			s.markGone(ctx, call, sb)
			return nil, sandstep.Wrap(err, sandstep.ENOTFOUND, "sandbox %s no longer exists", sb.ID)
		}
		s.audit(ctx, call, sb, ActionExec, err, nil)
		return nil, fmt.Errorf("exec in sandbox %s: %w", sb.ID, err)
	}
	s.audit(ctx, call, sb, ActionExec, nil, map[string]string{
		"exitCode":   strconv.Itoa(res.ExitCode),
		"durationMs": strconv.FormatInt(res.DurationMs, 10),
	})
	return res, nil
}

// boundTimeout fits a command's timeout into what is left of the caller's
// deadline, keeping the margin to answer.
func (s *Service) boundTimeout(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	d, ok := ctx.Deadline()
	if !ok {
		return timeout, nil
	}
	avail := time.Until(d) - s.opts.ExecTimeoutMargin
	if avail < time.Second {
		return 0, sandstep.Errorf(sandstep.ETIMEOUT, "not enough time left in this invocation to run a command")
	}
	return min(timeout, avail.Truncate(time.Second)), nil
}

// GetSandbox returns the caller's sandbox merged with the provider's
// current state. A sandbox the provider no longer has is shown as gone and
// its slot released.
func (s *Service) GetSandbox(ctx context.Context, call Call, id string) (*sandstep.Sandbox, error) {
	if err := requireUser(call); err != nil {
		return nil, err
	}
	sb, err := s.ownedSandbox(ctx, call, id)
	if err != nil {
		return nil, err
	}
	if sb.State.Terminal() || sb.DaytonaID == "" {
		return sb, nil
	}
	ps, err := s.provider.Get(ctx, sb.DaytonaID)
	switch {
	case sandstep.ErrorCode(err) == sandstep.ENOTFOUND, err == nil && (ps.State == "destroyed" || ps.State == "destroying"):
		return s.markGone(ctx, call, sb), nil
	case err != nil:
		// Status stays answerable while the provider is not: the record is
		// returned and the provider's state marked unknown.
		s.opts.Logger.WarnContext(ctx, "provider state unavailable", "sandboxId", sb.ID, "err", err)
		sb.ProviderState = "unknown"
		return sb, nil
	}
	sb.ProviderState = ps.State
	return sb, nil
}

// markGone records that the provider no longer has the sandbox and
// releases its slot. It returns the record as it now stands.
func (s *Service) markGone(ctx context.Context, call Call, sb *sandstep.Sandbox) *sandstep.Sandbox {
	now := s.opts.Now().UTC()
	updated, err := s.store.TransitionSandbox(ctx, sb.ID, []sandstep.State{sandstep.StateReady, sandstep.StateStopped, sandstep.StateCreating}, sandstep.StateGone, func(r *sandstep.Sandbox) {
		r.DeletedAt = &now
		r.ProviderState = "destroyed"
		r.Error = "the sandbox no longer exists at the provider"
	})
	if err != nil {
		// Someone else moved it (a concurrent delete); show what is there.
		if cur, gerr := s.store.GetSandbox(ctx, sb.ID); gerr == nil {
			return cur
		}
		s.opts.Logger.ErrorContext(ctx, "could not mark sandbox gone", "sandboxId", sb.ID, "err", err)
		return sb
	}
	cctx, cancel := s.cleanupContext(ctx)
	defer cancel()
	if _, err := s.store.ReleaseSlot(cctx, sb.Owner, sb.ID); err != nil {
		s.opts.Logger.ErrorContext(ctx, "gone sandbox: quota slot not released", "sandboxId", sb.ID, "err", err)
	}
	s.audit(ctx, call, updated, ActionGone, nil, nil)
	return updated
}

// ListSandboxes returns a page of the caller's sandboxes, newest first.
func (s *Service) ListSandboxes(ctx context.Context, call Call, limit int, cursor string) (*SandboxList, error) {
	if err := requireUser(call); err != nil {
		return nil, err
	}
	if limit < 0 || limit > MaxListLimit {
		return nil, sandstep.Invalid("limit", "must be between 1 and %d, got %d", MaxListLimit, limit)
	}
	if limit == 0 {
		limit = DefaultListLimit
	}
	items, next, err := s.store.ListSandboxes(ctx, call.UserID, limit, cursor)
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	if items == nil {
		items = []*sandstep.Sandbox{}
	}
	return &SandboxList{Items: items, NextCursor: next}, nil
}

// DeleteSandbox deletes the caller's sandbox. It is idempotent: deleting a
// deleted (or gone) sandbox returns it as it is. The slot is released
// exactly once, whatever the number of concurrent deletes.
func (s *Service) DeleteSandbox(ctx context.Context, call Call, id string) (*sandstep.Sandbox, error) {
	if err := requireUser(call); err != nil {
		return nil, err
	}
	sb, err := s.ownedSandbox(ctx, call, id)
	if err != nil {
		return nil, err
	}
	return s.delete(ctx, call, sb)
}

func (s *Service) delete(ctx context.Context, call Call, sb *sandstep.Sandbox) (*sandstep.Sandbox, error) {
	if sb.State.Terminal() {
		// Heals a delete that crashed between its transition and the
		// release: the store releases a slot at most once.
		if _, err := s.store.ReleaseSlot(ctx, sb.Owner, sb.ID); err != nil {
			return nil, fmt.Errorf("release slot of %s: %w", sb.ID, err)
		}
		return sb, nil
	}
	deleting, err := s.store.TransitionSandbox(ctx, sb.ID, []sandstep.State{sandstep.StateReady, sandstep.StateStopped, sandstep.StateDeleting}, sandstep.StateDeleting, nil)
	if err != nil {
		return s.settled(ctx, sb, err)
	}
	target := deleting.DaytonaID
	if target == "" {
		target = deleting.ID
	}
	if err := s.provider.Delete(ctx, target); err != nil {
		s.audit(ctx, call, deleting, ActionDelete, err, nil)
		return nil, fmt.Errorf("delete provider sandbox of %s: %w", sb.ID, err)
	}
	now := s.opts.Now().UTC()
	deleted, err := s.store.TransitionSandbox(ctx, sb.ID, []sandstep.State{sandstep.StateDeleting}, sandstep.StateDeleted, func(r *sandstep.Sandbox) {
		r.DeletedAt = &now
		r.ProviderState = "destroyed"
	})
	if err != nil {
		return s.settled(ctx, sb, err)
	}
	if _, err := s.store.ReleaseSlot(ctx, deleted.Owner, deleted.ID); err != nil {
		return nil, fmt.Errorf("release slot of %s: %w", deleted.ID, err)
	}
	s.audit(ctx, call, deleted, ActionDelete, nil, nil)
	return deleted, nil
}

// settled answers a delete that lost a race: if the record reached a
// terminal state meanwhile, that is the answer; otherwise the error stands.
func (s *Service) settled(ctx context.Context, sb *sandstep.Sandbox, err error) (*sandstep.Sandbox, error) {
	if sandstep.ErrorCode(err) == sandstep.ECONFLICT {
		if cur, gerr := s.store.GetSandbox(ctx, sb.ID); gerr == nil && cur.State.Terminal() {
			return cur, nil
		}
	}
	return nil, fmt.Errorf("delete sandbox %s: %w", sb.ID, err)
}

// AgentExecute creates a sandbox, runs one command in it and deletes it
// (unless KeepSandbox), in one call. Everything is validated before
// anything is created; the sandbox is deleted even when the command fails.
func (s *Service) AgentExecute(ctx context.Context, call Call, in AgentExecuteInput) (*AgentExecuteResult, error) {
	if err := requireUser(call); err != nil {
		return nil, err
	}
	files, err := s.validateCreate(&in.CreateSandboxInput)
	if err != nil {
		return nil, err
	}
	execIn := ExecInput{Command: in.Command, Cwd: in.Cwd, TimeoutSeconds: in.TimeoutSeconds}
	timeout, err := s.validateExec(&execIn)
	if err != nil {
		return nil, err
	}
	return idempotent(ctx, s, call, "agent-execute", in, func(ctx context.Context) (*AgentExecuteResult, error) {
		sb, err := s.create(ctx, call, in.CreateSandboxInput, files)
		if err != nil {
			return nil, err
		}
		// The command stops early enough for the delete to fit before the
		// caller's deadline.
		var res *ExecResult
		ectx, cancel, execErr := s.workContext(ctx)
		if execErr == nil {
			res, execErr = s.exec(ectx, call, sb, execIn, timeout)
			cancel()
		}
		out := &AgentExecuteResult{SandboxID: sb.ID}
		if !in.KeepSandbox {
			dctx, cancel := s.cleanupContext(ctx)
			_, derr := s.delete(dctx, call, sb)
			cancel()
			if derr != nil {
				// The command's result stands (it must not run twice); the
				// sandbox's ttlMinutes backstop and the reaper remove it.
				s.opts.Logger.ErrorContext(ctx, "agent execute: sandbox not deleted", "sandboxId", sb.ID, "err", derr)
			}
			out.Deleted = derr == nil
		}
		if execErr != nil {
			return nil, execErr
		}
		out.ExecResult = *res
		return out, nil
	})
}
