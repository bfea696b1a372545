package service

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/cost"
	"github.com/sandstep/sandstep/internal/logging"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/strictjson"
)

// The steps of the task state machine (infra/statemachine). Every step
// takes and returns ids only: a task's files, environment and output never
// travel through the execution's history.

// TaskStep is what the state machine carries between steps.
type TaskStep struct {
	TaskID    string `json:"taskId"`
	UserID    string `json:"userId"`
	SandboxID string `json:"sandboxId,omitempty"`
	// Ended says the command has ended (the watch is over). Always
	// present: the state machine's Choice reads it.
	Ended bool `json:"ended"`
	// WaitSeconds bounds the next wait for a nudge: the backstop poll.
	WaitSeconds int `json:"waitSeconds,omitempty"`
}

// The wrapper nudges just before it exits: until Daytona shows the exit,
// the watch looks again every nudgedPoll, for nudgedWindow.
const (
	nudgedPoll   = 2 * time.Second
	nudgedWindow = time.Minute
)

// Backstop is how long the watch of a task whose command has run for ran
// waits before it looks anyway. With a nudge possible that is nudge
// (TASK_BACKSTOP) or, for long tasks, 10 % of the time run; with none
// (nudge 0: egress blocked, no API URL) it is max(15 s, 10 % of the time
// run), so an end is noticed within that and a task of hours costs a few
// dozen looks.
func Backstop(ran, nudge time.Duration) time.Duration {
	const floor = 15 * time.Second
	if nudge > 0 {
		return max(nudge, ran/10)
	}
	return max(floor, ran/10)
}

// PrepareTask is the first step. A task started through the API exists
// already; a console start carries its spec inline ({"userId", "task":
// {…}}), which is validated and kept before anything else runs.
func (s *Service) PrepareTask(ctx context.Context, taskID string, input json.RawMessage) (*TaskStep, error) {
	if err := s.tasksEnabled(); err != nil {
		return nil, err
	}
	// A console start's input is read as strictly as POST /tasks reads its
	// body; POST /tasks itself starts the execution with the task's step.
	var in struct {
		TaskStep
		Task json.RawMessage `json:"task"`
	}
	if err := strictjson.Decode(input, &in); err != nil {
		return nil, strictjson.Named("input", err)
	}
	if in.TaskID != "" && in.TaskID != taskID {
		return nil, sandstep.Invalid("taskId", "must be the execution's name, %s, or left out", taskID)
	}
	if err := sandstep.ValidateUserID("userId", in.UserID); err != nil {
		return nil, err
	}
	if err := validateTaskID("taskId", taskID); err != nil {
		return nil, sandstep.Invalid("taskId", "the execution's name must be a task id (tsk_ and 26 letters a-z, digits 2-7)")
	}
	t, err := s.tasks.GetTask(ctx, taskID)
	switch {
	case err == nil && t.Owner != in.UserID:
		return nil, sandstep.Errorf(sandstep.ENOTFOUND, "task %q not found", taskID)
	case err == nil:
		return &TaskStep{TaskID: t.ID, UserID: t.Owner}, nil
	case sandstep.ErrorCode(err) != sandstep.ENOTFOUND:
		return nil, err
	case len(in.Task) == 0:
		return nil, sandstep.Invalid("task", "is required: a console start carries the task's spec")
	}
	if err := sandstep.ValidateCallerID("userId", in.UserID); err != nil {
		return nil, err
	}
	var spec TaskInput
	if err := strictjson.Decode(in.Task, &spec); err != nil {
		return nil, strictjson.Named("task", prefixField("task.", err))
	}
	if _, err := s.validateTask(&spec); err != nil {
		return nil, prefixField("task.", err)
	}
	// A console start is a new task: refused while drained, before
	// anything is kept.
	admit, drained := s.drainCheck(ctx)
	defer drained()
	if err := s.checkSecrets(ctx, in.UserID, "task.sandbox.", &spec.Sandbox); err != nil {
		return nil, err
	}
	if err := s.checkNotifySecret(ctx, in.UserID, spec.Notify); err != nil {
		return nil, prefixField("task.", err)
	}
	if err := admit(); err != nil {
		return nil, err
	}
	t, err = s.acceptTask(ctx, Call{UserID: in.UserID, RequestID: taskID}, taskID, spec, nil)
	if err != nil {
		return nil, err
	}
	s.auditTask(ctx, Call{UserID: t.Owner, RequestID: taskID}, t, ActionTaskStart, nil, map[string]string{"via": "execution"})
	return &TaskStep{TaskID: t.ID, UserID: t.Owner}, nil
}

// loadTask reads the step's task and its spec; the step's user must own it.
func (s *Service) loadTask(ctx context.Context, step TaskStep) (*sandstep.Task, *TaskInput, error) {
	t, err := s.tasks.GetTask(ctx, step.TaskID)
	if err != nil {
		return nil, nil, fmt.Errorf("get task %s: %w", step.TaskID, err)
	}
	if t.Owner != step.UserID {
		return nil, nil, sandstep.Errorf(sandstep.ENOTFOUND, "task %q not found", step.TaskID)
	}
	// The owner only: the sandbox the record names may be one a retried
	// create is replacing; the steps that run in it learn it themselves.
	logging.Learn(ctx, t.Owner, "")
	spec, err := s.taskSpec(ctx, t.ID)
	if err != nil {
		return nil, nil, err
	}
	return t, spec, nil
}

// taskSpec reads the spec task id was started with.
func (s *Service) taskSpec(ctx context.Context, id string) (*TaskInput, error) {
	raw, err := s.objects.Get(ctx, specKey(id))
	if err != nil {
		return nil, fmt.Errorf("read the spec of task %s: %w", id, err)
	}
	var spec TaskInput
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, sandstep.Wrap(err, sandstep.EINTERNAL, "the spec of task %s is unreadable", id)
	}
	return &spec, nil
}

