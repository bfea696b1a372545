package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sandstep/sandstep/internal/awsjson"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// ParameterGetter reads SSM parameters, as *awsjson.SSM does. Its errors
// are the AWS client's (*awsjson.APIError for an error answer).
type ParameterGetter interface {
	GetParameter(ctx context.Context, name string, decrypt bool) (string, error)
}

// SecretGetter reads Secrets Manager secrets, as *awsjson.SecretsManager
// does: the current SecretString, or a binary secret's bytes.
type SecretGetter interface {
	GetSecretValue(ctx context.Context, id string) (string, error)
}

// DefaultFetchTimeout bounds one fetch from SSM or Secrets Manager, the
// client's retries included. A fetch runs detached from the context of
// the caller that started it, so that one caller giving up does not fail
// the others waiting for the same value; each caller still stops waiting
// when its own context ends.
const DefaultFetchTimeout = 10 * time.Second

// Option configures a Resolver.
type Option func(*Resolver)

// WithOnResolve registers fn to be called with every value the Resolver
// fetches, before any caller receives it: pass the log redactor's Add.
// For a "#key" reference fn sees both the whole secret string (once per
// fetch) and the picked member (on every Resolve, so fn must tolerate
// repeats). fn must be safe for concurrent use.
func WithOnResolve(fn func(value string)) Option { return func(r *Resolver) { r.onResolve = fn } }

// WithScopes makes r the Resolver of callers' references (secretEnv, git
// tokenSecret): ResolveFor resolves only what scopes lets the owner name,
// and Resolve, which names no owner, refuses everything. Without it a
// caller could name anything the function's role can read, another
// caller's secrets and the Daytona API key included.
func WithScopes(scopes *Scopes) Option { return func(r *Resolver) { r.scopes = scopes } }

// Resolver resolves secret references. It is safe for concurrent use.
// It keeps no value: every Resolve reads the secret anew (resolves of one
// secret that overlap in time share one read, and OneRead shares one read
// across a request), so a rotated secret is served rotated and a deleted
// one fails at once. Callers rotate and delete their secrets at will, and
// README promises a task's notify.secretRef is read at every attempt.
type Resolver struct {
	ssm       ParameterGetter
	sm        SecretGetter
	onResolve func(string)
	scopes    *Scopes

	mu    sync.Mutex
	calls map[storeKey]*call
}

// storeKey identifies one fetched value: the same secret read through
// different fields or JSON keys is fetched once.
type storeKey struct {
	scheme Scheme
	name   string
}

// call is one fetch in flight; done is closed once value and err are set.
type call struct {
	done    chan struct{}
	waiters int // callers waiting, for tests
	value   string
	err     error
}

