package service

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Tasks keeps task records.
type Tasks interface {
	PutTask(ctx context.Context, t *sandstep.Task) error
	GetTask(ctx context.Context, id string) (*sandstep.Task, error)
	TransitionTask(ctx context.Context, id string, from []sandstep.TaskStatus, to sandstep.TaskStatus, update func(*sandstep.Task)) (*sandstep.Task, error)
	ListTasks(ctx context.Context, owner string, limit int, cursor string, statuses ...sandstep.TaskStatus) ([]*sandstep.Task, string, error)
	// IssueTask is the live task of repo's issue (its number), strongly
	// consistent; nil when none. An issue's task is written with the
	// issue's claim, and PutTask refuses a second while one is live
	// (ECONFLICT, field sandstep.IssueClaimField); its end lets it go.
	IssueTask(ctx context.Context, repo, issue string) (*sandstep.Task, error)
	// MarkIssueCancelled records that repo's issue was cancelled at: its
	// task asked for before then (CreatedAt) is refused by PutTask
	// (ECONFLICT, sandstep.ErrIssueCancelled).
	MarkIssueCancelled(ctx context.Context, repo, issue string, at time.Time) error
	// IssueCancelledAt is when repo's issue was last marked cancelled,
	// strongly consistent; the zero time when it was not.
	IssueCancelledAt(ctx context.Context, repo, issue string) (time.Time, error)
	// ClaimTaskCreate claims the making of a queued task's sandbox, whose
	// recorded SandboxID is seen, for an attempt that ends by until:
	// ETRANSIENT while another attempt's claim holds or the task's sandbox
	// changed since seen, ECONFLICT once the task is not queued. The
	// attempt lets it go by setting the record's CreateClaim to 0.
	ClaimTaskCreate(ctx context.Context, id, seen string, until time.Time) error
}