// CreateTaskSandbox makes the task's sandbox: a quota slot, the sandbox
// (auto-stop off: a task's processes do not count as activity at
// Daytona), its secrets, files and repository. A retry after a failed
// attempt starts over with a new sandbox; a repository's task over its
// quota, and Daytona running out of capacity, are retried by the state
// machine (notAdmitted).
func (s *Service) CreateTaskSandbox(ctx context.Context, step TaskStep) (*TaskStep, error) {
	// An issue's task waits while drained; anyone else's was accepted
	// before the drain (Prepare) and goes on.
	admit := func() error { return nil }
	if _, ok := sandstep.RepoOf(step.UserID); ok {
		var drained func()
		admit, drained = s.drainCheck(ctx)
		defer drained()
	}
	t, spec, err := s.loadTask(ctx, step)
	if err != nil {
		return nil, err
	}
	if t.Status != sandstep.TaskQueued {
		return nil, sandstep.Errorf(sandstep.ECONFLICT, "task %s is %s; its sandbox is made while it is queued", t.ID, t.Status)
	}
	if t.SandboxID != "" {
		// A retry after the sandbox was recorded: a read that fails says
		// nothing of it, and another sandbox would take its place on the
		// task.
		sb, err := s.sandboxes.GetSandbox(ctx, t.SandboxID)
		switch {
		case err == nil && sb.State == sandstep.StateReady:
			logging.Learn(ctx, "", sb.ID)
			return &TaskStep{TaskID: t.ID, UserID: t.Owner, SandboxID: sb.ID}, nil
		case err != nil && sandstep.ErrorCode(err) != sandstep.ENOTFOUND:
			return nil, fmt.Errorf("read the sandbox of task %s: %w", t.ID, err)
		}
	}
	// One attempt at a time makes the task's sandbox: the state machine
	// asks the step again when an invocation's answer is lost, and that
	// invocation may still be running (it would find no slot, or make a
	// second sandbox). The claim lasts while this invocation can.
	until := s.createClaimEnd(ctx)
	if err := s.tasks.ClaimTaskCreate(ctx, t.ID, t.SandboxID, until); err != nil {
		return nil, fmt.Errorf("claim the making of task %s's sandbox: %w", t.ID, err)
	}
	t.CreateClaim = until.UnixMilli()
	var lost discardedSandbox
	next, err := s.makeTaskSandbox(ctx, t, spec, admit, &lost)
	if err != nil && t.CreateClaim == until.UnixMilli() {
		// Let go now, so that the attempt asked next need not wait for
		// this one's time to run out (which it does if this write fails),
		// in a write that carries what the attempt used, its sandbox's
		// life too when it made one.
		cctx, cancel := s.cleanupContext(ctx)
		defer cancel()
		_, cerr := s.tasks.TransitionTask(cctx, t.ID, []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskQueued, func(r *sandstep.Task) {
			if r.CreateClaim == t.CreateClaim {
				r.CreateClaim = 0
			}
			lost.addTo(r)
		})
		if sandstep.ErrorCode(cerr) == sandstep.ECONFLICT && lost.sb != nil {
			// Cancelled meanwhile: its usage still gets the sandbox
			// Daytona made (and billed) for it.
			_, cerr = s.tasks.TransitionTask(cctx, t.ID, []sandstep.TaskStatus{sandstep.TaskCancelled}, sandstep.TaskCancelled, lost.addTo)
		}
		if cerr != nil && sandstep.ErrorCode(cerr) != sandstep.ECONFLICT {
			s.opts.Logger.WarnContext(ctx, "the claim on the task's sandbox was not let go", "taskId", t.ID, "err", cerr)
		}
	}
	return next, err
}

// createClaimEnd is when the invocation of ctx will have ended: its
// deadline, or, without one, when the reaper takes a sandbox still
// creating for abandoned.
func (s *Service) createClaimEnd(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return s.opts.Now().Add(abandonedAfter)
}

// makeTaskSandbox makes the sandbox of t, whose making this attempt has
// claimed, and records it on t with the claim let go; a sandbox the
// provider made that the create deleted is told to lost.
func (s *Service) makeTaskSandbox(ctx context.Context, t *sandstep.Task, spec *TaskInput, admit func() error, lost *discardedSandbox) (*TaskStep, error) {
	if err := admit(); err != nil {
		return nil, s.notAdmitted(ctx, t, nil, err)
	}
	if issueTaskOf(t) {
		// Read here, before anything is made, not where an issue starts its
		// task: the GitHub function may read no secret.
		if err := s.checkNotifySecret(ctx, t.Owner, spec.Notify); err != nil {
			return nil, err
		}
	}
	in := spec.Sandbox
	never := 0
	ttl := int((time.Duration(t.TimeoutSeconds)*time.Second + sandstep.TaskCleanupMargin + time.Minute - 1) / time.Minute)
	in.AutoStopMinutes, in.TTLMinutes = &never, &ttl
	plan, err := s.validateCreate(&in)
	if err != nil {
		return nil, prefixField("sandbox.", err)
	}
	plan.task, plan.discarded = t.ID, lost.add
	plan.wanted = func(ctx context.Context) error {
		// A read that fails says nothing of a cancel: the create goes on,
		// and its record's write finds one.
		if cur, err := s.tasks.GetTask(ctx, t.ID); err == nil && cur.Status != sandstep.TaskQueued {
			return sandstep.Errorf(sandstep.ECONFLICT, "task %s is %s; its sandbox is made while it is queued", t.ID, cur.Status)
		}
		// An issue's task waits while drained (admit), a drain begun
		// while it waited for the rate too.
		if repoOwned(t) && s.drain != nil && s.drain.Drained(ctx) {
			return sandstep.Errorf(sandstep.EDRAINING, DrainedMessage)
		}
		return nil
	}
	// The sandbox may reach the API's host, or the task is told to expect
	// no nudge (the policy may have changed since the task was accepted).
	var nudge string
	plan.network, nudge = taskNetwork(plan.network, t.APIURL)
	// An issue's repository is cloned with a token that can only read it,
	// which the agent keeps for its own fetches.
	var token *RepoToken
	if s.repoTask(t) {
		plan.cloneToken = func(ctx context.Context) (RepoToken, []UploadFile, error) {
			var tok RepoToken
			err := s.withGitHubWaits(ctx, cloneWaitFloor, func() (err error) {
				tok, err = s.readAccess(ctx, t)
				return err
			})
			if err != nil {
				return RepoToken{}, nil, err
			}
			token = &tok
			return tok, []UploadFile{credentialFile(readCredential, tok)}, nil
		}
	}
	call := Call{UserID: t.Owner, RequestID: t.ID}
	sb, err := s.create(ctx, call, in, plan)
	if err != nil {
		return nil, s.notAdmitted(ctx, t, token, err)
	}
	var expires *time.Time
	if token != nil {
		expires = &token.ExpiresAt
	}
	if _, err := s.tasks.TransitionTask(ctx, t.ID, []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskQueued,
		func(r *sandstep.Task) {
			r.SandboxID, r.APIURL, r.TokenExpiresAt, r.CreateClaim = sb.ID, nudge, expires, 0
			sandboxUsage(r, sb)
		}); err != nil {
		// The sandbox is not the task's: deleted now (else the reaper
		// would, later), and the clone's token with it.
		if _, derr := s.delete(ctx, call, sb); derr != nil {
			s.opts.Logger.ErrorContext(ctx, "task sandbox not deleted", "sandboxId", sb.ID, "err", derr)
		}
		s.revokeCloneToken(ctx, t, token)
		return nil, fmt.Errorf("record the sandbox of task %s: %w", t.ID, err)
	}
	logging.Learn(ctx, "", sb.ID)
	s.admitted(ctx, t)
	return &TaskStep{TaskID: t.ID, UserID: t.Owner, SandboxID: sb.ID}, nil
}

// taskSession is the provider session a task's command runs in.
func taskSession(taskID string) string { return "task-" + taskID }

