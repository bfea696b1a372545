// Package service is sandstep's service: create, execute, status and delete
// sandboxes on top of a sandbox provider (Daytona) and a store (DynamoDB).
// Both edges, API Gateway and direct invocation (the state machine), call
// the same Service. It declares the small interfaces it consumes, by role.
package service

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Provider runs sandboxes (Daytona, seen through domain types). Errors are
// *sandstep.Error with ENOTFOUND, ETRANSIENT, ETIMEOUT, EINVALID or EINTERNAL.
type Provider interface {
	// Create creates a sandbox named spec.Name and waits until it has
	// started. When it gives up it deletes what it created.
	Create(ctx context.Context, spec ProviderSpec) (*ProviderSandbox, error)
	// Get returns the sandbox's current state; ENOTFOUND once it is gone.
	Get(ctx context.Context, idOrName string) (*ProviderSandbox, error)
	// Delete deletes the sandbox; a sandbox that does not exist is no error.
	Delete(ctx context.Context, idOrName string) error
	// Upload writes files, creating parent directories.
	Upload(ctx context.Context, id string, files []UploadFile) error
	// GitClone clones a repository into the sandbox.
	GitClone(ctx context.Context, id string, spec GitCloneSpec) error
	// Exec runs a shell command line to completion or to its timeout
	// (ETIMEOUT), with stdout and stderr apart, each bounded.
	Exec(ctx context.Context, id string, cmd Command) (*ExecResult, error)
}

// ProviderSpec is what the provider needs to create a sandbox.
type ProviderSpec struct {
	// Name is unique and is the sandstep sandbox id: it makes creates
	// idempotent at the provider.
	Name            string
	Snapshot        string
	Image           string
	Resources       *sandstep.Resources
	Env             map[string]string
	Labels          map[string]string
	AutoStopMinutes int
	TTLMinutes      int
	// Network is the sandbox's network policy; nil: open.
	Network *sandstep.NetworkPolicy
	// CreatesSpent, if set, is told as soon as the provider's answer to
	// the create says its create budget is spent, and until when.
	CreatesSpent func(until time.Time)
}

// ProviderSandbox is the provider's view of a sandbox. Name is the
// sandstep id it was created with; ToolboxURL, set by Create, where its
// toolbox answers (Daytona's regional proxy), kept in the record.
type ProviderSandbox struct {
	ID, Name   string
	State      string
	ToolboxURL string
	Owner      string // its LabelOwner; set by List, "" when it has none
	// Since is when the provider last changed it (its state, most
	// often); set by List and Get, zero when not told.
	Since time.Time
	// Size is what the provider gave it (a snapshot's own size when the
	// create named none); set by Create, nil (or 0 in a field) when not
	// told.
	Size *sandstep.Resources
}

// ToolboxLocator is a provider that can be told where a sandbox's toolbox
// answers, as its record kept it: an instance that has not seen the
// sandbox then makes its first command's calls without asking first.
type ToolboxLocator interface {
	KnowToolbox(id, url string)
}

// locatingSandboxes tells the provider, for every record read, where its
// sandbox's toolbox answers.
type locatingSandboxes struct {
	Sandboxes
	locator ToolboxLocator
}

func (l locatingSandboxes) GetSandbox(ctx context.Context, id string) (*sandstep.Sandbox, error) {
	sb, err := l.Sandboxes.GetSandbox(ctx, id)
	if err == nil && sb.DaytonaID != "" && sb.ToolboxURL != "" {
		l.locator.KnowToolbox(sb.DaytonaID, sb.ToolboxURL)
	}
	return sb, err
}

// UploadFile is one file's destination and content.
type UploadFile struct {
	Path    string
	Content []byte
}

// GitCloneSpec says what to clone where; Password is a resolved token and
// must never be logged.
type GitCloneSpec struct {
	URL      string
	Branch   string
	Path     string
	Username string
	Password string
}

// Command is a command line to run with /bin/sh -c. The provider bounds
// the output it reads; the service cuts it to its own limits.
type Command struct {
	Line    string
	Timeout time.Duration
	// Ready, when set, is called once the command's session is made (or
	// could not be), before anything else reaches the sandbox, with the
	// command's own deadline; its error ends the call and is returned as
	// it is. The service reads the sandbox's record beside the session's
	// creation and answers here.
	Ready func(context.Context) error
	// NoStart leaves a sandbox Daytona stopped as it is: the command is
	// refused (ETRANSIENT) rather than the sandbox started for it. A
	// reader's look (a task's fresh output) writes nothing, at Daytona
	// either.
	NoStart bool
}