// Objects keeps a task's bytes: its spec, its output, its artifacts.
type Objects interface {
	Put(ctx context.Context, key string, body []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
	// List returns up to limit keys under prefix that sort after after.
	List(ctx context.Context, prefix, after string, limit int) ([]string, error)
	// Link is a download URL for key, good for ttl.
	Link(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// Machine runs the task state machine.
type Machine interface {
	// Start starts the execution named name; the same name and input again
	// is the same execution.
	Start(ctx context.Context, name string, input []byte) (string, error)
	// Stop stops an execution; ENOTFOUND when there is none.
	Stop(ctx context.Context, executionARN, errName, cause string) error
	// Wake ends the wait token belongs to; ENOTFOUND when it has ended.
	Wake(ctx context.Context, token string, output []byte) error
	// Running reports whether the execution is still running, and when
	// one that is not ended (zero when it is not known, or there is no
	// such execution).
	Running(ctx context.Context, executionARN string) (running bool, stopped time.Time, err error)
	ExecutionARN(name string) string
}

// Sessions runs a task's command asynchronously in a sandbox.
type Sessions interface {
	// StartCommand starts line in the session. Asked again with the same
	// session (a retried step whose answer was lost), it starts line
	// again, to run after the first try's command: a task's line runs its
	// command once per session (taskCommandLine).
	StartCommand(ctx context.Context, sandboxID, sessionID, line string) (commandID string, err error)
	// CommandExit is the command's exit code, nil while it runs.
	CommandExit(ctx context.Context, sandboxID, sessionID, commandID string) (*int, error)
	// StopCommand ends the session and every process of the command.
	StopCommand(ctx context.Context, sandboxID, sessionID string) error
	// KeepFor re-anchors the sandbox's hard lifetime to now plus d.
	KeepFor(ctx context.Context, sandboxID string, d time.Duration) error
}

// Task limits, part of the public contract (README).
const (
	MaxArtifacts = 20
)

// Audit actions of tasks.
const (
	ActionTaskStart  = "task.start"
	ActionTaskFinish = "task.finish"
	ActionTaskCancel = "task.cancel"
)

// TaskInput is the body of POST /tasks (and the inline spec of a console
// start): the sandbox to make, the command to run in it, and how.
type TaskInput struct {
	Sandbox CreateSandboxInput `json:"sandbox"`
	Command string             `json:"command"`
	Cwd     string             `json:"cwd,omitempty"`
	Env     map[string]string  `json:"env,omitempty"`
	// TimeoutSeconds bounds the command, 1 to MAX_TASK_DURATION (nil:
	// the default and most, MAX_TASK_DURATION).
	TimeoutSeconds *int              `json:"timeoutSeconds,omitempty"`
	KeepSandbox    bool              `json:"keepSandbox,omitempty"`
	Artifacts      []string          `json:"artifacts,omitempty"`
	Metadata       sandstep.Metadata `json:"metadata"`
	// Notify, when set, is told when the task ends (notify.go).
	Notify *NotifyInput `json:"notify,omitempty"`
}

// TaskListInput asks for a page of the caller's tasks. Status is "live"
// (the default: queued or running), "all", or one status.
type TaskListInput struct {
	ListInput
	Status string `json:"status,omitempty"`
}

// TaskList is one page of the caller's tasks.
type TaskList struct {
	Items      []*sandstep.Task `json:"items"`
	NextCursor string           `json:"nextCursor,omitempty"`
}

// NewTaskID returns a fresh task id, "tsk_" and 26 random base32 letters;
// it is also the execution's name.
func NewTaskID() string { return "tsk_" + randomID() }

// specKey is where a task's spec is kept.
func specKey(taskID string) string { return "tasks/" + taskID + "/spec.json" }

// validateTask checks a task's input before anything is made, and returns
// the command's timeout.
func (s *Service) validateTask(in *TaskInput) (time.Duration, error) {
	if _, err := s.validateCreate(&in.Sandbox); err != nil {
		return 0, prefixField("sandbox.", err)
	}
	exec := ExecInput{Command: in.Command, Cwd: in.Cwd, Env: in.Env}
	if _, err := s.validateExec(&exec); err != nil && sandstep.ErrorField(err) != "timeoutSeconds" {
		return 0, err
	}
	if err := checkMetadata(in.Metadata); err != nil {
		return 0, err
	}
	timeout := s.opts.MaxTaskDuration
	if v := in.TimeoutSeconds; v != nil {
		max := int(s.opts.MaxTaskDuration / time.Second)
		if *v < 1 || *v > max {
			return 0, sandstep.Invalid("timeoutSeconds", "must be between 1 and %d (MAX_TASK_DURATION), got %d", max, *v)
		}
		timeout = time.Duration(*v) * time.Second
	}
	if err := sandstep.TooMany("artifacts", len(in.Artifacts), MaxArtifacts, "paths"); err != nil {
		return 0, err
	}
	for i, p := range in.Artifacts {
		field := fmt.Sprintf("artifacts[%d]", i)
		if path.IsAbs(p) {
			if err := tooLong(field, p, MaxPathBytes); err != nil {
				return 0, err
			}
			if strings.ContainsRune(p, 0) {
				return 0, sandstep.Invalid(field, "contains a NUL byte")
			}
			continue
		}
		c, err := validateRelPath(field, p)
		if err != nil {
			return 0, err
		}
		// Where the secrets file lives: an artifact is stored and served
		// by a link, and a task's secrets never are.
		if c == ReservedDir || strings.HasPrefix(c, ReservedDir+"/") {
			return 0, sandstep.Invalid(field, "%s/ is reserved for sandstep", ReservedDir)
		}
	}
	if err := s.validateNotify(in.Notify); err != nil {
		return 0, err
	}
	return timeout, nil
}

// prefixField names an invalid field by its full path in a larger input.
func prefixField(prefix string, err error) error {
	if e, ok := err.(*sandstep.Error); ok && e.Field != "" {
		c := *e
		c.Field = prefix + e.Field
		return &c
	}
	var e *sandstep.Error
	if errors.As(err, &e) && e.Field != "" { // wrapped with context: kept as its cause
		return &sandstep.Error{Code: e.Code, Field: prefix + e.Field, Message: e.Message, Err: err, RetryAfter: e.RetryAfter, SandboxID: e.SandboxID}
	}
	return err
}

// StartTask accepts a task: its spec is kept, its record written and its
// execution started, named by the task id. Everything is validated before
// anything is made. An execution that cannot be started leaves the task
// failed, never a record without an execution. While the deployment is
// drained it is refused (EDRAINING).
func (s *Service) StartTask(ctx context.Context, call Call, in TaskInput) (*sandstep.Task, error) {
	t, err := s.startTask(ctx, call, in, nil)
	if t != nil && t.Usage != nil {
		// The create function has no price table (PRICE_TABLE_REF), and
		// usage shown without its cost reads as free: the answer shows
		// neither; GET shows both.
		c := *t
		c.Usage = nil
		t = &c
	}
	return t, err
}

// startTask is StartTask. An issue's task (accepted set) is accepted
// while drained, and waits for its sandbox (CreateTaskSandbox); accepted
// is called once its record is written and before its execution starts,
// so that the issue's comment exists before any step can write it.
func (s *Service) startTask(ctx context.Context, call Call, in TaskInput, accepted func(context.Context, *sandstep.Task)) (*sandstep.Task, error) {
	if err := requireUser(call); err != nil {
		return nil, err
	}
	if err := s.tasksEnabled(); err != nil {
		return nil, err
	}
	if _, err := s.validateTask(&in); err != nil {
		return refused[*sandstep.Task](ctx, s, call, "task", in, err)
	}
	if err := s.checkSecrets(ctx, call.UserID, "sandbox.", &in.Sandbox); err != nil {
		return refused[*sandstep.Task](ctx, s, call, "task", in, err)
	}
	admit := func() error { return nil }
	if accepted == nil {
		var drained func()
		admit, drained = s.drainCheck(ctx)
		defer drained()
	}
	return idempotent(ctx, s, call, "task", in, func(ctx context.Context) (*sandstep.Task, error) {
		// Only here: an issue's task's notify.secretRef was checked as its
		// repository's when the document was read (checkIssueTask), reading
		// nothing: the GitHub function may read no secret, so its sandbox
		// step reads it. Read once the key is this call's: a retry of a
		// started task is answered from the key and starts nothing, so it
		// reads nothing (the secret may be gone or SSM throttling since).
		if accepted == nil {
			if err := s.checkNotifySecret(ctx, call.UserID, in.Notify); err != nil {
				return nil, err
			}
		}
		if err := admit(); err != nil {
			return nil, err
		}
		// The start stops early enough to be asked again and the task failed
		// after it: one that used the caller's whole time (throttled, or
		// never answered) would leave a queued task without an execution.
		wctx, cancel, err := reserved(ctx, startReserve)
		if err != nil {
			return nil, err
		}
		defer cancel()
		t, err := s.acceptTask(ctx, call, NewTaskID(), in, preparedUsage())
		if err != nil {
			return nil, err
		}
		if accepted != nil {
			// Bounded to leave the start its first try besides its reserve:
			// a GitHub slow to answer the issue's comment must not use the
			// time the execution's start needs (README: a GitHub that
			// cannot be told fails nothing). Short of that time, the issue
			// is told later, by the task's next comment.
			if actx, cancel, err := reserved(ctx, startReserve+startTryFor); err == nil {
				accepted(actx, t)
				cancel()
			}
		}
		if err := s.startExecution(ctx, wctx, t); err != nil {
			// The task exists, failed: its trail says who asked and why,
			// as a failed create's does.
			s.auditTask(ctx, call, t, ActionTaskStart, err, map[string]string{"error": sandstep.ErrorMessage(err)})
			// A start refused for good ran no step: its Prepare, counted
			// in advance, is taken back. One that may have landed keeps it.
			var undo func(*sandstep.Task)
			if !startUnknown(err) {
				undo = unprepared
			}
			if ferr := s.failTaskAnd(ctx, t, "the task could not be started: "+sandstep.ErrorMessage(err), "", undo); ferr != nil {
				s.opts.Logger.ErrorContext(ctx, "task not marked failed", "taskId", t.ID, "err", ferr)
			}
			if accepted != nil {
				s.tellNotStarted(ctx, t)
			}
			return nil, fmt.Errorf("start task %s: %w", t.ID, err)
		}
		s.auditTask(ctx, call, t, ActionTaskStart, nil, nil)
		return t, nil
	})
}

// startReserve is kept back from the caller's deadline by a task's start:
// time to ask a start whose outcome is unknown again (startTryFor), to
// fail the task, and to tell an issue so (a GitHub write, a second or
// two). The GitHub function has 10 s in all.
const startReserve = 3 * time.Second

// startTryFor is one try of a start: StartExecution answers in tens of
// milliseconds. It bounds the second try, and is the first's share of the
// time an issue's comment leaves (the first runs to the reserve).
const startTryFor = 500 * time.Millisecond

// startExecution starts t's execution within wctx. A start whose outcome is
// unknown (no answer in time, a fault) is asked again once, within ctx's
// reserve: Step Functions answers a start with a running execution's name
// and input with that execution, so a start that landed is not taken for a
// failure, and its task failed under its running execution. Answered
// that an execution of the name exists (it ended already), the first try
// landed too: the name is the new task's own.
func (s *Service) startExecution(ctx, wctx context.Context, t *sandstep.Task) error {
	input, _ := json.Marshal(TaskStep{TaskID: t.ID, UserID: t.Owner})
	_, err := s.machine.Start(wctx, t.ID, input)
	if err == nil || !startUnknown(err) {
		return err
	}
	rctx, cancel := Detached(ctx, startTryFor)
	defer cancel()
	if _, again := s.machine.Start(rctx, t.ID, input); again == nil || sandstep.ErrorCode(again) == sandstep.ECONFLICT {
		return nil
	}
	return err
}

// startUnknown says whether a start that failed with err may have landed.
func startUnknown(err error) bool {
	switch sandstep.ErrorCode(err) {
	case sandstep.ETRANSIENT, sandstep.ETIMEOUT:
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// acceptTask keeps the spec and writes the queued record, with usage
// (nil: none yet) on it.
func (s *Service) acceptTask(ctx context.Context, call Call, id string, in TaskInput, usage *sandstep.TaskUsage) (*sandstep.Task, error) {
	network, err := s.sandboxNetwork(in.Sandbox.Network)
	if err != nil {
		return nil, prefixField("sandbox.", err)
	}
	spec, err := json.Marshal(in)
	if err != nil {
		return nil, sandstep.Wrap(err, sandstep.EINTERNAL, "encode the task's spec")
	}
	if err := s.objects.Put(ctx, specKey(id), spec); err != nil {
		return nil, fmt.Errorf("keep the task's spec: %w", err)
	}
	t := &sandstep.Task{
		ID: id, Owner: call.UserID, Status: sandstep.TaskQueued, ExecutionARN: s.machine.ExecutionARN(id),
		Command: in.Command, TimeoutSeconds: int(s.opts.MaxTaskDuration / time.Second), KeepSandbox: in.KeepSandbox,
		Metadata: in.Metadata, CreatedAt: cmp.Or(call.AskedAt, s.opts.Now()).UTC(), Notify: newNotice(in.Notify), Usage: usage,
	}
	if in.TimeoutSeconds != nil {
		t.TimeoutSeconds = *in.TimeoutSeconds
	}
	// The configured URL (a custom domain) wins over the one the caller
	// used; a console start has neither, and is watched by polling alone,
	// as is a task whose sandbox's network cannot reach the API.
	_, t.APIURL = taskNetwork(network, cmp.Or(s.opts.NudgeURL, call.APIURL))
	if err := s.tasks.PutTask(ctx, t); err != nil {
		return nil, fmt.Errorf("record the task: %w", err)
	}
	return t, nil
}

// tasksEnabled says whether this deployment runs tasks.
func (s *Service) tasksEnabled() error {
	if s.tasks == nil || s.objects == nil || s.machine == nil || s.sessions == nil {
		return sandstep.Errorf(sandstep.EINTERNAL, "tasks are not configured in this deployment")
	}
	return nil
}

// GetTask returns the caller's task, or a repository's task to one of its
// readers; anyone else's is not found.
func (s *Service) GetTask(ctx context.Context, call Call, id string) (*sandstep.Task, error) {
	t, err := s.visibleTask(ctx, call, id)
	if err != nil {
		return nil, err
	}
	return s.priced(ctx, t), nil
}

// visibleTask is a task the caller owns or reads (mayRead): the one door
// of every call about one task. Anyone else is told it does not exist.
func (s *Service) visibleTask(ctx context.Context, call Call, id string) (*sandstep.Task, error) {
	if err := requireUser(call); err != nil {
		return nil, err
	}
	if err := s.tasksEnabled(); err != nil {
		return nil, err
	}
	if err := validateTaskID("id", id); err != nil {
		return nil, err
	}
	t, err := s.tasks.GetTask(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	if !s.mayRead(ctx, call, t) {
		s.denied(ctx, DeniedNotOwner, call.UserID, id)
		return nil, sandstep.Errorf(sandstep.ENOTFOUND, "task %q not found", id)
	}
	return t, nil
}

// liveTasks are the statuses a task list shows by default.
var liveTasks = []sandstep.TaskStatus{sandstep.TaskQueued, sandstep.TaskRunning}

// ListTasks returns a page of the caller's tasks, newest first: the live
// ones unless the input asks for others.
func (s *Service) ListTasks(ctx context.Context, call Call, in TaskListInput) (*TaskList, error) {
	if err := requireUser(call); err != nil {
		return nil, err
	}
	if err := s.tasksEnabled(); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.Limit)
	if err != nil {
		return nil, err
	}
	all := append(slices.Clone(liveTasks), sandstep.TaskSucceeded, sandstep.TaskFailed, sandstep.TaskTimedOut, sandstep.TaskCancelled)
	var statuses []sandstep.TaskStatus
	switch {
	case in.Status == "" || in.Status == "live":
		statuses = liveTasks
	case in.Status == "all":
	case slices.Contains(all, sandstep.TaskStatus(in.Status)):
		statuses = []sandstep.TaskStatus{sandstep.TaskStatus(in.Status)}
	default:
		return nil, sandstep.Invalid("status", "must be live, all or one of %v, got %q", all, sandstep.Clip(in.Status, 32))
	}
	items, next, err := fitPage(s.opts.MaxResponseBytes, limit, func(limit int) ([]*sandstep.Task, string, error) {
		items, next, err := s.tasks.ListTasks(ctx, call.UserID, limit, in.Cursor, statuses...)
		for i, t := range items {
			items[i] = s.priced(ctx, t)
		}
		return items, next, err
	})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	if items == nil {
		items = []*sandstep.Task{}
	}
	return &TaskList{Items: items, NextCursor: next}, nil
}

// CancelTask cancels the caller's task (or, for a reader, the
// repository's): what its command has written is stored, its execution
// stopped, its command killed, its sandbox deleted and its slot released.
// Cancelling again, or a task that has ended, returns it as it is.
func (s *Service) CancelTask(ctx context.Context, call Call, id string) (*sandstep.Task, error) {
	t, err := s.visibleTask(ctx, call, id)
	if err != nil {
		return nil, err
	}
	if t.Status.Terminal() && t.Status != sandstep.TaskCancelled || t.KilledAt != nil {
		// Ended, or killed at its deadline and ending as timed out.
		return s.priced(ctx, t), nil
	}
	// The error is shown wherever the task is (an issue's comment too): it
	// names no reader; the audit event does.
	why := "cancelled by its owner"
	if call.UserID != t.Owner {
		why = "cancelled by a reader of the repository"
	}
	_, unstored := s.keepLastOutput(ctx, t, cancelStoreBudget(ctx), false)
	now := s.opts.Now().UTC()
	// From a live status only, so the task's end is counted and audited
	// once; a task cancelled before has its release made again.
	cancelled, err := s.tasks.TransitionTask(ctx, id, []sandstep.TaskStatus{sandstep.TaskQueued, sandstep.TaskRunning},
		sandstep.TaskCancelled, func(r *sandstep.Task) {
			r.FinishedAt, r.Error = &now, why
			s.noteUnstored(r, unstored)
		})
	if err == nil {
		// Audited by the write that cancelled it, before what may fail
		// after: a DELETE asked again cancels nothing and writes nothing.
		s.auditTask(ctx, call, cancelled, ActionTaskCancel, nil, readerDetail(call, t))
	} else {
		cur, gerr := s.tasks.GetTask(ctx, id)
		switch {
		case gerr == nil && cur.Status == sandstep.TaskCancelled:
			cancelled = cur
		case gerr == nil && (cur.Status.Terminal() || cur.KilledAt != nil):
			// Ended meanwhile, or killed at its deadline (the store
			// refuses to cancel it: it ends timed out): as it is.
			return s.priced(ctx, cur), nil
		default:
			return nil, fmt.Errorf("cancel task %s: %w", id, err)
		}
	}
	if err := s.machine.Stop(ctx, cancelled.ExecutionARN, "Task.Cancelled", why); err != nil && sandstep.ErrorCode(err) != sandstep.ENOTFOUND {
		s.opts.Logger.ErrorContext(ctx, "cancel: execution not stopped", "taskId", id, "err", err)
	}
	if err := s.releaseTask(ctx, call, cancelled, false); err != nil {
		return nil, err
	}
	// Its sandbox's time ends at its delete, not at a later clean-up.
	if settled, err := s.settleTask(ctx, cancelled); err == nil {
		cancelled = settled
	} else {
		s.opts.Logger.WarnContext(ctx, "cancel: the sandbox's end not recorded; the clean-up records it", "taskId", id, "err", err)
	}
	return s.priced(ctx, cancelled), nil
}

// tellNotStarted edits the issue's comment of t, whose execution could not
// be started, to say how it ended.
func (s *Service) tellNotStarted(ctx context.Context, t *sandstep.Task) {
	if failed, err := s.tasks.GetTask(ctx, t.ID); err == nil {
		body, _ := s.endedComment(ctx, failed)
		s.commentOnIssue(ctx, failed, body, false)
	}
}

// failTask records that a task failed for reason (a caller-safe message),
// and, when unstored is set, why its last output was not stored
// (noteUnstored); unless it has ended (no error then).
func (s *Service) failTask(ctx context.Context, t *sandstep.Task, reason, unstored string) error {
	return s.failTaskAnd(ctx, t, reason, unstored, nil)
}

// failTaskAnd is failTask whose write also applies and (nil: nothing more).
func (s *Service) failTaskAnd(ctx context.Context, t *sandstep.Task, reason, unstored string, and func(*sandstep.Task)) error {
	wctx, cancel := s.writeContext(ctx)
	defer cancel()
	now := s.opts.Now().UTC()
	_, err := s.tasks.TransitionTask(wctx, t.ID, []sandstep.TaskStatus{sandstep.TaskQueued, sandstep.TaskRunning}, sandstep.TaskFailed,
		func(r *sandstep.Task) {
			r.Error, r.FinishedAt = reason, &now
			s.noteUnstored(r, unstored)
			if and != nil {
				and(r)
			}
		})
	if err != nil && sandstep.ErrorCode(err) != sandstep.ECONFLICT {
		return fmt.Errorf("fail task %s: %w", t.ID, endNotWritten(ctx, err))
	}
	return nil
}

// endNotWritten is err, a write of a task's end that failed, as its
// writer answers it: one that ran out of its own write time (writeContext)
// while the caller had time is asked again, as a throttled write is.
func endNotWritten(ctx context.Context, err error) error {
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return sandstep.Wrap(err, sandstep.ETRANSIENT, "the task's end was not recorded in time; try again")
	}
	return err
}

func (s *Service) auditTask(ctx context.Context, call Call, t *sandstep.Task, action string, err error, detail map[string]string) {
	ev := s.auditEvent(call, &sandstep.Sandbox{ID: t.SandboxID, Metadata: t.Metadata}, action, err, detail)
	ev.TaskID = t.ID
	s.appendAudit(ctx, ev)
}

// auditEnd writes task.finish of t, which the write that made it t ended
// (endingTasks): once, however many clean-ups follow. A cancel is audited
// by its caller (task.cancel).
func (s *Service) auditEnd(ctx context.Context, t *sandstep.Task) {
	if t.Status == sandstep.TaskCancelled {
		return
	}
	s.auditTask(ctx, Call{UserID: t.Owner, RequestID: t.ID}, t, ActionTaskFinish, nil, map[string]string{"status": string(t.Status)})
}