// StartTaskCommand starts the task's command asynchronously, with its
// output going to files the watch reads, re-anchors the sandbox's
// lifetime to the task's deadline, and marks the task running.
func (s *Service) StartTaskCommand(ctx context.Context, step TaskStep) (*TaskStep, error) {
	t, spec, err := s.loadTask(ctx, step)
	if err != nil {
		return nil, err
	}
	logging.Learn(ctx, "", t.SandboxID)
	if t.Status == sandstep.TaskRunning && t.CommandID != "" {
		return s.nextWait(t, step), nil // a retry after it started
	}
	if t.Status != sandstep.TaskQueued || t.SandboxID == "" {
		return nil, sandstep.Errorf(sandstep.ECONFLICT, "task %s is %s; its command starts once its sandbox is made", t.ID, t.Status)
	}
	sb, err := s.sandboxes.GetSandbox(ctx, t.SandboxID)
	if err != nil {
		return nil, err
	}
	// The upload makes the task's directory; the command's redirections
	// make its output files. Uploaded, they would be replaced when a
	// start whose answer was lost is asked again, while the first try's
	// command (which the retry's waits behind) writes on into the old ones. The
	// nudge file stays empty when no nudge is expected; the wrapper then
	// never reads it. It is this start's own (taskCommandLine): a start
	// asked again while this one runs must not replace the secret this
	// start's mark may be the one to record.
	secret, hash := nudgeSecret()
	nudge := UploadFile{Path: taskDir + "/nudge-" + randomID()}
	if t.APIURL != "" {
		nudge.Content = []byte("Authorization: Bearer " + secret + "\n")
	}
	if err := s.provider.Upload(ctx, sb.DaytonaID, []UploadFile{nudge}); err != nil {
		return nil, fmt.Errorf("prepare the task's files: %w", err)
	}
	timeout := time.Duration(t.TimeoutSeconds) * time.Second
	// From now: the sandbox's recorded ttlMinutes, which the reaper goes
	// by, follows, or a command started a while after its sandbox was
	// made would have it deleted before its deadline.
	if err := s.moveLife(ctx, sb, timeout+sandstep.TaskCleanupMargin); err != nil {
		return nil, fmt.Errorf("the task's sandbox: %w", err)
	}
	env, prelude := spec.Env, ""
	if s.repoTask(t) {
		env = agentGitEnv(t, env)
		prelude = `export SANDSTEP_GITHUB_CREDENTIAL="$PWD/` + readCredential + `"` + "\n"
		if g := spec.Sandbox.Git; g != nil {
			prelude += startHeadLine(clonePath(g))
		}
	}
	line := prelude + taskCommandLine(t.ID, spec.Command, spec.Cwd, env, nudgeURL(t), nudge.Path)
	cmdID, err := s.sessions.StartCommand(ctx, sb.DaytonaID, taskSession(t.ID), line)
	if err != nil {
		return nil, fmt.Errorf("start the task's command: %w", err)
	}
	now := s.opts.Now().UTC()
	deadline := now.Add(timeout)
	running, err := s.tasks.TransitionTask(ctx, t.ID, []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskRunning, func(r *sandstep.Task) {
		r.StartedAt, r.Deadline = &now, &deadline
		r.SessionID, r.CommandID, r.NudgeHash = taskSession(t.ID), cmdID, hash
	})
	if err != nil {
		// The write may have landed with its answer lost, or another
		// invocation of this step (asked again while this one ran) may
		// have marked the task running with its own line: either way the
		// command the session runs is the task's (this line, behind it,
		// only answers its exit code), and killing the session would kill
		// it. Unread, the task may be either: the command is left to a
		// retry, whose line finds it ran, and the answer is one the state
		// machine asks again whatever refused the write (a refusal may be
		// the other invocation's mark; caught, the clean-up would fail a
		// healthy task). Read still queued, the other invocation's mark
		// may be on its way, its command in the session: the command is
		// left to the step asked again (whose line finds it ran) or to the
		// clean-up. Only a task read as ended has its command killed.
		cur, gerr := s.tasks.GetTask(ctx, t.ID)
		switch {
		case gerr != nil:
			return nil, sandstep.Wrap(fmt.Errorf("mark task %s running: %w", t.ID, err), sandstep.ETRANSIENT,
				"task %s was not marked running and could not be read again; try again", t.ID)
		case cur.Status == sandstep.TaskRunning && cur.CommandID != "":
			return s.nextWait(cur, step), nil
		case cur.Status.Terminal():
			_ = s.sessions.StopCommand(ctx, sb.DaytonaID, taskSession(t.ID))
		}
		return nil, fmt.Errorf("mark task %s running: %w", t.ID, err)
	}
	return s.nextWait(running, step), nil
}

// nextWait is the step data of a running task, with the backstop wait.
func (s *Service) nextWait(t *sandstep.Task, step TaskStep) *TaskStep {
	now := s.opts.Now()
	var ran time.Duration
	if t.StartedAt != nil {
		ran = now.Sub(*t.StartedAt)
	}
	var nudge time.Duration
	if t.APIURL != "" {
		nudge = s.opts.TaskBackstop
	}
	wait := Backstop(ran, nudge)
	if t.NudgedAt != nil && now.Sub(*t.NudgedAt) < nudgedWindow {
		wait = nudgedPoll
	}
	wait = tokenWait(t, now, wait)
	if t.Deadline != nil {
		// The deadline is noticed within a second of passing.
		wait = min(wait, max(t.Deadline.Sub(now)+time.Second, time.Second))
	}
	return &TaskStep{TaskID: t.ID, UserID: t.Owner, SandboxID: step.SandboxID, WaitSeconds: int((wait + time.Second - 1) / time.Second)}
}

// nudgeSecret is a task's nudge secret and the hash kept of it.
func nudgeSecret() (secret, hash string) {
	secret = randomID() + randomID()
	sum := sha256.Sum256([]byte(secret))
	return secret, hex.EncodeToString(sum[:])
}

// nudgeURL is where the command's wrapper posts when it ends, or "".
func nudgeURL(t *sandstep.Task) string {
	if t.APIURL == "" {
		return ""
	}
	return strings.TrimSuffix(t.APIURL, "/") + "/tasks/" + t.ID + "/nudge"
}