// The store, seen by role. Each role is what one concern of the service
// needs; internal/store implements them all over one DynamoDB table. A new
// concern (tasks, logs, the reaper) declares its own small role here rather
// than widening one of these.

// Sandboxes keeps the records of sandboxes.
type Sandboxes interface {
	// GetSandbox returns the record, or ENOTFOUND.
	GetSandbox(ctx context.Context, id string) (*sandstep.Sandbox, error)
	// ListSandboxes returns a page of the owner's records in one of states
	// (any, when none is given), newest first.
	ListSandboxes(ctx context.Context, owner string, limit int, cursor string, states ...sandstep.State) ([]*sandstep.Sandbox, string, error)
	// TransitionSandbox moves the record from one of from to to, letting
	// update change other fields; ECONFLICT if it is in another state.
	TransitionSandbox(ctx context.Context, id string, from []sandstep.State, to sandstep.State, update func(*sandstep.Sandbox)) (*sandstep.Sandbox, error)
	// MarkDeleting moves owner's ready (or deleting) sandbox to deleting
	// in one write. It writes nothing otherwise: ENOTFOUND without a
	// record, else ECONFLICT with the record as it is.
	MarkDeleting(ctx context.Context, id, owner string) (*sandstep.Sandbox, error)
	// FinishDelete makes a deleting sandbox deleted, releases its slot and
	// appends audit, in one write; ECONFLICT when it is no longer deleting.
	FinishDelete(ctx context.Context, sb *sandstep.Sandbox, audit sandstep.AuditEvent) (*sandstep.Sandbox, error)
}

// Quota holds users' sandbox slots. The slot comes first: ReserveSlot
// keeps it with its time, so a process that dies before its record is
// written leaves a slot the reaper finds by its age; RecordCreating writes
// the record in state creating (beside the provider's create) and
// CommitSandbox makes it ready.
type Quota interface {
	ReserveSlot(ctx context.Context, sb *sandstep.Sandbox) error
	// RecordCreating and CommitSandbox append audit in the same write.
	RecordCreating(ctx context.Context, sb *sandstep.Sandbox, audit ...sandstep.AuditEvent) error
	CommitSandbox(ctx context.Context, sb *sandstep.Sandbox, audit ...sandstep.AuditEvent) error
	// ReleaseSlot frees the slot exactly once, whatever the number of calls.
	ReleaseSlot(ctx context.Context, userID, sandboxID string) (bool, error)
	// SpendCreates spends the deployment's create budget until until, when
	// the provider refused a create for its rate. ReserveSlot refuses with
	// sandstep.ErrCreateRate while the budget is spent.
	SpendCreates(ctx context.Context, until time.Time) error
}

// Idempotency remembers requests made with an Idempotency-Key. Complete
// and Abort change a record only while the same attempt holds it, so an
// attempt that outlived its in-progress expiry cannot undo a retry that
// took over. A zero inProgressExpiry is the context's deadline (or,
// without one, the longest a Lambda function runs).
type Idempotency interface {
	BeginIdempotent(ctx context.Context, userID, key, requestHash, attempt string, inProgressExpiry time.Time) (*sandstep.IdempotencyRecord, error)
	CompleteIdempotent(ctx context.Context, userID, key, attempt string, response []byte) error
	AbortIdempotent(ctx context.Context, userID, key, attempt string) error
	// LookupIdempotent answers as BeginIdempotent would, writing nothing.
	LookupIdempotent(ctx context.Context, userID, key, requestHash string) (*sandstep.IdempotencyRecord, error)
}

// Audit appends to the audit trail.
type Audit interface {
	AppendAudit(ctx context.Context, ev sandstep.AuditEvent) error
}

