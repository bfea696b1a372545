package service

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sandstep/sandstep/internal/metrics"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// Completion notices (README's "Long tasks"; docs/architecture.md, "Tasks"):
// a task whose input names notify.url is told about, by a POST to that
// URL, once it has ended. The notice's state lives in the task's record.
// The first attempt is made by the clean-up, after the task has ended and
// its sandbox and slot are released; the reaper makes the next ones, with
// backoff, until NOTIFY_RETRY_FOR after the end.

// Notifier delivers notices; internal/notify's Sender is one.
type Notifier interface {
	// CheckURL returns an EINVALID error naming "url" when url may not
	// receive notices, as far as can be known without connecting.
	CheckURL(url string) error
	// Send makes one attempt; nil when the receiver accepted it. EINVALID
	// means it was refused and another attempt would be too.
	Send(ctx context.Context, url, deliveryID string, body []byte, secret string) error
}

// NotifyInput is a task's notify field: where to post its end, and the
// secret whose HMAC signs it (a reference, like secretEnv's).
type NotifyInput struct {
	URL       string `json:"url"`
	SecretRef string `json:"secretRef,omitempty"`
}

// ActionTaskNotify is the audit action of a notice's last word: delivered
// or given up.
const ActionTaskNotify = "task.notify"

const (
	// Attempts after the first wait noticeFirstRetry, doubling up to
	// noticeMaxBackoff; the reaper's schedule rounds the early ones up.
	noticeFirstRetry = time.Minute
	noticeMaxBackoff = time.Hour
	// noticeAttemptTime is what an attempt needs of an invocation: the
	// sender's timeout (10 s) and the record's writes.
	noticeAttemptTime = 15 * time.Second
	// The reaper attempts at most noticesPerRun notices a run,
	// noticesAtOnce at a time; the rest wait for the next run.
	noticesPerRun = 100
	noticesAtOnce = 8
)

// noticeBackoff is the wait after the attempts-th attempt failed.
func noticeBackoff(attempts int) time.Duration {
	d := noticeFirstRetry
	for i := 1; i < attempts && d < noticeMaxBackoff; i++ {
		d *= 2
	}
	return min(d, noticeMaxBackoff)
}

// validateNotify checks a task's notify field before anything is made.
func (s *Service) validateNotify(in *NotifyInput) error {
	if in == nil {
		return nil
	}
	if s.notifier == nil {
		return sandstep.Invalid("notify", "completion notices are not enabled in this deployment")
	}
	return prefixField("notify.", s.notifier.CheckURL(in.URL))
}

// checkNotifySecret resolves the notice's secret once, as owner, so a
// reference that is not owner's to name or cannot be read is refused
// before the task is accepted.
func (s *Service) checkNotifySecret(ctx context.Context, owner string, in *NotifyInput) error {
	if in == nil || in.SecretRef == "" {
		return nil
	}
	if _, err := s.resolve(ctx, owner, "notify.secretRef", in.SecretRef); err != nil {
		var e *sandstep.Error
		if errors.As(err, &e) {
			return e // unwrapped, so a console start can name task.notify.secretRef
		}
		return err
	}
	return nil
}

// newNotice is the notice of a task being accepted; in has been validated.
func newNotice(in *NotifyInput) *sandstep.TaskNotice {
	if in == nil {
		return nil
	}
	u, _ := url.Parse(in.URL)
	return &sandstep.TaskNotice{
		URL: in.URL, SecretRef: in.SecretRef, Host: u.Host, Signed: in.SecretRef != "",
		DeliveryID: "dlv_" + randomID(), Status: sandstep.NoticePending,
	}
}