// NewResolver returns a Resolver reading SSM parameters with ssm and
// Secrets Manager secrets with sm. Either may be nil if references of its
// scheme are never resolved; resolving one is then an EINTERNAL error.
func NewResolver(ssm ParameterGetter, sm SecretGetter, opts ...Option) *Resolver {
	r := &Resolver{
		ssm:   ssm,
		sm:    sm,
		calls: make(map[storeKey]*call),
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Resolve returns the value ref points at. Errors are *sandstep.Error
// naming ref.Field (EINVALID when the reference cannot be read: not found,
// not readable by sandstep, not a JSON object, ...; ETRANSIENT when trying
// again may help), or the caller's context error if ctx ends first. No
// error holds the value.
//
// Resolve serves the deployment's own references; a Resolver made
// WithScopes refuses it (EINTERNAL): use ResolveFor.
func (r *Resolver) Resolve(ctx context.Context, ref Ref) (string, error) {
	if r.scopes != nil {
		return "", sandstep.Errorf(sandstep.EINTERNAL, "%sa caller's secret reference is resolved for its owner", prefix(ref))
	}
	return r.resolve(ctx, ref)
}

// ResolveFor is Resolve for a reference owner named: one outside what the
// Resolver's Scopes let owner name is an EINVALID error naming ref.Field
// (its cause sandstep.ErrSecretScope), refused before anything is read.
// A Resolver without Scopes refuses it (EINTERNAL).
func (r *Resolver) ResolveFor(ctx context.Context, owner string, ref Ref) (string, error) {
	if err := r.Check(owner, ref); err != nil {
		return "", err
	}
	return r.resolve(ctx, ref)
}

// Check returns the error ResolveFor would return for a reference owner
// may not name, without reading anything.
func (r *Resolver) Check(owner string, ref Ref) error {
	if r.scopes == nil {
		return sandstep.Errorf(sandstep.EINTERNAL, "%sthis resolver serves no callers", prefix(ref))
	}
	return r.scopes.Check(owner, ref)
}

func (r *Resolver) resolve(ctx context.Context, ref Ref) (string, error) {
	if ref.Scheme != SchemeSSM && ref.Scheme != SchemeSecretsManager || ref.Name == "" {
		return "", sandstep.Invalid(ref.Field, "not a parsed secret reference (want %s)", refForms)
	}
	if ref.Key != "" && ref.Scheme != SchemeSecretsManager {
		return "", sandstep.Invalid(ref.Field, "a #key suffix is only supported for secretsmanager references")
	}
	raw, err := r.fetch(ctx, ref)
	if err != nil {
		return "", err
	}
	if ref.Key == "" {
		return raw, nil
	}
	v, err := pickKey(ref, raw)
	if err == nil && r.onResolve != nil {
		r.onResolve(v)
	}
	return v, err
}

// Strings returns r as a resolver of callers' references held as
// strings, for consumers that declare Resolve(ctx, owner, field, ref) and
// Check(owner, field, ref) (the service's SecretResolver): every error, a
// malformed reference's included, names field.
func (r *Resolver) Strings() StringResolver { return StringResolver{r} }

// StringResolver resolves references given as strings; see
// Resolver.Strings.
type StringResolver struct{ r *Resolver }

// OneRead is the package's OneRead: the service's handle on it.
func (StringResolver) OneRead(ctx context.Context) context.Context { return OneRead(ctx) }

// Resolve parses ref as the input field and resolves it for owner.
func (s StringResolver) Resolve(ctx context.Context, owner, field, ref string) (string, error) {
	parsed, err := ParseRef(field, ref)
	if err != nil {
		return "", err
	}
	return s.r.ResolveFor(ctx, owner, parsed)
}

// Check parses ref as the input field and checks that owner may name it.
func (s StringResolver) Check(owner, field, ref string) error {
	parsed, err := ParseRef(field, ref)
	if err != nil {
		return err
	}
	return s.r.Check(owner, parsed)
}

// readsKey carries a request's reads (OneRead).
type readsKey struct{}

// reads are the raw values one request has read, by secret.
type reads struct {
	mu     sync.Mutex
	values map[storeKey]string
}

// OneRead returns ctx under which a Resolver reads each secret at most
// once: the references one request names (a create's secretEnv and git
// token, members of one JSON secret) come from one version of each
// secret, read once.
func OneRead(ctx context.Context) context.Context {
	if _, ok := ctx.Value(readsKey{}).(*reads); ok {
		return ctx
	}
	return context.WithValue(ctx, readsKey{}, &reads{values: map[storeKey]string{}})
}

// fetch returns the raw value behind ref from the request's reads or a
// fetch, joining a fetch already in flight for the same secret.
func (r *Resolver) fetch(ctx context.Context, ref Ref) (string, error) {
	k := storeKey{ref.Scheme, ref.Name}
	rd, _ := ctx.Value(readsKey{}).(*reads)
	if rd != nil {
		rd.mu.Lock()
		v, ok := rd.values[k]
		rd.mu.Unlock()
		if ok {
			return v, nil
		}
	}
	r.mu.Lock()
	c, ok := r.calls[k]
	if !ok {
		c = &call{done: make(chan struct{})}
		r.calls[k] = c
		go r.run(context.WithoutCancel(ctx), k, c)
	}
	c.waiters++
	r.mu.Unlock()

	select {
	case <-c.done:
		if c.err != nil {
			return "", classify(ref, c.err)
		}
		if rd != nil {
			rd.mu.Lock()
			rd.values[k] = c.value
			rd.mu.Unlock()
		}
		return c.value, nil
	case <-ctx.Done():
		return "", fmt.Errorf("%sresolving %s: %w", prefix(ref), ref.describe(), ctx.Err())
	}
}

// run performs one fetch and publishes its outcome to every waiter.
func (r *Resolver) run(ctx context.Context, k storeKey, c *call) {
	ctx, cancel := context.WithTimeout(ctx, DefaultFetchTimeout)
	defer cancel()
	value, err := r.get(ctx, k)
	if err == nil && r.onResolve != nil {
		// Before anyone can hold (and log) the value.
		r.onResolve(value)
	}
	r.mu.Lock()
	delete(r.calls, k)
	c.value, c.err = value, err
	r.mu.Unlock()
	close(c.done)
}

// get calls AWS. Its errors are the client's, classified per caller.
func (r *Resolver) get(ctx context.Context, k storeKey) (string, error) {
	var (
		value string
		err   error
	)
	switch {
	case k.scheme == SchemeSSM && r.ssm != nil:
		value, err = r.ssm.GetParameter(ctx, k.name, true)
	case k.scheme == SchemeSecretsManager && r.sm != nil:
		value, err = r.sm.GetSecretValue(ctx, k.name)
	default:
		return "", errNoClient
	}
	if err == nil && value == "" {
		err = errEmpty
	}
	return value, err
}

var (
	errNoClient = errors.New("no client configured for this scheme")
	errEmpty    = errors.New("empty value")
)

// pickKey returns member ref.Key of the JSON object raw. Its errors never
// quote raw, not even a JSON syntax error's offending character.
func pickKey(ref Ref, raw string) (string, error) {
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(raw), &obj) != nil || obj == nil {
		return "", sandstep.Invalid(ref.Field, "%s is not a JSON object, so #%s cannot be picked from it", ref.describe(), ref.Key)
	}
	m, ok := obj[ref.Key]
	if !ok {
		return "", sandstep.Invalid(ref.Field, "%s has no JSON key %q", ref.describe(), ref.Key)
	}
	var s string
	if json.Unmarshal(m, &s) == nil {
		if s == "" {
			return "", sandstep.Invalid(ref.Field, "JSON key %q of %s is empty", ref.Key, ref.describe())
		}
		return s, nil
	}
	var v any
	if json.Unmarshal(m, &v) == nil {
		switch v.(type) {
		case float64, bool:
			return string(m), nil
		}
	}
	return "", sandstep.Invalid(ref.Field, "JSON key %q of %s is not a string, number or boolean", ref.Key, ref.describe())
}

// AWS error codes, as awsjson.APIError.Code reports them. Throttling and
// server faults are APIError.Retryable.
var (
	notFoundCodes = []string{"ParameterNotFound", "ParameterVersionNotFound", "ResourceNotFoundException"}
	deniedCodes   = []string{"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}
	kmsCodes      = []string{"InvalidKeyId", "DecryptionFailure", "KMSAccessDeniedException", "KMSDisabledException", "KMSInvalidStateException"}
	rejectedCodes = []string{"ValidationException", "InvalidParameterException", "InvalidRequestException"}
)

// NotFound says whether err is Resolve's answer for a parameter or secret
// that does not exist (as opposed to one not readable, or a failed read).
func NotFound(err error) bool {
	var ae *awsjson.APIError
	return errors.As(err, &ae) && slices.Contains(notFoundCodes, ae.Code)
}

// classify maps a fetch error to a sandbox error naming ref.Field. The
// messages name the reference, never a value; the AWS error is kept as the
// cause for logs (its text may name the role and account, so it is not in
// the caller-facing message).
//
// AccessDenied is EINVALID, "not readable by sandstep": the caller named
// something this function's role may not read, and trying again will not
// change that. For a reference from the deployment's own configuration
// (DAYTONA_API_KEY_REF) the caller of Resolve is the deployment, and the
// cold start fails with a message that says exactly what to fix.
func classify(ref Ref, err error) error {
	what := ref.describe()
	if errors.Is(err, errNoClient) {
		return sandstep.Wrap(err, sandstep.EINTERNAL, "%scannot read %s: no client configured", prefix(ref), what)
	}
	if errors.Is(err, errEmpty) {
		return sandstep.Invalid(ref.Field, "%s is empty", what)
	}
	var ae *awsjson.APIError
	if errors.As(err, &ae) {
		switch code := ae.Code; {
		case slices.Contains(notFoundCodes, code):
			return wrapInvalid(ref, err, "%s not found", what)
		case slices.Contains(deniedCodes, code):
			return wrapInvalid(ref, err, "%s is not readable by sandstep", what)
		case slices.Contains(kmsCodes, code):
			return wrapInvalid(ref, err, "%s cannot be decrypted by sandstep (KMS)", what)
		case slices.Contains(rejectedCodes, code):
			return wrapInvalid(ref, err, "%s cannot be read: the request was rejected (%s)", what, code)
		case ae.Retryable():
			return transient(ref, err, what)
		case code != "":
			return sandstep.Wrap(err, sandstep.EINTERNAL, "%sreading %s failed (%s)", prefix(ref), what, code)
		default:
			return sandstep.Wrap(err, sandstep.EINTERNAL, "%sreading %s failed (HTTP %d)", prefix(ref), what, ae.StatusCode)
		}
	}
	if errors.Is(err, awsjson.ErrMalformedResponse) {
		return sandstep.Wrap(err, sandstep.EINTERNAL, "%sreading %s failed: malformed response", prefix(ref), what)
	}
	// No response at all: connection refused or reset, DNS, the fetch
	// timeout, credentials not yet available.
	return transient(ref, err, what)
}

func wrapInvalid(ref Ref, cause error, format string, args ...any) error {
	e := sandstep.Invalid(ref.Field, format, args...)
	e.Err = cause
	return e
}

func transient(ref Ref, cause error, what string) error {
	return sandstep.Wrap(cause, sandstep.ETRANSIENT, "%s%s is temporarily unavailable", prefix(ref), what)
}

// prefix names ref's field at the start of a message for the codes whose
// sandstep.Error carries no Field.
func prefix(ref Ref) string {
	if ref.Field == "" {
		return ""
	}
	return ref.Field + ": "
}