// WaitTask keeps the token of the state machine's wait, so a nudge can
// end it, then looks once whether the command has already ended (it may
// have nudged before the token was kept).
func (s *Service) WaitTask(ctx context.Context, step TaskStep, token string) error {
	if token == "" {
		return sandstep.Invalid("token", "is required")
	}
	var nudged, counted bool
	t, err := s.tasks.TransitionTask(ctx, step.TaskID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning,
		func(r *sandstep.Task) {
			if !counted {
				// An earlier wait's token: a Check and the Ended? choice
				// ran since, and this write carries them (the Check wrote
				// nothing when it found nothing new). Not counted in
				// advance by that wait: a task stopped while it waits
				// never runs them.
				counted = true
				if r.WaitToken != "" && r.WaitToken != token {
					cost.MeterFrom(ctx).Stands(3)
				}
			}
			if r.Owner != step.UserID {
				// Refused below; the owner's wait keeps its token and
				// its nudge, which a stranger's step must not take.
				return
			}
			r.WaitToken = token
			// A nudge no wait has ended for: the check before this wait
			// may have read the task before it. Once only, so a nudge
			// never spins the watch.
			nudged = r.NudgedAt != nil && !r.NudgeWoken
			r.NudgeWoken = r.NudgeWoken || nudged
		})
	if err != nil {
		if sandstep.ErrorCode(err) == sandstep.ECONFLICT {
			// Cancelled or ended meanwhile: wake the wait so the check
			// sees it at once.
			return s.wakeNow(ctx, step.TaskID, token)
		}
		return err
	}
	if t.Owner != step.UserID {
		return sandstep.Errorf(sandstep.ENOTFOUND, "task %q not found", step.TaskID)
	}
	logging.Learn(ctx, t.Owner, t.SandboxID)
	if nudged {
		err := s.wakeNow(ctx, t.ID, token)
		if err != nil {
			// Asked again (the state machine retries the Wait): the
			// retry's wait is the one to end.
			s.unmarkNudge(ctx, t.ID, func(r *sandstep.Task) bool { return r.WaitToken == token && r.NudgeWoken },
				func(r *sandstep.Task) { r.NudgeWoken = false })
		}
		return err
	}
	// The look is only a shortcut: the wait's timeout brings the check,
	// which deals with what failed here (a sandbox stopped, Daytona
	// unavailable). Failing the wait for it would spend the state
	// machine's retries, then the task.
	ended, err := s.commandEnded(ctx, t)
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "the wait did not look whether the command has ended; the check at its timeout will", "taskId", t.ID, "err", err)
		return nil
	}
	if ended {
		return s.wakeNow(ctx, t.ID, token)
	}
	return nil
}

// wakeNow ends the wait whose token is token, the task having something
// for its check to see. A wake refused for a moment is returned, and the
// state machine asks again in seconds (it retries nothing else); one
// refused otherwise is left to the wait's timeout, whose check sees the
// same, rather than failing the task.
func (s *Service) wakeNow(ctx context.Context, taskID, token string) error {
	err := s.wake(ctx, token)
	if err != nil && sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
		s.opts.Logger.WarnContext(ctx, "the wait was not ended; the check at its timeout will see the task", "taskId", taskID, "err", err)
		return nil
	}
	return err
}

// commandEnded reports whether the task's command has ended, or its
// sandbox or command is gone: either way the check has something to see.
func (s *Service) commandEnded(ctx context.Context, t *sandstep.Task) (bool, error) {
	sb, err := s.sandboxes.GetSandbox(ctx, t.SandboxID)
	if sandstep.ErrorCode(err) == sandstep.ENOTFOUND {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	code, err := s.sessions.CommandExit(ctx, sb.DaytonaID, t.SessionID, t.CommandID)
	if sandstep.ErrorCode(err) == sandstep.ENOTFOUND {
		return true, nil
	}
	return code != nil, err
}

func (s *Service) wake(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	err := s.machine.Wake(ctx, token, []byte(`{}`))
	if sandstep.ErrorCode(err) == sandstep.ENOTFOUND {
		return nil // that wait has ended already
	}
	return err
}

// NudgeTask is the command's wrapper saying "look now". It carries the
// task's nudge secret and nothing else: the outcome is always read from
// the provider, so a sandbox cannot forge a result. A wrong secret is not
// found, like a task that does not exist. Only the first nudge counts, so
// a sandbox cannot spend the state machine's transitions by nudging.
func (s *Service) NudgeTask(ctx context.Context, id, secret string) error {
	if err := s.tasksEnabled(); err != nil {
		return err
	}
	if err := validateTaskID("id", id); err != nil {
		return err
	}
	t, err := s.tasks.GetTask(ctx, id)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(secret))
	if t.NudgeHash == "" || subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(t.NudgeHash)) != 1 {
		return sandstep.Errorf(sandstep.ENOTFOUND, "task %q not found", id)
	}
	if t.Status != sandstep.TaskRunning || t.NudgedAt != nil {
		return nil
	}
	now := s.opts.Now().UTC()
	t, err = s.tasks.TransitionTask(ctx, id, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning, func(r *sandstep.Task) {
		if r.NudgedAt == nil {
			r.NudgedAt = &now
		}
	})
	if err != nil {
		if sandstep.ErrorCode(err) == sandstep.ECONFLICT {
			return nil // it has ended meanwhile
		}
		return err
	}
	if !t.NudgedAt.Equal(now) {
		return nil // another nudge came first
	}
	// The wrapper is still exiting: Daytona may not show the exit yet,
	// and the watch looks again shortly (nextWait).
	err = s.wake(ctx, t.WaitToken)
	if err != nil {
		// The wrapper asks again (5xx): that nudge is then the first.
		s.unmarkNudge(ctx, id, func(r *sandstep.Task) bool { return r.NudgedAt != nil && r.NudgedAt.Equal(now) },
			func(r *sandstep.Task) { r.NudgedAt = nil })
	}
	return err
}

// unmarkNudge undoes, where mine says the mark is still this call's, what
// a nudge's or a wait's write marked before its wake was refused, so that
// the wake asked again is made. Not undone, the wait ends at its timeout.
func (s *Service) unmarkNudge(ctx context.Context, taskID string, mine func(*sandstep.Task) bool, undo func(*sandstep.Task)) {
	_, err := s.tasks.TransitionTask(ctx, taskID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning, func(r *sandstep.Task) {
		if mine(r) {
			undo(r)
		}
	})
	if err != nil && sandstep.ErrorCode(err) != sandstep.ECONFLICT {
		s.opts.Logger.WarnContext(ctx, "a refused wake's mark not undone; the wait ends at its timeout", "taskId", taskID, "err", err)
	}
}