// noticeBody is what a notice says, built from the ended task's record:
// every attempt says the same outcome, while its usage grows by the
// attempts' own Lambda time (the meter counts them to the task).
type noticeBody struct {
	TaskID     string              `json:"taskId"`
	Status     sandstep.TaskStatus `json:"status"`
	ExitCode   *int                `json:"exitCode"`
	StartedAt  *time.Time          `json:"startedAt"`
	FinishedAt *time.Time          `json:"finishedAt"`
	Error      string              `json:"error,omitempty"`
	DeliveryID string              `json:"deliveryId"`
	// Usage and Cost are what the task consumed and its estimate, as
	// GET /tasks/{id} shows them.
	Usage *sandstep.TaskUsage `json:"usage,omitempty"`
	Cost  *sandstep.TaskCost  `json:"cost,omitempty"`
}

// noticeDue says whether t's notice should be attempted at now.
func noticeDue(t *sandstep.Task, now time.Time) bool {
	n := t.Notify
	return n != nil && n.Status == sandstep.NoticePending && t.Status.Terminal() &&
		(n.NextAttemptAt == nil || !now.Before(*n.NextAttemptAt))
}

// noticeDeadline is when retrying t's notice stops.
func (s *Service) noticeDeadline(t *sandstep.Task) time.Time {
	end := t.CreatedAt
	if t.FinishedAt != nil {
		end = *t.FinishedAt
	}
	return end.Add(s.opts.NotifyRetryFor)
}

