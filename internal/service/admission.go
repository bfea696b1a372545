package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Admission: a task's sandbox is made only within its owner's quota and
// Daytona's capacity. A repository's task over its quota waits its turn
// (EQUEUED, which the state machine retries with backoff) until
// GITHUB_QUEUE_TIMEOUT has passed since it was accepted; anyone else's
// fails at once, as a create does. Daytona out of capacity, or its create
// rate spent, is waited for CAPACITY_WAIT beyond that. The execution's timeout is the sum of both
// waits, the longest command and the clean-up margin.

// repoOwned says t belongs to a repository (an issue's task).
func repoOwned(t *sandstep.Task) bool {
	_, ok := sandstep.RepoOf(t.Owner)
	return ok
}

// revokeCloneToken revokes tok (nil: none was minted), the read-only
// token minted for t's clone, once no sandbox holds it.
func (s *Service) revokeCloneToken(ctx context.Context, t *sandstep.Task, tok *RepoToken) {
	if tok != nil {
		s.revokeToken(ctx, t, tok.Value, "an unused read-only token")
	}
}

// revokeToken ends a token minted for t before its hour, in revokeTimeout
// of its own (a step's cancelled context does not stop it); a failure is
// logged, what naming the token, which then expires within the hour.
func (s *Service) revokeToken(ctx context.Context, t *sandstep.Task, value, what string) {
	rctx, cancel := Detached(ctx, revokeTimeout)
	defer cancel()
	if err := s.repoAccess.Revoke(rctx, value); err != nil {
		s.opts.Logger.WarnContext(ctx, what+" was not revoked; it expires within the hour", "taskId", t.ID, "err", err)
	}
}

// notAdmitted is what CreateTaskSandbox answers when the sandbox of t
// could not be made because of err; cloneToken, the read-only token
// minted for the clone if it got that far, is revoked, as no sandbox holds
// it.
func (s *Service) notAdmitted(ctx context.Context, t *sandstep.Task, cloneToken *RepoToken, err error) error {
	s.revokeCloneToken(ctx, t, cloneToken)
	waited := s.opts.Now().Sub(t.CreatedAt)
	switch sandstep.ErrorCode(err) {
	case sandstep.EQUOTA:
		return s.queue(ctx, t, err, false, "no slot of the repository's quota (GITHUB_REPO_QUOTA) came free")
	case sandstep.EDRAINING:
		return s.queue(ctx, t, err, true, "sandstep was not resumed")
	case sandstep.ECAPACITY:
		if wait := s.capacityWait(t); waited > wait {
			return sandstep.Wrap(err, sandstep.ETIMEOUT, "Daytona had no capacity for the task's sandbox within %s (CAPACITY_WAIT)", s.opts.CapacityWait)
		}
		s.refusedAgain(ctx, t, waitCapacity)
	case sandstep.ETRANSIENT:
		// Each attempt the rate refuses has waited most of its invocation
		// for it, and the state machine asks 20 times: unbounded, that
		// time outruns the execution's margin. Daytona has no room for
		// the create, as when it has no capacity (Daytona's own 429
		// too: the attempt it ends has waited as long).
		if rateRefused(err) && waited > s.capacityWait(t) {
			return sandstep.Wrap(err, sandstep.ETIMEOUT, "Daytona's create rate (DAYTONA_CREATE_RATE) left no room for the task's sandbox within %s (CAPACITY_WAIT)", s.opts.CapacityWait)
		}
	}
	// A field of the create (the snapshot Daytona refused) is the task's
	// sandbox's.
	return prefixField("sandbox.", err)
}

// queue makes a repository's task not admitted because of err wait its
// turn (EQUEUED), told on its issue as queued or, while the deployment is
// drained, paused, until GITHUB_QUEUE_TIMEOUT has passed since it was
// accepted (ETIMEOUT, saying what did not happen in time). Anyone else's
// task fails with err.
func (s *Service) queue(ctx context.Context, t *sandstep.Task, err error, paused bool, notInTime string) error {
	if !repoOwned(t) || s.opts.QueueTimeout == 0 {
		return err
	}
	if s.opts.Now().Sub(t.CreatedAt) > s.opts.QueueTimeout {
		return sandstep.Wrap(err, sandstep.ETIMEOUT, "%s within %s (GITHUB_QUEUE_TIMEOUT): %s",
			notInTime, s.opts.QueueTimeout, sandstep.ErrorMessage(err))
	}
	reason, why := waitQueued, "the task waits its turn"
	if paused {
		reason, why = waitPaused, "the task is paused"
	}
	s.refusedAgain(ctx, t, reason)
	return sandstep.Wrap(err, sandstep.EQUEUED, "%s: %s", why, sandstep.ErrorMessage(err))
}