// CheckTask is the watch: it stores new output, and ends the watch when
// the command has ended, its deadline has passed (the command is killed)
// or its sandbox is gone.
func (s *Service) CheckTask(ctx context.Context, step TaskStep) (*TaskStep, error) {
	t, err := s.tasks.GetTask(ctx, step.TaskID)
	if err != nil {
		return nil, err
	}
	if t.Owner != step.UserID {
		return nil, sandstep.Errorf(sandstep.ENOTFOUND, "task %q not found", step.TaskID)
	}
	logging.Learn(ctx, t.Owner, t.SandboxID)
	if t.Status != sandstep.TaskRunning {
		// Cancelled meanwhile: the watch is over.
		return &TaskStep{TaskID: t.ID, UserID: t.Owner, SandboxID: t.SandboxID, Ended: true}, nil
	}
	sb, err := s.sandboxes.GetSandbox(ctx, t.SandboxID)
	if err != nil {
		return nil, err
	}
	pastDeadline := t.Deadline != nil && !s.opts.Now().Before(*t.Deadline)
	code, err := s.sessions.CommandExit(ctx, sb.DaytonaID, t.SessionID, t.CommandID)
	switch code := sandstep.ErrorCode(err); {
	case err == nil:
	case code == sandstep.ENOTFOUND:
		// Failing, caught: no Ended? choice, no Wait after it.
		cost.MeterFrom(ctx).Stands(1)
		return nil, s.sandboxVanished(ctx, t, sb, err)
	case code == sandstep.EINTERNAL && pastDeadline:
		// Gone from its running sandbox: an earlier try of this check
		// killed it at its deadline, then failed to finish.
	default:
		return nil, err
	}
	if code != nil || pastDeadline {
		// Ending the watch: no Wait follows to count this Check and the
		// Ended? choice (WaitTask), so its writes below carry them.
		cost.MeterFrom(ctx).Stands(2)
	}
	// A command past its deadline is killed first: its output is then
	// whole, stored before the task ends (a reader is told the output is
	// complete once the task has ended), here or, when more is left, by
	// Collect.
	late := code == nil && pastDeadline
	if late {
		// Marked before the kill: the task times out at this moment
		// whatever fails after (the kill, asked again by the check
		// retried; the store, this check; finishTask, cleanUpTask), and a
		// cancel can no longer land between the kill and its mark, ending
		// cancelled a command its deadline killed. Kept from a check asked
		// again, which kills again until the kill lands.
		if t.KilledAt == nil {
			now := s.opts.Now().UTC()
			killed, err := s.tasks.TransitionTask(ctx, t.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning,
				func(r *sandstep.Task) {
					if r.KilledAt == nil {
						r.KilledAt, r.KillPending = &now, true
					}
				})
			if err != nil {
				return nil, fmt.Errorf("record the kill of task %s: %w", t.ID, err)
			}
			t = killed
		}
		if err := s.sessions.StopCommand(ctx, sb.DaytonaID, t.SessionID); err != nil && sandstep.ErrorCode(err) != sandstep.ENOTFOUND {
			return nil, fmt.Errorf("kill the command of task %s: %w", t.ID, err)
		}
		// The kill landed: a kept sandbox's clean-up owes no stop to it
		// (killedAt with killPending says only that the task times out).
		// Pending is the mark that is written, not landed: a record of an
		// older version, whose killedAt stood only for a kill that landed,
		// reads as landed.
		if t.KillPending {
			landed, err := s.tasks.TransitionTask(ctx, t.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning,
				func(r *sandstep.Task) { r.KillPending = false })
			if err != nil {
				return nil, fmt.Errorf("record that the kill of task %s landed: %w", t.ID, err)
			}
			t = landed
		}
	}
	more, err := s.storeOutput(ctx, t, sb.DaytonaID, code != nil || late)
	if err != nil {
		return nil, err
	}
	ended := &TaskStep{TaskID: t.ID, UserID: t.Owner, SandboxID: sb.ID, Ended: true}
	switch {
	case code != nil:
		return ended, s.recordExit(ctx, t, *code)
	case late && more:
		// Not ended yet: a reader would be told the output is whole.
		// Collect stores the rest, then times it out (finishTask), as
		// does any clean-up.
		return ended, nil
	case late:
		return ended, s.timedOut(ctx, t, "")
	}
	s.refreshReadToken(ctx, t, sb)
	next := s.nextWait(t, step)
	if more {
		// Readers would fall further behind a command writing faster than
		// a check moves; at most MAX_TASK_LOG_BYTES / maxFetchPerCheck
		// such looks in a task.
		next.WaitSeconds = min(next.WaitSeconds, int(nudgedPoll/time.Second))
	}
	return next, nil
}

// recordExit keeps the command's exit code; the task stays running until
// its output and artifacts are collected.
func (s *Service) recordExit(ctx context.Context, t *sandstep.Task, code int) error {
	_, err := s.tasks.TransitionTask(ctx, t.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning,
		func(r *sandstep.Task) { r.ExitCode = &code })
	return err
}

// timedOut ends a task whose command was killed at its deadline.
// unstored, when set, says why its last output was not stored
// (noteUnstored).
func (s *Service) timedOut(ctx context.Context, t *sandstep.Task, unstored string) error {
	at := s.opts.Now().UTC()
	if t.KilledAt != nil {
		at = *t.KilledAt
	}
	_, err := s.tasks.TransitionTask(ctx, t.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskTimedOut, func(r *sandstep.Task) {
		r.FinishedAt, r.Error = &at, timedOutReason(t)
		s.noteUnstored(r, unstored)
		if t.KilledAt != nil && !t.KillPending {
			// The kill landed (a clean-up's own): a clean-up asked again
			// owes a kept sandbox no stop. The mark is written once, so a
			// t that read it landed is never behind the record.
			r.KillPending = false
		}
	})
	return err
}

func timedOutReason(t *sandstep.Task) string {
	return "the command did not finish within " + (time.Duration(t.TimeoutSeconds) * time.Second).String()
}

// sandboxVanished ends a task whose sandbox is gone (deleted outside, its
// lifetime over): failed, with its slot released.
func (s *Service) sandboxVanished(ctx context.Context, t *sandstep.Task, sb *sandstep.Sandbox, cause error) error {
	s.markGone(ctx, Call{UserID: t.Owner, RequestID: t.ID}, sb)
	err := sandstep.Wrap(cause, sandstep.ENOTFOUND, "the task's sandbox %s no longer exists", sb.ID)
	if ferr := s.failTask(ctx, t, sandstep.ErrorMessage(err), unstoredGone); ferr != nil {
		s.opts.Logger.ErrorContext(ctx, "task not marked failed", "taskId", t.ID, "err", ferr)
	}
	return err
}

// CollectTask stores the last of the output and the artifacts, and gives
// the task its outcome.
func (s *Service) CollectTask(ctx context.Context, step TaskStep) (*TaskStep, error) {
	t, spec, err := s.loadTask(ctx, step)
	if err != nil {
		return nil, err
	}
	logging.Learn(ctx, "", t.SandboxID)
	if t.Status != sandstep.TaskRunning && t.Status != sandstep.TaskTimedOut {
		return &TaskStep{TaskID: t.ID, UserID: t.Owner, SandboxID: t.SandboxID}, nil
	}
	sb, err := s.sandboxes.GetSandbox(ctx, t.SandboxID)
	if err != nil {
		return nil, err
	}
	s.keepForCollect(ctx, t, sb)
	// The command has ended (or was killed at its deadline): its output
	// is whole. A task timed out already ended with it stored, its
	// readers told it is complete: what a process that outlived the kill
	// wrote since is not stored after that.
	if t.Status == sandstep.TaskRunning {
		if err := s.storeEndedOutput(ctx, t, sb.DaytonaID, s.collectRest(t, spec)); err != nil {
			return nil, err
		}
	}
	detail, err := s.collectArtifacts(ctx, t, sb, spec.Artifacts)
	if err != nil {
		return nil, err
	}
	if t.Status == sandstep.TaskRunning {
		if err := s.finishTask(ctx, t, spec, sb); err != nil {
			return nil, err
		}
	} else if cost.MeterFrom(ctx) != nil {
		// Timed out at its check, the task has nothing left to write:
		// without this write, this step's state, invocation, time and
		// requests would be on no record.
		if _, err := s.tasks.TransitionTask(ctx, t.ID, []sandstep.TaskStatus{sandstep.TaskTimedOut}, sandstep.TaskTimedOut, nil); err != nil {
			s.opts.Logger.WarnContext(ctx, "the collect's usage not recorded", "taskId", t.ID, "err", err)
		}
	}
	if len(detail) > 0 {
		s.opts.Logger.InfoContext(ctx, "artifacts collected", "taskId", t.ID, "detail", detail)
	}
	return &TaskStep{TaskID: t.ID, UserID: t.Owner, SandboxID: sb.ID}, nil
}