// SecretResolver turns a secret reference, given as the input field,
// into its value for owner, the user who names it (a task's owner). Its
// errors name field; EINVALID when the reference is malformed, not
// owner's to name (caused by sandstep.ErrSecretScope) or not readable.
type SecretResolver interface {
	Resolve(ctx context.Context, owner, field, ref string) (string, error)
	// Check returns Resolve's error for a malformed reference or one owner
	// may not name, reading nothing.
	Check(owner, field, ref string) error
	// OneRead returns ctx under which each secret is read at most once:
	// the references of one request come from one version of each.
	OneRead(ctx context.Context) context.Context
}

// oneRead is ctx under which each secret is read once (SecretResolver's
// OneRead), or ctx itself in a deployment without secret references.
func (s *Service) oneRead(ctx context.Context) context.Context {
	if s.secrets == nil {
		return ctx
	}
	return s.secrets.OneRead(ctx)
}

// Deps are what the service works with.
type Deps struct {
	Provider    Provider
	Sandboxes   Sandboxes
	Quota       Quota
	Idempotency Idempotency
	Audit       Audit
	// Secrets may be nil: then any request naming a secret is refused.
	Secrets SecretResolver
	// Inventory and Catalog are what the reaper works with; nil where a
	// function never reaps.
	Inventory Inventory
	Catalog   Catalog
	// Tasks, Objects, Machine, Sessions and Files run long tasks; nil
	// where a function serves none (task calls then say so).
	Tasks    Tasks
	Objects  Objects
	Machine  Machine
	Sessions Sessions
	Files    Files
	// Repositories and Collaborators start tasks from GitHub issues; nil
	// where a function serves no webhook.
	Repositories  Repositories
	Collaborators Collaborators
	// Readers may read repositories' tasks; nil: only a task's owner
	// sees it.
	Readers Readers
	// AuditLog reads the audit trail (GET .../events); Quotas is
	// administration's. nil where a function serves neither.
	AuditLog AuditLog
	Quotas   Quotas
	// Comments tell an issue how its task goes; nil: issues are not told.
	Comments IssueComments
	// RepoAccess clones, pushes and opens pull requests for issues'
	// tasks; nil: their repositories are cloned as any task's.
	RepoAccess RepoAccess
	// Notifier delivers tasks' completion notices (the reaper finds the
	// pending ones through Inventory); with none, a task asking for one is
	// refused.
	Notifier Notifier
	// Drain is the drain switch; nil: never drained.
	Drain Drain
}

// Limits are the deployment's settings the service applies. Their home is
// internal/config (the functions' environment), which documents them and
// their defaults; the service has none of its own.
type Limits struct {
	DefaultAutoStopMinutes int // 0: never
	DefaultTTLMinutes      int
	MaxTTLMinutes          int
	DefaultExecTimeout     time.Duration
	MaxExecTimeout         time.Duration
	// ExecTimeoutMargin is kept back from the caller's deadline (the
	// Lambda's remaining time) so a timed-out command is still answered.
	ExecTimeoutMargin time.Duration
	MaxOutputBytes    int // per stream
	// MaxTaskDuration bounds a task's command; CapacityWait how long a
	// task waits for Daytona's capacity; MaxTaskLogBytes the output a
	// task keeps.
	MaxTaskDuration time.Duration
	CapacityWait    time.Duration
	// TaskBackstop is how long a task's watch waits for a nudge.
	TaskBackstop    time.Duration
	MaxTaskLogBytes int64
	// NetworkCeiling is the most network a sandbox may have: callers
	// can only narrow it (see narrowNetwork). nil: open.
	NetworkCeiling *sandstep.NetworkPolicy
	// QueueTimeout is how long a repository's task waits for a slot of
	// its quota (GITHUB_QUEUE_TIMEOUT); 0: it fails at once, as anyone's.
	QueueTimeout time.Duration
}

