package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Inventory lists the live sandbox records (creating, ready, deleting) of
// every owner.
type Inventory interface {
	LiveSandboxes(ctx context.Context) ([]*sandstep.Sandbox, error)
}

// Catalog lists the provider's sandboxes that carry all of labels.
type Catalog interface {
	List(ctx context.Context, labels map[string]string) ([]ProviderSandbox, error)
}

// ActionReconcile is the audit action of what a reconciliation changed.
const ActionReconcile = "sandbox.reconcile"

// ReconcileReport says what a reconciliation found and did.
type ReconcileReport struct {
	// Abandoned creates: creating records older than the cutoff, whose
	// provider sandbox (if any) was deleted, marked failed, slot released.
	Abandoned int `json:"abandoned"`
	// Gone: ready records whose sandbox the provider no longer has, marked
	// gone, slot released.
	Gone int `json:"gone"`
	// Finished deletes: deleting records taken to deleted.
	Finished int `json:"finished"`
	// Unowned: provider sandboxes of this deployment that no live record
	// owns, deleted.
	Unowned int `json:"unowned"`
	// Failed counts the findings that could not be dealt with now; they
	// are found again by the next reconciliation.
	Failed int `json:"failed"`
}

// errAbandoned is the cause recorded on an abandoned create.
var errAbandoned = sandstep.Errorf(sandstep.EINTERNAL, "the create was abandoned: the process creating the sandbox ended before it was ready")

// Reconcile makes the records and the provider agree after a crash: a
// creating record older than abandonedBefore (no process can still be
// working on it) is failed and its sandbox deleted; a ready record whose
// sandbox is gone is marked gone; a deleting record is deleted; and every
// sandbox carrying this deployment's label that no live record owns is
// deleted. Sandboxes of other deployments are never listed, so never
// touched. Because a create writes its record before it calls the
// provider, a sandbox without a record was never anyone's to keep.
func (s *Service) Reconcile(ctx context.Context, abandonedBefore time.Time) (*ReconcileReport, error) {
	if s.inventory == nil || s.catalog == nil {
		return nil, errors.New("service: Reconcile needs Deps.Inventory and Deps.Catalog")
	}
	records, err := s.inventory.LiveSandboxes(ctx)
	if err != nil {
		return nil, fmt.Errorf("reconcile: list records: %w", err)
	}
	listed, err := s.catalog.List(ctx, map[string]string{LabelDeployment: s.opts.Deployment})
	if err != nil {
		return nil, fmt.Errorf("reconcile: list provider sandboxes: %w", err)
	}
	byName := make(map[string]ProviderSandbox, len(listed))
	for _, ps := range listed {
		byName[ps.Name] = ps
	}
	report := &ReconcileReport{}
	owned := make(map[string]bool, len(records))
	for _, rec := range records {
		owned[rec.ID] = true
		ps, found := byName[rec.ID]
		s.reconcileRecord(ctx, rec, ps, found, abandonedBefore, report)
	}
	for _, ps := range listed {
		if owned[ps.Name] {
			continue
		}
		if err := s.provider.Delete(ctx, ps.ID); err != nil {
			s.opts.Logger.ErrorContext(ctx, "reconcile: unowned sandbox not deleted", "providerId", ps.ID, "name", ps.Name, "err", err)
			report.Failed++
			continue
		}
		s.opts.Logger.WarnContext(ctx, "reconcile: deleted a sandbox no record owns", "providerId", ps.ID, "name", ps.Name)
		report.Unowned++
	}
	return report, nil
}

// reconcileRecord deals with one live record; ps is its provider sandbox
// if found.
func (s *Service) reconcileRecord(ctx context.Context, rec *sandstep.Sandbox, ps ProviderSandbox, found bool, abandonedBefore time.Time, report *ReconcileReport) {
	call := Call{UserID: rec.Owner, RequestID: "reconcile"}
	alive := found && ps.State != "destroyed" && ps.State != "destroying"
	switch rec.State {
	case sandstep.StateCreating:
		if rec.CreatedAt.After(abandonedBefore) {
			return // a create still at work
		}
		if found {
			if err := s.provider.Delete(ctx, rec.ID); err != nil {
				s.opts.Logger.ErrorContext(ctx, "reconcile: abandoned create: sandbox not deleted", "sandboxId", rec.ID, "err", err)
				report.Failed++
				return
			}
		}
		s.abandon(ctx, rec, errAbandoned)
		s.audit(ctx, call, rec, ActionReconcile, nil, map[string]string{"finding": "abandoned"})
		report.Abandoned++
	case sandstep.StateReady:
		if alive {
			return
		}
		s.markGone(ctx, call, rec)
		report.Gone++
	case sandstep.StateDeleting:
		if _, err := s.delete(ctx, call, rec); err != nil {
			s.opts.Logger.ErrorContext(ctx, "reconcile: delete not finished", "sandboxId", rec.ID, "err", err)
			report.Failed++
			return
		}
		report.Finished++
	}
}
