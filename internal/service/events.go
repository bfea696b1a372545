package service

import (
	"context"
	"fmt"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// AuditLog reads the audit trail of one sandbox or one task (exactly one
// of sandboxID and taskID), oldest first.
type AuditLog interface {
	ListAudit(ctx context.Context, sandboxID, taskID string, limit int, cursor string) ([]sandstep.AuditEvent, string, error)
}

// EventList is one page of an audit trail, oldest first.
type EventList struct {
	Items      []sandstep.AuditEvent `json:"items"`
	NextCursor string                `json:"nextCursor,omitempty"`
}

// SandboxEvents returns a page of the audit trail of the caller's
// sandbox; anyone else's is not found, as for GetSandbox.
func (s *Service) SandboxEvents(ctx context.Context, call Call, id string, in ListInput) (*EventList, error) {
	if err := requireUser(call); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.Limit)
	if err != nil {
		return nil, err
	}
	if _, err := s.ownedSandbox(ctx, call, id); err != nil {
		return nil, err
	}
	return s.events(ctx, id, "", limit, in.Cursor)
}

// TaskEvents returns a page of the audit trail of a task the caller may
// read (visibleTask: its owner, or a reader of its repository).
func (s *Service) TaskEvents(ctx context.Context, call Call, id string, in ListInput) (*EventList, error) {
	if err := requireUser(call); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.Limit)
	if err != nil {
		return nil, err
	}
	if _, err := s.visibleTask(ctx, call, id); err != nil {
		return nil, err
	}
	return s.events(ctx, "", id, limit, in.Cursor)
}

func (s *Service) events(ctx context.Context, sandboxID, taskID string, limit int, cursor string) (*EventList, error) {
	if s.auditLog == nil {
		return nil, sandstep.Errorf(sandstep.EINTERNAL, "service: no AuditLog wired: the audit trail cannot be read")
	}
	items, next, err := fitPage(s.opts.MaxResponseBytes, limit, func(limit int) ([]sandstep.AuditEvent, string, error) {
		return s.auditLog.ListAudit(ctx, sandboxID, taskID, limit, cursor)
	})
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	if items == nil {
		items = []sandstep.AuditEvent{}
	}
	return &EventList{Items: items, NextCursor: next}, nil
}