// keepForCollect moves the life of t's sandbox sb, which the start set to
// the command's deadline plus TaskCleanupMargin, to this invocation's end
// plus the margin when the invocation may outlive the deadline: a backlog
// stored over several invocations, and their retries' delays, can pass
// the margin. The record's ttlMinutes follows, so the reaper judges the
// sandbox by the life Daytona gives it. It is a backstop's move: a failure
// is logged, and the collect goes on (a sandbox gone is the stores' to
// report).
func (s *Service) keepForCollect(ctx context.Context, t *sandstep.Task, sb *sandstep.Sandbox) {
	end, timed := ctx.Deadline()
	if !timed || t.Deadline == nil {
		return
	}
	if s.opts.Now().Add(time.Until(end)).Before(*t.Deadline) {
		return
	}
	if err := s.moveLife(ctx, sb, time.Until(end)+sandstep.TaskCleanupMargin); err != nil {
		s.opts.Logger.WarnContext(ctx, "the task's sandbox's life not moved past its collect", "taskId", t.ID, "sandboxId", sb.ID, "err", err)
	}
}

// moveLife gives sb's sandbox keep more life from now at Daytona and
// records it on sb's record, whose ttlMinutes the reaper goes by: whole
// minutes, as Daytona counts a lifetime, asked rounded up and recorded
// from the record's creation rounded down (and never shortened), so the
// recorded end is never after Daytona's, by less than a minute: a sandbox
// Daytona ends at it lived its ttlMinutes, not gone early.
func (s *Service) moveLife(ctx context.Context, sb *sandstep.Sandbox, keep time.Duration) error {
	now, keep := s.opts.Now(), (keep+time.Minute-1)/time.Minute*time.Minute
	if err := s.sessions.KeepFor(ctx, sb.DaytonaID, keep); err != nil {
		return fmt.Errorf("keep it: %w", err)
	}
	ttl := int(now.Add(keep).Sub(sb.CreatedAt) / time.Minute)
	if _, err := s.sandboxes.TransitionSandbox(ctx, sb.ID, []sandstep.State{sandstep.StateReady}, sandstep.StateReady, func(r *sandstep.Sandbox) {
		r.TTLMinutes = max(r.TTLMinutes, ttl)
	}); err != nil {
		return fmt.Errorf("record its life: %w", err)
	}
	return nil
}

// finishTask gives a task whose command has ended its outcome: succeeded
// when it exited 0 and, for an issue's task, its commits became a pull
// request. A push or pull request refused fails the task; one that may
// work on a retry is returned for the state machine to retry.
func (s *Service) finishTask(ctx context.Context, t *sandstep.Task, spec *TaskInput, sb *sandstep.Sandbox) error {
	if t.KilledAt != nil || t.ExitCode == nil && t.Deadline != nil && !s.opts.Now().Before(*t.Deadline) {
		// Killed at its deadline (without the mark: by a check of an
		// earlier release).
		return s.timedOut(ctx, t, "")
	}
	to, reason, pull := sandstep.TaskSucceeded, "", ""
	switch {
	case t.ExitCode == nil || *t.ExitCode != 0:
		to = sandstep.TaskFailed
		if t.ExitCode != nil {
			reason = "the command exited with " + strconv.Itoa(*t.ExitCode)
		}
	case s.repoTask(t):
		url, err := s.openPullRequest(ctx, t, spec, sb)
		switch sandstep.ErrorCode(err) {
		case "":
			pull = url
		case sandstep.EINVALID, sandstep.ENOTFOUND:
			to, reason = sandstep.TaskFailed, "no pull request: "+sandstep.ErrorMessage(err)
			// The step succeeds: without this line the cause is only on
			// the record. The reason is caller-safe (tokens redacted).
			s.opts.Logger.WarnContext(ctx, "task failed: no pull request", "taskId", t.ID, "userId", t.Owner, "sandboxId", sb.ID, "reason", reason)
		default:
			return err
		}
	}
	now := s.opts.Now().UTC()
	_, err := s.tasks.TransitionTask(ctx, t.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, to, func(r *sandstep.Task) {
		r.FinishedAt, r.Error, r.PullRequest = &now, reason, pull
	})
	if sandstep.ErrorCode(err) == sandstep.ECONFLICT && pull != "" {
		s.keepPullRequest(ctx, t.ID, pull)
	}
	return err
}

// tellEnded writes the issue's ended comment of t, and again if its
// record gained a pull request as it was written (keepPullRequest, whose
// own comment may have landed first). A task already told (again: the
// ended execution's clean-up after a CleanUp step that answered its
// outcome) keeps that comment when this one cannot quote its output (a
// read failed); every other clean-up writes it even unquoted.
func (s *Service) tellEnded(ctx context.Context, t *sandstep.Task, patient, again bool) {
	if body, quoted := s.endedComment(ctx, t); quoted || !again {
		s.commentOnIssue(ctx, t, body, patient)
	} else {
		s.opts.Logger.WarnContext(ctx, "the issue's ended comment is left as it is: the task was told its end, and its output could not be quoted now", "taskId", t.ID)
	}
	s.tellEndedSince(ctx, t, patient)
}

// tellEndedSince reads the task again after a comment written from t: if
// its record ended, or gained a pull request, meanwhile, another writer's
// ended comment may have landed before that one, which then hides it, so
// the ended comment is written again.
func (s *Service) tellEndedSince(ctx context.Context, t *sandstep.Task, patient bool) {
	now, err := s.tasks.GetTask(ctx, t.ID)
	if err == nil && now.Status.Terminal() && (now.Status != t.Status || now.PullRequest != t.PullRequest) {
		body, _ := s.endedComment(ctx, now)
		s.commentOnIssue(ctx, now, body, patient)
	}
}

// keepPullRequest records pull, the pull request GitHub opened for a task
// that ended meanwhile (cancelled as it was opened), on the task and in
// its issue's comment: nobody would be told of it otherwise.
func (s *Service) keepPullRequest(ctx context.Context, id, pull string) {
	cur, err := s.tasks.GetTask(ctx, id)
	if err == nil && cur.Status.Terminal() && cur.PullRequest == "" {
		cur, err = s.tasks.TransitionTask(ctx, id, []sandstep.TaskStatus{cur.Status}, cur.Status, func(r *sandstep.Task) {
			if r.PullRequest == "" {
				r.PullRequest = pull
			}
		})
	}
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "a pull request opened as its task ended is not recorded on it", "taskId", id, "pullRequest", pull, "err", err)
		return
	}
	if cur.PullRequest == pull {
		body, _ := s.endedComment(ctx, cur)
		s.commentOnIssue(ctx, cur, body, false)
	}
}

