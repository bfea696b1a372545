package service

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sandstep/sandstep/internal/metrics"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// GetSandbox returns the caller's sandbox merged with the provider's
// current state. A sandbox the provider no longer has is shown as gone and
// its slot released.
//
// The record and the provider's state are read at once: the provider
// knows a sandbox by its name, the sandstep id, so a status costs no round
// trip beyond the provider's. Nothing is answered, and nothing of the
// provider's used, before the record says the sandbox is the caller's.
func (s *Service) GetSandbox(ctx context.Context, call Call, id string) (*sandstep.Sandbox, error) {
	if err := requireUser(call); err != nil {
		return nil, err
	}
	if err := validateID("id", id); err != nil {
		return nil, err
	}
	provided, stop := overlap(ctx, func(ctx context.Context) (*ProviderSandbox, error) { return s.provider.Get(ctx, id) })
	sb, err := s.ownedSandbox(ctx, call, id)
	if err != nil {
		stop()
		return nil, err
	}
	if sb.State.Terminal() || sb.DaytonaID == "" {
		stop()
		return sb, nil
	}
	ps, err := provided()
	if err == nil && ps.ID != sb.DaytonaID {
		// Another sandbox under this name (the record's was replaced):
		// ask for the record's own.
		ps, err = s.provider.Get(ctx, sb.DaytonaID)
	}
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
	updated, err := s.sandboxes.TransitionSandbox(ctx, sb.ID, []sandstep.State{sandstep.StateReady, sandstep.StateCreating}, sandstep.StateGone, func(r *sandstep.Sandbox) {
		r.DeletedAt = &now
		r.ProviderState = "destroyed"
		r.Error = "the sandbox no longer exists at the provider"
	})
	if err != nil {
		// Someone else moved it (a concurrent delete); show what is there.
		if cur, gerr := s.sandboxes.GetSandbox(ctx, sb.ID); gerr == nil {
			return cur
		}
		s.opts.Logger.ErrorContext(ctx, "could not mark sandbox gone", "sandboxId", sb.ID, "err", err)
		return sb
	}
	cctx, cancel := s.cleanupContext(ctx)
	defer cancel()
	if _, err := s.quota.ReleaseSlot(cctx, sb.Owner, sb.ID); err != nil {
		s.opts.Logger.ErrorContext(ctx, "gone sandbox: quota slot not released", "sandboxId", sb.ID, "err", err)
	}
	s.audit(ctx, call, updated, ActionGone, nil, nil)
	return updated
}

// ListSandboxes returns a page of the caller's sandboxes, newest first:
// the live ones unless the input asks for others.
func (s *Service) ListSandboxes(ctx context.Context, call Call, in SandboxListInput) (*SandboxList, error) {
	if err := requireUser(call); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.Limit)
	if err != nil {
		return nil, err
	}
	states, err := listStates(in.State)
	if err != nil {
		return nil, err
	}
	items, next, err := fitPage(s.opts.MaxResponseBytes, limit, func(limit int) ([]*sandstep.Sandbox, string, error) {
		return s.sandboxes.ListSandboxes(ctx, call.UserID, limit, in.Cursor, states...)
	})
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	if items == nil {
		items = []*sandstep.Sandbox{}
	}
	return &SandboxList{Items: items, NextCursor: next}, nil
}

// Live are the states a list shows by default: everything not yet over.
var Live = []sandstep.State{sandstep.StateCreating, sandstep.StateReady, sandstep.StateDeleting}

// listStates reads a list's state filter: "" or "live", "all" (no
// filter), or one state.
func listStates(filter string) ([]sandstep.State, error) {
	all := append(slices.Clone(Live), sandstep.StateDeleted, sandstep.StateFailed, sandstep.StateGone)
	switch {
	case filter == "" || filter == "live":
		return Live, nil
	case filter == "all":
		return nil, nil
	case slices.Contains(all, sandstep.State(filter)):
		return []sandstep.State{sandstep.State(filter)}, nil
	}
	return nil, sandstep.Invalid("state", "must be live, all or one of %v, got %q", all, sandstep.Clip(filter, 32))
}

