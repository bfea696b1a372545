package service

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Quotas is what administration reads and changes: users' limits. A
// change and its audit event are one write.
type Quotas interface {
	GetQuota(ctx context.Context, userID string) (sandstep.Quota, error)
	// SetUserLimit and ClearUserLimit write nothing unless the user's
	// override is still was's, the quota read (sandstep.ErrLimitChanged).
	SetUserLimit(ctx context.Context, userID string, was sandstep.Quota, limit int, audit ...sandstep.AuditEvent) error
	ClearUserLimit(ctx context.Context, userID string, was sandstep.Quota, audit ...sandstep.AuditEvent) error
}

// Audit actions of administration: UserID is the administrator,
// TargetUserID the user acted on.
const (
	ActionAdminUsage      = "admin.usage.read"
	ActionAdminSetLimit   = "admin.quota.set"
	ActionAdminClearLimit = "admin.quota.clear"
)

// UserLimitInput is the body of PUT /admin/users/{userId}/quota.
type UserLimitInput struct {
	// Limit is how many sandboxes the user may hold at once; 0 lets the
	// user hold none.
	Limit *int `json:"limit"`
}

// UserUsage is a user's quota and a page of the user's live sandboxes,
// newest first.
type UserUsage struct {
	sandstep.Quota
	Sandboxes  []*sandstep.Sandbox `json:"sandboxes"`
	NextCursor string              `json:"nextCursor,omitempty"`
}

// UserUsage returns userID's limit, slots in use and live sandboxes.
func (s *Service) UserUsage(ctx context.Context, call Call, userID string, in ListInput) (*UserUsage, error) {
	if err := s.requireAdmin(ctx, call, userID); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.Limit)
	if err != nil {
		return nil, err
	}
	q, err := s.quotas.GetQuota(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("read the quota of %s: %w", userID, err)
	}
	items, next, err := fitPage(s.opts.MaxResponseBytes, limit, func(limit int) ([]*sandstep.Sandbox, string, error) {
		return s.sandboxes.ListSandboxes(ctx, userID, limit, in.Cursor, Live...)
	})
	if err != nil {
		return nil, fmt.Errorf("list the sandboxes of %s: %w", userID, err)
	}
	if items == nil {
		items = []*sandstep.Sandbox{}
	}
	// Reading a user's usage is itself on the record; failing to record
	// it is logged, not answered, as for every audit written after the
	// deed (Service.appendAudit).
	s.appendAudit(ctx, s.adminEvent(call, userID, ActionAdminUsage, nil))
	return &UserUsage{Quota: q, Sandboxes: items, NextCursor: next}, nil
}

// SetUserLimit gives userID a limit of their own, recording the limit it
// replaces, and returns the quota as it now stands.
func (s *Service) SetUserLimit(ctx context.Context, call Call, userID string, in UserLimitInput) (*sandstep.Quota, error) {
	if err := s.requireAdmin(ctx, call, userID); err != nil {
		return nil, err
	}
	if in.Limit == nil {
		return nil, sandstep.Invalid("limit", "is required: the number of sandboxes the user may hold at once")
	}
	err := s.changeLimit(ctx, call, userID, ActionAdminSetLimit, map[string]string{"limit": strconv.Itoa(*in.Limit)},
		func(was sandstep.Quota, ev sandstep.AuditEvent) error {
			return s.quotas.SetUserLimit(ctx, userID, was, *in.Limit, ev)
		})
	if err != nil {
		return nil, fmt.Errorf("set the limit of %s: %w", userID, err)
	}
	return s.quotaNow(ctx, userID)
}

// ClearUserLimit puts userID back on the deployment's default limit;
// clearing a limit that is not set is no error (and still recorded).
func (s *Service) ClearUserLimit(ctx context.Context, call Call, userID string) (*sandstep.Quota, error) {
	if err := s.requireAdmin(ctx, call, userID); err != nil {
		return nil, err
	}
	err := s.changeLimit(ctx, call, userID, ActionAdminClearLimit, nil,
		func(was sandstep.Quota, ev sandstep.AuditEvent) error {
			return s.quotas.ClearUserLimit(ctx, userID, was, ev)
		})
	if err != nil {
		return nil, fmt.Errorf("clear the limit of %s: %w", userID, err)
	}
	return s.quotaNow(ctx, userID)
}

// limitAttempts bounds how often a change of a user's limit reads the
// quota again because another change landed between its read and its
// write.
const limitAttempts = 3

// changeLimit writes a change of userID's limit with its event (action,
// detail and the previous limit), by write: the event names as previous
// the limit read, and write changes nothing unless that limit is still
// the one in force (sandstep.ErrLimitChanged), so the event names the
// limit its write replaced.
func (s *Service) changeLimit(ctx context.Context, call Call, userID, action string, detail map[string]string,
	write func(was sandstep.Quota, ev sandstep.AuditEvent) error) error {
	var err error
	for range limitAttempts {
		was, rerr := s.quotas.GetQuota(ctx, userID)
		if rerr != nil {
			return fmt.Errorf("read the quota of %s: %w", userID, rerr)
		}
		d := map[string]string{"previous": limitText(was)}
		maps.Copy(d, detail)
		if err = write(was, s.adminEvent(call, userID, action, d)); !errors.Is(err, sandstep.ErrLimitChanged) {
			return err
		}
	}
	return sandstep.Wrap(err, sandstep.ETRANSIENT, "the limit of user %q is being changed concurrently; try again", userID)
}

func (s *Service) quotaNow(ctx context.Context, userID string) (*sandstep.Quota, error) {
	q, err := s.quotas.GetQuota(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("read the quota of %s: %w", userID, err)
	}
	return &q, nil
}

// limitText is a limit for the audit trail: the number, or "default:<n>"
// when the user has none of their own.
func limitText(q sandstep.Quota) string {
	if q.LimitSet {
		return strconv.Itoa(q.Limit)
	}
	return "default:" + strconv.Itoa(q.Limit)
}

// requireAdmin lets administrators through. Anyone else is told the
// route does not exist (the edge answers so before the service is
// called; this is the service's own guard for any other caller).
func (s *Service) requireAdmin(ctx context.Context, call Call, userID string) error {
	if err := requireUser(call); err != nil {
		return err
	}
	if !call.Admin {
		s.denied(ctx, DeniedNotAdmin, call.UserID, userID)
		return sandstep.Errorf(sandstep.ENOTFOUND, "not found")
	}
	if s.quotas == nil {
		return sandstep.Errorf(sandstep.EINTERNAL, "service: no Quotas wired: administration is not served")
	}
	return sandstep.ValidateUserID("userId", userID)
}

func (s *Service) adminEvent(call Call, target, action string, detail map[string]string) sandstep.AuditEvent {
	return sandstep.AuditEvent{
		Time:         s.opts.Now(),
		Action:       action,
		UserID:       call.UserID,
		TargetUserID: target,
		RequestID:    call.RequestID,
		Outcome:      "ok",
		Detail:       detail,
	}
}