// TaskFailure is what the state machine caught, handed to the cleanup.
type TaskFailure struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// CleanUpTask is the last step, on every path: the command is killed, the
// sandbox deleted (unless the task keeps it) and its slot released; a task
// that has not ended is failed with what the state machine caught. It
// answers the task's outcome: an error named Task.<outcome> with a cause a
// person can read when it did not succeed, which fails the execution.
func (s *Service) CleanUpTask(ctx context.Context, taskID string, failure *TaskFailure) (*sandstep.Task, error) {
	return s.cleanUpTask(ctx, taskID, failure, false)
}

// CleanUpTaskStep is CleanUpTask as the state machine's last step runs it:
// the issue's ended comment waits GitHub's rate limit out while the step
// has the time. The reaper and an ended execution's event, which clean up
// after it, do not wait.
func (s *Service) CleanUpTaskStep(ctx context.Context, taskID string, failure *TaskFailure) (*sandstep.Task, error) {
	return s.cleanUpTask(ctx, taskID, failure, true)
}

func (s *Service) cleanUpTask(ctx context.Context, taskID string, failure *TaskFailure, patient bool) (*sandstep.Task, error) {
	if err := s.tasksEnabled(); err != nil {
		return nil, err
	}
	t, err := s.tasks.GetTask(ctx, taskID)
	if sandstep.ErrorCode(err) == sandstep.ENOTFOUND && failure != nil {
		// A console start refused before its task existed: nothing to undo,
		// and the execution fails with what refused it (Sandbox.InvalidInput).
		return nil, &OutcomeError{Task: &sandstep.Task{ID: taskID, Status: sandstep.TaskFailed, Error: failure.message()}, Refused: failure.Error}
	}
	if err != nil {
		return nil, err
	}
	logging.Learn(ctx, t.Owner, t.SandboxID)
	// Told already (tellEnded): the ended execution's clean-up after a
	// CleanUp step that answered the task's outcome (Task.*), which it
	// answers after its ended comment. Finding the task ended says
	// nothing: Collect or a check ends it telling nobody, the CleanUp step
	// tells it; a step that failed every try (Sandbox.*), or an execution
	// that timed out in it, may have told nothing. A cancelled task is
	// never told: its execution is stopped with Task.Cancelled, and the
	// cancel writes no ended comment.
	again := failure.outcome() && t.Status.Terminal() && t.Status != sandstep.TaskCancelled
	// Its steps did not end it (one failed, its execution was lost): its
	// command is killed and what it wrote since the last check stored
	// before the task ends.
	killed, unstored := s.keepLastOutput(ctx, t, lastStoreTime(ctx, patient), true)
	// The task ends before its sandbox is let go: a clean-up that could not
	// end it fails here, and the one asked again finds the sandbox, with
	// nothing left to store.
	switch {
	case t.Status == sandstep.TaskRunning && t.KilledAt != nil:
		// Killed at its deadline; what failed since (its output's store)
		// does not make it a failure. This clean-up's kill landing lands
		// the deadline's too (timedOut clears killPending).
		t.KillPending = t.KillPending && !killed
		wctx, cancel := s.writeContext(ctx)
		err := s.timedOut(wctx, t, unstored)
		cancel()
		if err != nil && sandstep.ErrorCode(err) != sandstep.ECONFLICT {
			return nil, fmt.Errorf("time out task %s: %w", t.ID, endNotWritten(ctx, err))
		}
		t.Status = sandstep.TaskTimedOut // what settleTask finds
	case !t.Status.Terminal():
		reason := "the task ended without an outcome"
		if failure != nil {
			reason = failure.reason()
		}
		if err := s.failTask(ctx, t, reason, unstored); err != nil {
			return nil, err
		}
	}
	call := Call{UserID: t.Owner, RequestID: t.ID}
	if err := s.releaseTask(ctx, call, t, killed); err != nil {
		return nil, err
	}
	if t, err = s.settleTask(ctx, t); err != nil {
		return nil, err
	}
	if s.tellsIssue(t) {
		// Only then: the comment reads the output's tail (an S3 LIST and GET).
		s.tellEnded(ctx, t, patient, again)
	}
	// The task has ended and let go of its sandbox and slot: only now is
	// its caller told, and nothing of that can fail the clean-up.
	s.notifyEnded(ctx, t)
	if t.Status != sandstep.TaskSucceeded {
		return t, &OutcomeError{Task: t}
	}
	return t, nil
}

// settleTask reads the record of a task whose sandbox releaseTask let go
// of by writing it: the write ends the sandbox's usage and carries the
// invocation's, in place of a read. The status it expects is the one the
// task had, or failed; any other (changed meanwhile) is read instead.
func (s *Service) settleTask(ctx context.Context, t *sandstep.Task) (*sandstep.Task, error) {
	want := t.Status
	if !want.Terminal() {
		want = sandstep.TaskFailed
	}
	now := s.opts.Now()
	got, err := s.tasks.TransitionTask(ctx, t.ID, []sandstep.TaskStatus{want}, want, func(r *sandstep.Task) { sandboxEnded(r, now) })
	if sandstep.ErrorCode(err) == sandstep.ECONFLICT {
		return s.tasks.GetTask(ctx, t.ID)
	}
	return got, err
}

// OutcomeError is a task that did not succeed, as the execution's error:
// Task.Failed, Task.TimedOut or Task.Cancelled, with the task's error; or,
// for a start refused before its task existed, the refusal's name, but
// Task.Failed for a refusal the state machine would take for a passing
// failure of the clean-up and ask again (Sandbox.Transient, Lambda.*): it
// is final.
type OutcomeError struct {
	Task    *sandstep.Task
	Refused string
}

func (e *OutcomeError) Error() string { return e.Name() + ": " + e.Cause() }

// Name is the execution's error name.
func (e *OutcomeError) Name() string {
	if e.Refused != "" && strings.HasPrefix(e.Refused, "Sandbox.") && e.Refused != "Sandbox.Transient" {
		return e.Refused
	}
	switch e.Task.Status {
	case sandstep.TaskTimedOut:
		return "Task.TimedOut"
	case sandstep.TaskCancelled:
		return "Task.Cancelled"
	}
	return "Task.Failed"
}

// Cause is the task's error, for people.
func (e *OutcomeError) Cause() string {
	if e.Task.Error != "" {
		return "task " + e.Task.ID + ": " + e.Task.Error
	}
	return "task " + e.Task.ID + " " + string(e.Task.Status)
}

// outcome says f is a task's outcome as a CleanUp step answered it
// (OutcomeError): the execution's error after that step.
func (f *TaskFailure) outcome() bool { return f != nil && strings.HasPrefix(f.Error, "Task.") }

// reason is what the state machine caught, as a person reads it: the
// error's name and the message of a function's error (its cause is the
// function's error payload).
func (f *TaskFailure) reason() string { return f.Error + ": " + f.message() }

// message is the caught error's message: a function error's errorMessage,
// else the cause as it is.
func (f *TaskFailure) message() string {
	var lambdaErr struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(f.Cause), &lambdaErr) == nil && lambdaErr.ErrorMessage != "" {
		return lambdaErr.ErrorMessage
	}
	return f.Cause
}