func (l Limits) validate() error {
	switch {
	case l.DefaultAutoStopMinutes < 0:
		return fmt.Errorf("service: DefaultAutoStopMinutes is negative")
	case l.MaxTTLMinutes < 1 || l.DefaultTTLMinutes < 1 || l.DefaultTTLMinutes > l.MaxTTLMinutes:
		return fmt.Errorf("service: DefaultTTLMinutes (%d) must be 1..MaxTTLMinutes (%d)", l.DefaultTTLMinutes, l.MaxTTLMinutes)
	case l.MaxExecTimeout < time.Second || l.DefaultExecTimeout < time.Second || l.DefaultExecTimeout > l.MaxExecTimeout:
		return fmt.Errorf("service: DefaultExecTimeout (%s) must be 1s..MaxExecTimeout (%s)", l.DefaultExecTimeout, l.MaxExecTimeout)
	case l.ExecTimeoutMargin < 0:
		return fmt.Errorf("service: ExecTimeoutMargin is negative")
	case l.MaxOutputBytes < 1:
		return fmt.Errorf("service: MaxOutputBytes must be positive")
	case l.MaxTaskDuration < time.Minute || l.MaxTaskLogBytes < 1 || l.CapacityWait < 0 || l.TaskBackstop < time.Second:
		return fmt.Errorf("service: MaxTaskDuration (at least 1m), MaxTaskLogBytes, CapacityWait and TaskBackstop (at least 1s) must be set")
	case l.QueueTimeout < 0:
		return fmt.Errorf("service: QueueTimeout is negative")
	}
	return nil
}

// Options tune the service: the deployment's Limits, and the service's own
// rules, whose zero values take the defaults below.
type Options struct {
	Limits
	// NotifyRetryFor is how long after a task's end its completion notice
	// is retried (NOTIFY_RETRY_FOR). Default 24h.
	NotifyRetryFor time.Duration
	// NudgeURL is the API's base URL a task's command calls when it ends
	// (POST /tasks/{id}/nudge), for every task: a custom domain, or the
	// local stack's API. "": a task started through the API nudges the URL
	// its caller used, and one started from the console is watched by
	// polling alone.
	NudgeURL string
	// Deployment answers the deployment's id (store.Deployment), the
	// sandstep.deployment label of every sandbox it creates; it is asked
	// on first need (a create, a reap), not at cold start; a reap takes it
	// from its scan of the records when it is recorded there. Required: a
	// deployment lists, touches and deletes only sandboxes with its own.
	Deployment func(context.Context) (string, error)
	// Prices is the price table of tasks' cost estimates; nil: the
	// built-in one (cost.Defaults).
	Prices Prices
	// MaxStoredResponse is the largest response an Idempotency-Key keeps
	// for replay; a larger one is remembered as done but not replayed (a
	// retry gets a conflict, never a second run). Default 350,000 bytes,
	// under DynamoDB's item limit.
	MaxStoredResponse int
	// MaxResponseBytes bounds an exec result, a page of a task's output
	// and a page of a list (fitPage), once encoded as JSON (escaping can
	// grow output up to six times), so that it fits Lambda's 6 MB
	// response. Default 5 MiB.
	MaxResponseBytes int
	// CleanupReserve is kept back from the caller's deadline (the Lambda's
	// remaining time) by work that may have to be undone: creating a
	// sandbox, running an agent's command. The undoing then happens
	// before the deadline, not after it, when Lambda has frozen the
	// process. Default 12s: the client's own give-up delete and ours.
	CleanupReserve time.Duration
	// CleanupTimeout bounds the cleanup after a failure; it runs on a
	// context detached from the caller's cancellation (a cancelled caller
	// still leaves nothing behind) but never past the caller's deadline.
	CleanupTimeout time.Duration // default 8s
	// WriteTimeout bounds the writes that follow a finished operation
	// (audit event, idempotency record) on a detached context. Default 5s.
	WriteTimeout time.Duration
	Now          func() time.Time
	NewID        func() string
	Logger       *slog.Logger
}