// capacityWait is how long after its acceptance t may still wait for
// Daytona's capacity: a repository's task may have queued first.
func (s *Service) capacityWait(t *sandstep.Task) time.Duration {
	if repoOwned(t) {
		return s.opts.QueueTimeout + s.opts.CapacityWait
	}
	return s.opts.CapacityWait
}

// Why a task waits, as its issue was told (sandstep.Task.Waiting).
const (
	waitQueued   = "queued"   // for a slot of its repository's quota
	waitPaused   = "paused"   // for sandstep to be resumed
	waitCapacity = "capacity" // for Daytona's capacity
)

// refusedAgain records a refused create of t that the state machine asks
// again (Sandbox.Queued, or Sandbox.Capacity within CAPACITY_WAIT) for
// reason: the write carries the attempt's usage (its invocation, its
// reads and writes), which would otherwise be lost with it, one write per
// attempt. The first refusal that queues t also marks when (queuedAt).
// Its issue is told when it first waits for its quota or the drain, and
// again when why it waits changes (a drain over a task queued, a resume
// over one paused, Daytona's capacity after either, whether or not its
// record says which it was told); a task that only waits for capacity
// keeps its started comment.
func (s *Service) refusedAgain(ctx context.Context, t *sandstep.Task, reason string) {
	now := s.opts.Now().UTC()
	tell, was := false, ""
	updated, err := s.tasks.TransitionTask(ctx, t.ID, []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskQueued, func(r *sandstep.Task) {
		// The refused attempt ends here: its claim on the create goes.
		if r.CreateClaim == t.CreateClaim {
			r.CreateClaim = 0
		}
		was = r.Waiting
		// Never told it waits (no queuedAt): its issue says started, as
		// it may go on saying while it waits for capacity. A task that
		// queued was told so, though its record may not say why (written
		// before the reason was kept, or its comment refused).
		if reason == waitCapacity && r.Waiting == "" && r.QueuedAt == nil {
			tell = false
			return
		}
		tell = r.Waiting != reason
		if r.QueuedAt == nil && reason != waitCapacity {
			r.QueuedAt = &now
		}
		r.Waiting = reason
	})
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "the task's refused create was not recorded", "taskId", t.ID, "err", err)
		return
	}
	*t = *updated
	if !tell {
		return
	}
	if s.commentOnIssue(ctx, t, s.waitingComment(t, reason), false) {
		// A cancel meanwhile may have had its ended comment land first.
		s.tellEndedSince(ctx, t, false)
		return
	}
	// The issue still says why it waited before: the record must not say
	// it was told otherwise, or no later attempt tells it (a write only
	// when GitHub refused the comment).
	wctx, cancel := s.writeContext(ctx)
	defer cancel()
	if _, err := s.tasks.TransitionTask(wctx, t.ID, []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskQueued, func(r *sandstep.Task) {
		if r.Waiting == reason {
			r.Waiting = was
		}
	}); err != nil {
		s.opts.Logger.WarnContext(ctx, "the waiting comment not written is not recorded as such", "taskId", t.ID, "err", err)
	}
}

// admitted tells the issue of a task that queued that it starts now.
func (s *Service) admitted(ctx context.Context, t *sandstep.Task) {
	// A cancel meanwhile may have had its ended comment land before this
	// one, which would then hide it.
	if t.QueuedAt != nil && s.commentOnIssue(ctx, t, s.startedComment(t), false) {
		s.tellEndedSince(ctx, t, false)
	}
}

// waitingComment is the comment of a task that waits for reason: why, it
// starts when, or fails if it has not by when.
func (s *Service) waitingComment(t *sandstep.Task, reason string) string {
	state, why, starts, fails, within := "queued", "the repository runs as many tasks at once as its quota allows", "one of them ends", "none has", s.opts.QueueTimeout
	switch reason {
	case waitPaused:
		state, why, starts, fails = "paused", "sandstep is drained for maintenance", "sandstep resumes", "it has not"
	case waitCapacity:
		state, why, starts, fails, within = "waiting", "Daytona has no room for its sandbox now", "Daytona has room", "it has none", s.capacityWait(t)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**sandstep** %s task `%s` for this issue: %s.\n\n", state, t.ID, why)
	fmt.Fprintf(&b, "It starts when %s, or fails if %s by %s", starts, fails, t.CreatedAt.Add(within).UTC().Format(time.RFC3339))
	if reason == waitCapacity && repoOwned(t) && s.opts.QueueTimeout > 0 {
		// Its slot goes back with each refused create: should another
		// task take it, the quota's own time applies again.
		fmt.Fprintf(&b, ", or if it must wait for a slot of the repository's quota again after %s",
			t.CreatedAt.Add(s.opts.QueueTimeout).UTC().Format(time.RFC3339))
	}
	b.WriteString(".\n")
	b.WriteString("Remove the label, or comment `cancel` after the command, to cancel it.\n")
	return b.String()
}