// DeleteSandbox deletes the caller's sandbox. It is idempotent: deleting a
// deleted (or gone) sandbox returns it as it is. The slot is released
// exactly once, whatever the number of concurrent deletes.
func (s *Service) DeleteSandbox(ctx context.Context, call Call, id string) (*sandstep.Sandbox, error) {
	defer metrics.Operation(ctx, "delete", time.Now())
	if err := requireUser(call); err != nil {
		return nil, err
	}
	if err := validateID("id", id); err != nil {
		return nil, err
	}
	s.known.forget(id)
	// The common case in one write: the caller's ready sandbox, marked.
	deleting, err := s.sandboxes.MarkDeleting(ctx, id, call.UserID)
	if err == nil {
		return s.deleteMarked(ctx, call, deleting)
	}
	if sandstep.ErrorCode(err) != sandstep.ECONFLICT || deleting == nil {
		return nil, fmt.Errorf("delete sandbox %s: %w", id, err)
	}
	// The failed write answered with the record: not the caller's, still
	// being created, or over already.
	sb, err := s.owned(ctx, call, deleting)
	if err != nil {
		return nil, err
	}
	return s.delete(ctx, call, sb)
}

// abandonedAfter is how old a creating record must be before a delete
// may take it over: no Lambda invocation, and so no create, runs longer.
const abandonedAfter = 15 * time.Minute

func (s *Service) delete(ctx context.Context, call Call, sb *sandstep.Sandbox) (*sandstep.Sandbox, error) {
	if sb.State.Terminal() {
		// Heals a delete that crashed between its transition and the
		// release: the store releases a slot at most once.
		if _, err := s.quota.ReleaseSlot(ctx, sb.Owner, sb.ID); err != nil {
			return nil, fmt.Errorf("release slot of %s: %w", sb.ID, err)
		}
		return sb, nil
	}
	from := []sandstep.State{sandstep.StateReady, sandstep.StateDeleting}
	if sb.State == sandstep.StateCreating {
		if s.opts.Now().Sub(sb.CreatedAt) < abandonedAfter {
			return nil, sandstep.Errorf(sandstep.ECONFLICT, "sandbox %s is still being created; delete it once it is ready", sb.ID)
		}
		// The create that wrote it has certainly ended, without a commit.
		from = append(from, sandstep.StateCreating)
	}
	deleting, err := s.sandboxes.TransitionSandbox(ctx, sb.ID, from, sandstep.StateDeleting, nil)
	if err != nil {
		return s.settled(ctx, sb, err)
	}
	return s.deleteMarked(ctx, call, deleting)
}

// deleteMarked deletes the provider sandbox of a record marked deleting,
// then ends the record, its slot and its audit event in one write. A
// failure leaves it deleting, for a retry or the reaper.
func (s *Service) deleteMarked(ctx context.Context, call Call, deleting *sandstep.Sandbox) (*sandstep.Sandbox, error) {
	target := deleting.DaytonaID
	if target == "" {
		target = deleting.ID
	}
	if err := s.provider.Delete(ctx, target); err != nil {
		s.audit(ctx, call, deleting, ActionDelete, err, nil)
		return nil, fmt.Errorf("delete provider sandbox of %s: %w", deleting.ID, err)
	}
	deleted, err := s.sandboxes.FinishDelete(ctx, deleting, s.auditEvent(call, deleting, ActionDelete, nil, nil))
	if err != nil {
		return s.settled(ctx, deleting, err)
	}
	return deleted, nil
}

// settled answers a delete that lost a race: if the record reached a
// terminal state meanwhile, that is the answer; otherwise the error stands.
func (s *Service) settled(ctx context.Context, sb *sandstep.Sandbox, err error) (*sandstep.Sandbox, error) {
	if sandstep.ErrorCode(err) == sandstep.ECONFLICT {
		if cur, gerr := s.sandboxes.GetSandbox(ctx, sb.ID); gerr == nil && cur.State.Terminal() {
			return cur, nil
		}
	}
	return nil, fmt.Errorf("delete sandbox %s: %w", sb.ID, err)
}
