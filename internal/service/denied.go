package service

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The reasons of a denied attempt, in its log line.
const (
	// DeniedNotOwner: a sandbox or task of another user, answered 404.
	DeniedNotOwner = "not_owner"
	// DeniedQuota: a create (a task's included) over the owner's quota.
	DeniedQuota = "quota"
	// DeniedSecretScope: a secret reference outside what the caller may
	// name.
	DeniedSecretScope = "secret_scope"
	// DeniedNotAdmin: administration by a caller who is not an
	// administrator, answered 404.
	DeniedNotAdmin = "not_admin"
)

// denied logs an attempt the service refused, at the one place each kind
// is decided: one WARN line whose message is always "denied", with the
// reason, the caller and the target (a sandbox or task id, or a secret
// reference: a name, never a value), for an operator to alert on.
func (s *Service) denied(ctx context.Context, reason, userID, target string, attrs ...any) {
	s.opts.Logger.WarnContext(ctx, "denied", append([]any{"reason", reason, "userId", userID, "target", target}, attrs...)...)
}

// secretDenied logs err if it refuses ref because owner may not name it.
func (s *Service) secretDenied(ctx context.Context, owner, field, ref string, err error) {
	if errors.Is(err, sandstep.ErrSecretScope) {
		s.denied(ctx, DeniedSecretScope, owner, ref, "field", field)
	}
}

// checkSecrets checks, reading nothing, that owner may name every secret
// reference of in; field names the fields below prefix. A task's
// references are refused when it is accepted, not hours later when its
// sandbox is made.
func (s *Service) checkSecrets(ctx context.Context, owner, prefix string, in *CreateSandboxInput) error {
	if r, err := s.checkRefs(owner, secretRefs(prefix, in)); err != nil {
		if s.secrets != nil {
			s.secretDenied(ctx, owner, r.field, r.ref, err)
		}
		return err
	}
	return nil
}

// namedRef is a secret reference and the field that names it.
type namedRef struct{ field, ref string }

// secretRefs are in's secret references, their fields below prefix.
func secretRefs(prefix string, in *CreateSandboxInput) []namedRef {
	var refs []namedRef
	for _, name := range slices.Sorted(maps.Keys(in.SecretEnv)) {
		refs = append(refs, namedRef{prefix + "secretEnv." + name, in.SecretEnv[name]})
	}
	if in.Git != nil && in.Git.TokenSecret != "" {
		refs = append(refs, namedRef{prefix + "git.tokenSecret", in.Git.TokenSecret})
	}
	return refs
}

// checkRefs checks, reading nothing, that owner may name each of refs;
// the error's ref is the first refused.
func (s *Service) checkRefs(owner string, refs []namedRef) (namedRef, error) {
	for _, r := range refs {
		if s.secrets == nil {
			return r, sandstep.Invalid(r.field, "secret references are not enabled in this deployment")
		}
		if err := s.secrets.Check(owner, r.field, r.ref); err != nil {
			return r, err
		}
	}
	return namedRef{}, nil
}