func (o *Options) defaults() {
	setDefault(&o.MaxStoredResponse, 350_000)
	setDefault(&o.MaxResponseBytes, 5<<20)
	setDefault(&o.CleanupReserve, 12*time.Second)
	setDefault(&o.CleanupTimeout, 8*time.Second)
	setDefault(&o.WriteTimeout, 5*time.Second)
	setDefault(&o.NotifyRetryFor, 24*time.Hour)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewID == nil {
		o.NewID = NewSandboxID
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Service is the sandbox lifecycle.
type Service struct {
	provider      Provider
	sandboxes     Sandboxes
	quota         Quota
	idem          Idempotency
	audits        Audit
	secrets       SecretResolver
	inventory     Inventory
	catalog       Catalog
	tasks         Tasks
	objects       Objects
	machine       Machine
	sessions      Sessions
	files         Files
	repos         Repositories
	collaborators Collaborators
	readers       Readers
	auditLog      AuditLog
	quotas        Quotas
	comments      IssueComments
	repoAccess    RepoAccess
	opts          Options
	notifier      Notifier
	drain         Drain
	// fresh is the output last read of running tasks for their readers.
	fresh *freshCache
	known *knownSandboxes
	// fetchPerStore is maxFetchPerCheck; a test makes it small.
	fetchPerStore int
}

// New returns a Service. An error means the wiring is wrong (a missing
// dependency, Limits out of range).
func New(deps Deps, opts Options) (*Service, error) {
	if deps.Provider == nil || deps.Sandboxes == nil || deps.Quota == nil || deps.Idempotency == nil || deps.Audit == nil {
		return nil, errors.New("service: Provider, Sandboxes, Quota, Idempotency and Audit are all required")
	}
	if err := opts.Limits.validate(); err != nil {
		return nil, err
	}
	ceiling, err := sandstep.CheckNetworkPolicy("NetworkCeiling", opts.NetworkCeiling)
	if err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	opts.NetworkCeiling = ceiling
	if opts.Deployment == nil {
		return nil, errors.New("service: Options.Deployment is required")
	}
	opts.defaults()
	sandboxes := deps.Sandboxes
	if l, ok := deps.Provider.(ToolboxLocator); ok {
		sandboxes = locatingSandboxes{sandboxes, l}
	}
	s := &Service{
		provider:      deps.Provider,
		sandboxes:     sandboxes,
		quota:         deps.Quota,
		idem:          deps.Idempotency,
		audits:        deps.Audit,
		secrets:       deps.Secrets,
		inventory:     deps.Inventory,
		catalog:       deps.Catalog,
		objects:       deps.Objects,
		machine:       deps.Machine,
		sessions:      deps.Sessions,
		files:         deps.Files,
		repos:         deps.Repositories,
		collaborators: deps.Collaborators,
		readers:       deps.Readers,
		auditLog:      deps.AuditLog,
		quotas:        deps.Quotas,
		comments:      deps.Comments,
		repoAccess:    deps.RepoAccess,
		opts:          opts,
		fresh:         newFreshCache(),
		known:         newKnownSandboxes(),
		fetchPerStore: maxFetchPerCheck,
		notifier:      deps.Notifier,
		drain:         deps.Drain,
	}
	if deps.Tasks != nil {
		s.tasks = endingTasks{metered(deps.Tasks), s.auditEnd, s.opts.WriteTimeout}
	}
	if s.repos != nil {
		if err := s.repos.CheckTasks(s.checkIssueTask); err != nil {
			return nil, fmt.Errorf("service: a repository's task no issue could start: %w", err)
		}
	}
	return s, nil
}

// metered is tasks with each write carrying the invocation's usage, or
// nil without tasks.
func metered(tasks Tasks) Tasks {
	if tasks == nil {
		return nil
	}
	return meteredTasks{tasks}
}

// NewSandboxID returns a fresh sandbox id, "sbx_" and 26 random base32 letters.
func NewSandboxID() string { return "sbx_" + randomID() }

// randomID returns 130 random bits as 26 lower-case base32 letters.
func randomID() string { return strings.ToLower(rand.Text()) }

// Labels sandstep puts on every provider sandbox, so a reconciliation can
// match the provider's list against the table, and only its own
// deployment's part of that list.
const (
	LabelID         = "sandstep.id"
	LabelOwner      = "sandstep.owner"
	LabelDeployment = "sandstep.deployment"
)

func (s *Service) audit(ctx context.Context, call Call, sb *sandstep.Sandbox, action string, err error, detail map[string]string) {
	s.appendAudit(ctx, s.auditEvent(call, sb, action, err, detail))
}

// appendAudit writes ev alone. An audit write must not turn a done deed
// into a failure the caller would retry; it is logged loudly instead.
func (s *Service) appendAudit(ctx context.Context, ev sandstep.AuditEvent) {
	wctx, cancel := s.writeContext(ctx)
	defer cancel()
	if aerr := s.audits.AppendAudit(wctx, ev); aerr != nil {
		s.opts.Logger.ErrorContext(ctx, "audit event not written", "action", ev.Action, "sandboxId", ev.SandboxID, "taskId", ev.TaskID,
			"targetUserId", ev.TargetUserID, "err", aerr)
	}
}

// auditEvent is the event of action on sb by call, with err's code as the
// outcome ("ok" without one).
func (s *Service) auditEvent(call Call, sb *sandstep.Sandbox, action string, err error, detail map[string]string) sandstep.AuditEvent {
	ev := sandstep.AuditEvent{
		Time:      s.opts.Now(),
		Action:    action,
		UserID:    call.UserID,
		SandboxID: sb.ID,
		RequestID: call.RequestID,
		Metadata:  sb.Metadata,
		Outcome:   "ok",
	}
	for k, v := range detail {
		// An error's message may be long (a provider's page, a build's
		// log): the event keeps its start rather than being refused.
		if ev.Detail == nil {
			ev.Detail = make(map[string]string, len(detail))
		}
		ev.Detail[k] = sandstep.Clip(v, sandstep.MaxAuditDetailValueLength-len("…"))
	}
	if call.Sender != "" {
		if ev.Detail == nil {
			ev.Detail = map[string]string{}
		}
		ev.Detail["sender"] = sandstep.Clip(call.Sender, sandstep.MaxAuditDetailValueLength-len("…"))
	}
	if err != nil {
		ev.Outcome = string(sandstep.ErrorCode(err))
	}
	return ev
}

// workContext bounds work that may have to be undone: it ends
// CleanupReserve before the caller's deadline, so the undoing fits.
func (s *Service) workContext(ctx context.Context) (context.Context, context.CancelFunc, error) {
	return reserved(ctx, s.opts.CleanupReserve)
}

// reserved is ctx ending reserve before its deadline; ETIMEOUT when that
// has passed.
func reserved(ctx context.Context, reserve time.Duration) (context.Context, context.CancelFunc, error) {
	d, ok := ctx.Deadline()
	if !ok {
		c, cancel := context.WithCancel(ctx)
		return c, cancel, nil
	}
	end := d.Add(-reserve)
	if !time.Now().Before(end) {
		return nil, nil, sandstep.Errorf(sandstep.ETIMEOUT, "not enough time left in this invocation to do this and clean up after it")
	}
	c, cancel := context.WithDeadline(ctx, end)
	return c, cancel, nil
}

// cleanupContext is detached from the caller's cancellation, not from its
// deadline: cleanup runs within what the caller has left, at most
// CleanupTimeout.
func (s *Service) cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return Detached(ctx, s.opts.CleanupTimeout)
}

// writeContext is cleanupContext for the writes that record a finished
// operation.
func (s *Service) writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return Detached(ctx, s.opts.WriteTimeout)
}

