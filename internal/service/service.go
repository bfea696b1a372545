// Package service is sandstep's service: create, execute, status and delete
// sandboxes on top of a sandbox provider (Daytona) and a store (DynamoDB).
// Both edges, the API Gateway adapter and the state machine adapter, call
// the same Service. It declares the small interfaces it consumes.
package service

import (
	"context"
	"crypto/rand"
	"encoding/base32"
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
}

// ProviderSandbox is the provider's view of a sandbox.
type ProviderSandbox struct {
	ID    string
	State string
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
}

// Store persists sandboxes, quota slots, idempotency records and audit
// events (internal/store over DynamoDB).
type Store interface {
	ReserveSlot(ctx context.Context, userID, sandboxID string) error
	ReleaseSlot(ctx context.Context, userID, sandboxID string) (bool, error)
	CommitSandbox(ctx context.Context, sb *sandstep.Sandbox) error
	GetSandbox(ctx context.Context, id string) (*sandstep.Sandbox, error)
	TransitionSandbox(ctx context.Context, id string, from []sandstep.State, to sandstep.State, update func(*sandstep.Sandbox)) (*sandstep.Sandbox, error)
	ListSandboxes(ctx context.Context, owner string, limit int, cursor string) ([]*sandstep.Sandbox, string, error)
	// The idempotency calls name the attempt: Complete and Abort change a
	// record only while the same attempt holds it, so an attempt that
	// outlived its in-progress expiry cannot undo a retry that took over.
	// A zero inProgressExpiry is the context's deadline (or, without one,
	// the longest a Lambda function runs).
	BeginIdempotent(ctx context.Context, userID, key, requestHash, attempt string, inProgressExpiry time.Time) (*sandstep.IdempotencyRecord, error)
	CompleteIdempotent(ctx context.Context, userID, key, attempt string, response []byte, ttl time.Duration) error
	AbortIdempotent(ctx context.Context, userID, key, attempt string) error
	AppendAudit(ctx context.Context, ev sandstep.AuditEvent) error
}

// SecretResolver turns a secret reference, given as the input field,
// into its value. Its errors name field; EINVALID when the reference is
// malformed, not allowed or not readable.
type SecretResolver interface {
	Resolve(ctx context.Context, field, ref string) (string, error)
}

// Options tune the service; zero values take the documented defaults.
type Options struct {
	DefaultAutoStopMinutes int           // default 15
	DefaultTTLMinutes      int           // default 240
	MaxTTLMinutes          int           // default 1440
	DefaultExecTimeout     time.Duration // default 60s
	MaxExecTimeout         time.Duration // default 840s
	// ExecTimeoutMargin is kept back from the caller's deadline (the
	// Lambda's remaining time) so a timed-out command is still answered.
	ExecTimeoutMargin time.Duration // default 3s
	MaxOutputBytes    int           // per stream; default 1 MiB
	IdempotencyTTL    time.Duration // default 24h
	// MaxStoredResponse is the largest response an Idempotency-Key keeps
	// for replay; a larger one is remembered as done but not replayed (a
	// retry gets a conflict, never a second run). Default 350,000 bytes,
	// under DynamoDB's item limit.
	MaxStoredResponse int
	// MaxResponseBytes bounds an exec result once encoded as JSON (escaping
	// can grow output up to six times), so that it fits Lambda's 6 MB
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
	setDefault(&o.DefaultAutoStopMinutes, 15)
	setDefault(&o.DefaultTTLMinutes, 240)
	setDefault(&o.MaxTTLMinutes, 1440)
	setDefault(&o.DefaultExecTimeout, 60*time.Second)
	setDefault(&o.MaxExecTimeout, 840*time.Second)
	setDefault(&o.ExecTimeoutMargin, 3*time.Second)
	setDefault(&o.MaxOutputBytes, 1<<20)
	setDefault(&o.IdempotencyTTL, 24*time.Hour)
	setDefault(&o.MaxStoredResponse, 350_000)
	setDefault(&o.MaxResponseBytes, 5<<20)
	setDefault(&o.CleanupReserve, 12*time.Second)
	setDefault(&o.CleanupTimeout, 8*time.Second)
	setDefault(&o.WriteTimeout, 5*time.Second)
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
	provider Provider
	store    Store
	secrets  SecretResolver
	opts     Options
}

// New returns a Service. secrets may be nil when no secret references are
// to be resolved (any request that uses one is then refused).
func New(provider Provider, store Store, secrets SecretResolver, opts Options) *Service {
	opts.defaults()
	return &Service{provider: provider, store: store, secrets: secrets, opts: opts}
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewSandboxID returns a fresh sandbox id, "sbx_" and 26 random base32 letters.
func NewSandboxID() string { return "sbx_" + randomID() }

// randomID returns 128 random bits as 26 lower-case base32 letters.
func randomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on supported platforms
	}
	return idEncoding.EncodeToString(b[:])
}

// Labels sandstep puts on every provider sandbox, so a reaper can match the
// provider's list against the table.
const (
	LabelID    = "sandstep.id"
	LabelOwner = "sandstep.owner"
)

func (s *Service) audit(ctx context.Context, call Call, sb *sandstep.Sandbox, action string, err error, detail map[string]string) {
	ev := sandstep.AuditEvent{
		Time:      s.opts.Now(),
		Action:    action,
		UserID:    call.UserID,
		SandboxID: sb.ID,
		RequestID: call.RequestID,
		Metadata:  sb.Metadata,
		Outcome:   "ok",
		Detail:    detail,
	}
	if err != nil {
		ev.Outcome = string(sandstep.ErrorCode(err))
	}
	// An audit write must not turn a done deed into a failure the caller
	// would retry; it is logged loudly instead.
	wctx, cancel := s.writeContext(ctx)
	defer cancel()
	if aerr := s.store.AppendAudit(wctx, ev); aerr != nil {
		s.opts.Logger.ErrorContext(ctx, "audit event not written", "action", action, "sandboxId", sb.ID, "err", aerr)
	}
}

// workContext bounds work that may have to be undone: it ends
// CleanupReserve before the caller's deadline, so the undoing fits.
func (s *Service) workContext(ctx context.Context) (context.Context, context.CancelFunc, error) {
	d, ok := ctx.Deadline()
	if !ok {
		c, cancel := context.WithCancel(ctx)
		return c, cancel, nil
	}
	end := d.Add(-s.opts.CleanupReserve)
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
	sb, err := s.store.GetSandbox(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get sandbox %s: %w", id, err)
	}
	if sb.Owner != call.UserID {
		return nil, sandstep.Errorf(sandstep.ENOTFOUND, "sandbox %q not found", id)
	}
	return sb, nil
}

func requireUser(call Call) error {
	if strings.TrimSpace(call.UserID) == "" {
		return sandstep.Errorf(sandstep.EUNAUTHENTICATED, "no caller identity")
	}
	return nil
}