// notifyEnded makes the next attempt of an ended task's notice, if one is
// due and the invocation has time for it, and reports whether it made
// one. It never fails its caller: the outcome is kept on the notice.
func (s *Service) notifyEnded(ctx context.Context, t *sandstep.Task) bool {
	if s.notifier == nil || !noticeDue(t, s.opts.Now()) {
		return false
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < noticeAttemptTime {
		return false // the reaper's next run has the time
	}
	claimed, err := s.claimNotice(ctx, t)
	if err != nil {
		s.opts.Logger.ErrorContext(ctx, "notice not attempted", "taskId", t.ID, "err", err)
		return false
	}
	if claimed == nil {
		return false // another attempt has it, or it was given up
	}
	n := claimed.Notify
	shown := s.priced(ctx, claimed)
	body, err := json.Marshal(noticeBody{
		TaskID: claimed.ID, Status: claimed.Status, ExitCode: claimed.ExitCode, StartedAt: claimed.StartedAt,
		FinishedAt: claimed.FinishedAt, Error: claimed.Error, DeliveryID: n.DeliveryID,
		Usage: shown.Usage, Cost: shown.Cost,
	})
	if err != nil {
		err = sandstep.Wrap(err, sandstep.EINTERNAL, "encode the notice")
	}
	secret := ""
	if err == nil && n.SecretRef != "" {
		secret, err = s.resolve(ctx, claimed.Owner, "notify.secretRef", n.SecretRef)
	}
	if err == nil {
		err = s.notifier.Send(ctx, n.URL, n.DeliveryID, body, secret)
	}
	s.recordNotice(ctx, claimed, err)
	return true
}

// claimNotice takes the next attempt: the attempt is counted and the next
// one scheduled before anything is sent, so a concurrent clean-up or
// reaper finds it not due, and a process that dies mid-attempt leaves it
// for the reaper. A notice past NOTIFY_RETRY_FOR is given up instead.
// nil, nil: not claimed.
func (s *Service) claimNotice(ctx context.Context, t *sandstep.Task) (*sandstep.Task, error) {
	now := s.opts.Now().UTC()
	var claimed, gaveUp bool
	// gaveUpTo is the settlement this call's give-up wrote: a try of it
	// that landed with its answer lost is read back settled, and is still
	// this call's to tell (as recordNotice's).
	var gaveUpTo *sandstep.TaskNotice
	got, err := s.tasks.TransitionTask(ctx, t.ID, []sandstep.TaskStatus{t.Status}, t.Status, func(r *sandstep.Task) {
		claimed, gaveUp = false, false
		if !noticeDue(r, now) {
			gaveUp = r.Notify != nil && gaveUpTo != nil && sameSettlement(r.Notify, gaveUpTo)
			return
		}
		n := *r.Notify
		deadline := s.noticeDeadline(r)
		// An attempt scheduled within the window is made, even by a run
		// that comes a little after it ends; one scheduled past it (the
		// window's last attempt failed and its recording was lost) is not.
		if n.Attempts > 0 && (n.NextAttemptAt == nil || n.NextAttemptAt.After(deadline)) {
			n.Status, n.NextAttemptAt, gaveUp = sandstep.NoticeFailed, nil, true
			n.LastError = cmp.Or(n.LastError, "not delivered") + fmt.Sprintf(" (given up %s after the task ended)", s.opts.NotifyRetryFor)
			gaveUpTo = &n
		} else {
			claimed, gaveUpTo = true, nil
			// The backoff's wait is cut short at the window's end, so the
			// last attempt is made then rather than up to a wait before it;
			// never below the first wait, which an attempt in flight (its
			// 10 s) needs to hold the notice.
			next := now.Add(noticeBackoff(n.Attempts + 1))
			if next.After(deadline) {
				next = deadline
			}
			if least := now.Add(noticeFirstRetry); next.Before(least) {
				next = least
			}
			n.Attempts, n.LastAttemptAt, n.NextAttemptAt = n.Attempts+1, &now, &next
		}
		r.Notify = &n
	})
	if err != nil {
		return nil, err
	}
	if gaveUp {
		// Its last attempt was never recorded: no other line says so.
		s.opts.Logger.WarnContext(ctx, "notice given up", "taskId", got.ID, "userId", got.Owner, "status", got.Notify.Status,
			"attempts", got.Notify.Attempts, "deliveryId", got.Notify.DeliveryID, "err", got.Notify.LastError)
		s.noticeSettled(ctx, got)
	}
	if !claimed {
		return nil, nil
	}
	return got, nil
}

// recordNotice keeps what the claimed attempt came to.
func (s *Service) recordNotice(ctx context.Context, claimed *sandstep.Task, sent error) {
	wctx, cancel := s.writeContext(ctx)
	defer cancel()
	now := s.opts.Now().UTC()
	attempt := claimed.Notify.Attempts
	deadline := s.noticeDeadline(claimed)
	// settled: this call's write ended the notice (an earlier try of it
	// may have landed with its answer lost: wrote is what it wrote). One
	// another attempt settled first (this one outlived its claim, as a
	// slow receiver's may) was audited and counted by that attempt.
	var settled bool
	var wrote *sandstep.TaskNotice
	got, err := s.tasks.TransitionTask(wctx, claimed.ID, []sandstep.TaskStatus{claimed.Status}, claimed.Status, func(r *sandstep.Task) {
		settled = false
		if r.Notify == nil || r.Notify.Status != sandstep.NoticePending {
			settled = r.Notify != nil && wrote != nil && sameSettlement(r.Notify, wrote)
			return
		}
		n := *r.Notify
		switch {
		case sent == nil:
			n.Status, n.DeliveredAt, n.NextAttemptAt, n.LastError = sandstep.NoticeDelivered, &now, nil, ""
		case n.Attempts != attempt:
			return // a later attempt has it now
		default:
			n.LastError = sandstep.ErrorMessage(sent)
			if sandstep.ErrorCode(sent) == sandstep.EINVALID || n.NextAttemptAt == nil || n.NextAttemptAt.After(deadline) {
				n.Status, n.NextAttemptAt = sandstep.NoticeFailed, nil
			}
		}
		r.Notify = &n
		settled = n.Status != sandstep.NoticePending
		if settled {
			wrote = &n
		}
	})
	log := s.opts.Logger.With("taskId", claimed.ID, "userId", claimed.Owner, "attempt", attempt, "deliveryId", claimed.Notify.DeliveryID)
	switch {
	case err != nil:
		log.ErrorContext(ctx, "notice attempt not recorded", "sent", sent == nil, "err", err)
		return
	case sent == nil:
		log.InfoContext(ctx, "notice delivered")
	default:
		// Clipped: its cause may quote the receiver's answer at length.
		log.WarnContext(ctx, "notice not delivered", "status", got.Notify.Status, "err", sandstep.Clip(sent.Error(), 2048))
	}
	if settled {
		s.noticeSettled(ctx, got)
	}
}

// sameSettlement says whether a, a settled notice read back, is the
// settlement b that a write made.
func sameSettlement(a, b *sandstep.TaskNotice) bool {
	sameTime := a.DeliveredAt == nil && b.DeliveredAt == nil ||
		a.DeliveredAt != nil && b.DeliveredAt != nil && a.DeliveredAt.Equal(*b.DeliveredAt)
	return a.Status == b.Status && a.Attempts == b.Attempts && a.LastError == b.LastError && sameTime
}

// noticeSettled audits a notice's last word, and counts one given up
// (refused for good, or past NOTIFY_RETRY_FOR).
func (s *Service) noticeSettled(ctx context.Context, t *sandstep.Task) {
	n := t.Notify
	if n.Status == sandstep.NoticeFailed {
		metrics.Add(ctx, metrics.NoticesGivenUp, metrics.Count, 1)
	}
	s.auditTask(ctx, Call{UserID: t.Owner, RequestID: n.DeliveryID}, t, ActionTaskNotify, nil,
		map[string]string{"status": string(n.Status), "attempts": fmt.Sprint(n.Attempts), "host": n.Host})
}

// sendsNotices says whether this deployment sends completion notices.
func (s *Service) sendsNotices() bool {
	return s.notifier != nil && s.tasks != nil
}

// redrive makes the next attempt of every notice of pending that is due,
// a few at a time, the longest waiting first, and returns how many it
// attempted (with dryRun, how many are due). The reaper runs it. A first
// attempt is the task's clean-up's, once it has released the task's
// sandbox and slot (settleTask then ends the sandbox's usage): redrive
// makes it before then only grace after the task's end, once its
// execution has ended too (a Collect may still be at work).
func (s *Service) redrive(ctx context.Context, pending []*sandstep.Task, dryRun bool, grace time.Duration,
	running func(context.Context, *sandstep.Task) (bool, time.Time, error)) int {
	now := s.opts.Now()
	due := slices.DeleteFunc(pending, func(t *sandstep.Task) bool {
		u := t.Usage
		settled := u == nil || u.SandboxFrom == nil || u.SandboxTo != nil
		if !noticeDue(t, now) {
			return true
		}
		if t.Notify.Attempts > 0 || settled {
			return false
		}
		if t.FinishedAt != nil && now.Sub(*t.FinishedAt) < grace {
			return true
		}
		on, _, err := running(ctx, t)
		if err != nil {
			s.opts.Logger.WarnContext(ctx, "reaper: execution status unknown; the notice waits for the next run", "taskId", t.ID, "err", err)
		}
		return err != nil || on
	})
	slices.SortFunc(due, func(a, b *sandstep.Task) int {
		return cmp.Compare(noticeWaiting(a).UnixNano(), noticeWaiting(b).UnixNano())
	})
	due = due[:min(len(due), noticesPerRun)]
	if dryRun {
		return len(due)
	}
	var attempted atomic.Int32
	var wg sync.WaitGroup
	slots := make(chan struct{}, noticesAtOnce)
	for _, t := range due {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if s.notifyEnded(ctx, t) {
				attempted.Add(1)
			}
		})
	}
	wg.Wait()
	return int(attempted.Load())
}

// noticeWaiting is since when t's notice has been due.
func noticeWaiting(t *sandstep.Task) time.Time {
	if t.Notify.NextAttemptAt != nil {
		return *t.Notify.NextAttemptAt
	}
	if t.FinishedAt != nil {
		return *t.FinishedAt
	}
	return t.CreatedAt
}