// releaseTask kills the task's command (unless killed says it was) and
// deletes its sandbox, unless the task keeps it; its slot is released with
// the sandbox. Repeatable.
func (s *Service) releaseTask(ctx context.Context, call Call, t *sandstep.Task, killed bool) error {
	if t.SandboxID == "" {
		return nil
	}
	sb, err := s.sandboxes.GetSandbox(ctx, t.SandboxID)
	if sandstep.ErrorCode(err) == sandstep.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	if sb.State == sandstep.StateCreating {
		s.cleanupFailedCreate(ctx, call, sb, errors.New("the task ended before its sandbox was ready"))
		return nil
	}
	if t.KeepSandbox && t.Status != sandstep.TaskCancelled {
		// The caller asked to keep it, to look inside: without the
		// command. A sandbox deleted needs no stop, which a toolbox not
		// answering would hold up. A task never marked running may still
		// have its command in its session (a start whose mark did not
		// land, or whose invocation died after sending the line): the
		// session is the task's by name, and stopped all the same. Its
		// stop is owed only while the command may run: for a task never
		// marked running it is a guess, and for one whose command ended
		// (its exit code read, or its deadline's kill landed) it only ends
		// what the command left behind. One of those that fails (the
		// toolbox may not answer) is logged, and the sandbox left to its
		// lifetime, rather than failing the clean-up of a task that has
		// ended.
		if sb.State == sandstep.StateReady && !killed {
			err := s.sessions.StopCommand(ctx, sb.DaytonaID, taskSession(t.ID))
			switch {
			case err == nil, sandstep.ErrorCode(err) == sandstep.ENOTFOUND:
			case t.SessionID == "", t.ExitCode != nil, t.KilledAt != nil && !t.KillPending:
				s.opts.Logger.WarnContext(ctx, "the kept sandbox of a task whose command is not running was not stopped", "taskId", t.ID, "sandboxId", sb.ID, "err", err)
			default:
				return fmt.Errorf("kill the command of task %s: %w", t.ID, err)
			}
		}
		// Whoever uses the sandbox next, and what the agent left in it,
		// gets no live token of the repository's.
		if sb.State == sandstep.StateReady {
			s.revokeAgentToken(ctx, t, sb)
		}
		return nil
	}
	// Deleting the sandbox ends no token: what the agent copied out of it
	// stays live at GitHub for the rest of its hour. The files are read
	// while the sandbox is there, in half of what is left at most: a
	// toolbox that does not answer must not take the delete's time too
	// (a cancel has the github function's 10 s in all).
	if sb.State == sandstep.StateReady {
		rctx, cancel := ctx, context.CancelFunc(func() {})
		if d, ok := ctx.Deadline(); ok {
			rctx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Until(d)/2))
		}
		s.revokeAgentToken(rctx, t, sb)
		cancel()
	}
	if _, err := s.delete(ctx, call, sb); err != nil {
		return fmt.Errorf("delete the sandbox of task %s: %w", t.ID, err)
	}
	return nil
}

// Bounds on the last store of a running task's output before it ends: a
// cancel answers a caller within API Gateway's 29 s, the reaper and an
// ended execution's event clean up many; the state machine's clean-up step
// has two minutes in all, and keeps afterLastStore for what follows.
const (
	cancelStoreTime = 10 * time.Second
	finalStoreTime  = 30 * time.Second
	afterLastStore  = time.Minute
)

// keepLastOutput stores what a running task's command has written since the
// watch's last check, before the task ends, within budget; kill stops the
// command first, so what is stored is all it wrote, and killed says it
// was stopped. It runs while the task is still running, so a reader is
// not told the output is complete before it is; a check may store beside
// it (appendChunk keeps each byte once). unstored says, when it could not
// store it all, why (noteUnstored records it with the task's end); the
// failure is logged.
func (s *Service) keepLastOutput(ctx context.Context, t *sandstep.Task, budget time.Duration, kill bool) (killed bool, unstored string) {
	if t.Status != sandstep.TaskRunning || t.SessionID == "" || t.SandboxID == "" {
		return false, ""
	}
	sctx, cancel := context.WithTimeout(ctx, max(budget, 0))
	killed, reason, err := s.storeLastOutput(sctx, t, kill)
	if err != nil && sctx.Err() != nil {
		reason = unstoredNoTime
	}
	cancel()
	switch {
	case err == nil:
	case sandstep.ErrorCode(err) == sandstep.ECONFLICT:
		// Ended meanwhile: its own steps stored its output (the reason is
		// never written: noteUnstored rides only a live task's end).
	default:
		s.opts.Logger.WarnContext(ctx, "the task's last output not stored", "taskId", t.ID, "sandboxId", t.SandboxID, "err", err)
	}
	return killed, reason
}

// storeLastOutput is keepLastOutput's work; reason says, for people, why
// it failed.
func (s *Service) storeLastOutput(ctx context.Context, t *sandstep.Task, kill bool) (killed bool, reason string, err error) {
	sb, err := s.sandboxes.GetSandbox(ctx, t.SandboxID)
	switch {
	case sandstep.ErrorCode(err) == sandstep.ENOTFOUND:
		return false, unstoredGone, err
	case err != nil:
		return false, unstoredFailed, err
	case sb.State != sandstep.StateReady:
		return false, unstoredGone, sandstep.Errorf(sandstep.ENOTFOUND, "sandbox %s is %s", sb.ID, sb.State)
	}
	var killErr error
	if kill {
		killErr = s.sessions.StopCommand(ctx, sb.DaytonaID, t.SessionID)
		if sandstep.ErrorCode(killErr) == sandstep.ENOTFOUND {
			killErr = nil // ended, or killed before
		}
		killed = killErr == nil
	}
	// A check storing beside it moves the record on: it stores again from
	// there, a few times.
	for moves := 0; ; {
		more, err := s.storeOutput(ctx, t, sb.DaytonaID, killed)
		switch {
		case errors.Is(err, errOutputMoved) && t.Status == sandstep.TaskRunning && moves < 3:
			moves++
		case sandstep.ErrorCode(err) == sandstep.ENOTFOUND:
			return killed, unstoredGone, err
		case err != nil:
			return killed, unstoredFailed, err
		case more:
		case killErr != nil:
			return false, unstoredRunning, fmt.Errorf("kill the command of task %s: %w", t.ID, killErr)
		default:
			return killed, "", nil
		}
	}
}

// cancelStoreBudget is what a cancel may spend storing the task's last
// output: cancelStoreTime, but at most half of what its invocation has
// left, so that the cancel itself (the record's write, the execution's
// stop) is still made when the store takes all of it. The github
// function cancels within its 10 s Timeout, not a DELETE's 29 s: there a
// slow Daytona would otherwise leave the task running.
func cancelStoreBudget(ctx context.Context) time.Duration {
	budget := cancelStoreTime
	if d, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(d)/2)
	}
	return budget
}

// lastStoreTime is what a clean-up may spend storing a task's last output
// (keepLastOutput): its share, short of what the release, the issue's
// comment and the notice need after it.
func lastStoreTime(ctx context.Context, patient bool) time.Duration {
	budget := cancelStoreTime
	if patient {
		budget = finalStoreTime
	}
	if d, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(d)-afterLastStore)
	}
	return budget
}