// Detached returns a context for work that must outlive the caller's
// cancellation (cleanup, the record of what was done) but not its
// deadline: it ends at the caller's deadline or after limit, whichever
// comes first. Providers use it for their own cleanups too.
func Detached(ctx context.Context, limit time.Duration) (context.Context, context.CancelFunc) {
	end := time.Now().Add(limit)
	if d, ok := ctx.Deadline(); ok && d.Before(end) {
		end = d
	}
	return context.WithDeadline(context.WithoutCancel(ctx), end)
}

// ownedSandbox returns the caller's sandbox; someone else's is not found.
func (s *Service) ownedSandbox(ctx context.Context, call Call, id string) (*sandstep.Sandbox, error) {
	if err := validateID("id", id); err != nil {
		return nil, err
	}
	sb, err := s.sandboxes.GetSandbox(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get sandbox %s: %w", id, err)
	}
	return s.owned(ctx, call, sb)
}

// owned returns sb when it is the caller's. Anyone else is told it does
// not exist (ids are not secrets, but others' sandboxes are), and the
// denial is audited.
func (s *Service) owned(ctx context.Context, call Call, sb *sandstep.Sandbox) (*sandstep.Sandbox, error) {
	if sb.Owner != call.UserID {
		s.denied(ctx, DeniedNotOwner, call.UserID, sb.ID)
		return nil, sandstep.Errorf(sandstep.ENOTFOUND, "sandbox %q not found", sb.ID)
	}
	return sb, nil
}

func requireUser(call Call) error {
	if strings.TrimSpace(call.UserID) == "" {
		return sandstep.Errorf(sandstep.EUNAUTHENTICATED, "no caller identity")
	}
	return nil
}
