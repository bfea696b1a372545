package store

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/awsjson"
	"github.com/sandstep/sandstep/internal/dynamo"
	"github.com/sandstep/sandstep/internal/pause"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// The provider's sandbox-create rate is shared state: one item per window
// (RATE#sandbox-create / W#<window start, unix ms>) counts the creates of
// every instance, so a burst is served at the rate whatever the number of
// Lambda instances, and none of them meets the provider's 429. After a
// 429 of the provider's own, the item also holds the end of the wait it
// asked for (unix ms), before which the window takes no create.
const (
	ratePK        = "RATE#sandbox-create"
	attrRateUsed  = "used"
	attrRateUntil = "heldUntil"
	// attrRateTake names the last take of a window: a take whose answer
	// was lost, sent again, is refused by its own name, not counted twice.
	attrRateTake = "lastTake"
	typeRate     = "rate"
)

// createWindowAt is the start of the window holding t.
func (s *Store) createWindowAt(t time.Time) time.Time {
	return t.Truncate(s.createWindow)
}

// maxCreateGuard bounds createGuard: the time a create may take from its
// reservation to the provider's counting it.
const maxCreateGuard = 2 * time.Second

// createGuard is the end of a window in which a create counts in the next
// window too: the provider counts it when it arrives, which may be past
// the boundary, where a full next window would make it one too many. A
// twentieth of the window, at most maxCreateGuard.
func (s *Store) createGuard() time.Duration {
	return min(s.createWindow/20, maxCreateGuard)
}

// createWindowsAt are the windows a create reserved at t counts in: its
// own, and the next when t is within createGuard of its end.
func (s *Store) createWindowsAt(t time.Time) []time.Time {
	w := s.createWindowAt(t)
	next := w.Add(s.createWindow)
	if next.Sub(t) <= s.createGuard() {
		return []time.Time{w, next}
	}
	return []time.Time{w}
}

func (s *Store) rateKey(window time.Time) map[string]types.AttributeValue {
	return key(ratePK, "W#"+strconv.FormatInt(window.UnixMilli(), 10))
}

// takeCreates takes one create of each window, all or none, on
// condition that each has one left and is not held back (SpendCreates). A
// take refused only because windows are held back is refused for the rate
// until the hold ends (heldBack); one DynamoDB keeps cancelling for
// conflicts, for a moment (rateBusy). A window refused for its count is
// DynamoDB's error, for the caller to explain (refusedWindow).
func (s *Store) takeCreates(ctx context.Context, windows []time.Time) error {
	// One name for every try of this take: a try refused for a conflict
	// after one whose answer was lost may follow a take that landed.
	take, writes := crand.Text(), 0
	err := s.writeRate(ctx, func() []types.TransactWriteItem {
		writes++
		now := s.nowUTC()
		items := make([]types.TransactWriteItem, len(windows))
		for i, w := range windows {
			items[i] = s.takeCreate(w, now, take)
		}
		return items
	})
	if len(windows) == 1 && conditionFailed(err, 0) && (writes > 1 || dynamo.EarlierTryMayHaveApplied(err)) && s.tookCreate(ctx, windows[0], take) {
		// An earlier try took it, its answer lost (a transaction of two
		// windows is idempotent on its own token).
		return nil
	}
	if conflicted(err) {
		return rateBusy(err)
	}
	if held := s.heldBack(err, len(windows)); held != nil {
		return held
	}
	return err
}

// tookCreate says whether window's last take is take, read strongly
// consistent; a failed read says no.
func (s *Store) tookCreate(ctx context.Context, window time.Time, take string) bool {
	out, err := s.db.GetItem(ctx, &dynamo.GetItemInput{TableName: aws.String(s.table), Key: s.rateKey(window), ConsistentRead: aws.Bool(true)})
	return err == nil && avS(out.Item[attrRateTake]) == take
}

// How often a write of the rate's items is tried while DynamoDB refuses
// it for a conflict, and the ceiling of the first pause (doubling, full
// jitter). The rate's items are the deployment's hottest: in a window's
// last seconds every take is a transaction on two of them, and DynamoDB
// cancels a transaction, or refuses a plain write, on an item another
// transaction is writing. That lasts a transaction's time, tens of
// milliseconds.
const (
	rateWriteTries    = 4
	rateConflictPause = 20 * time.Millisecond
)

// writeRate writes the items made by items (made again for each try),
// trying again after a conflict, up to rateWriteTries times: the rate's
// items, and an issue's cancel mark, which starts' transactions check.
func (s *Store) writeRate(ctx context.Context, items func() []types.TransactWriteItem) error {
	return retryConflicts(ctx, func() error { return s.write(ctx, items()...) })
}

// retryConflicts calls write until it is not refused for a conflict, up to
// rateWriteTries times, after pauses doubling from rateConflictPause.
func retryConflicts(ctx context.Context, write func() error) error {
	for try := 1; ; try++ {
		err := write()
		if try == rateWriteTries || !conflicted(err) {
			return err
		}
		if !pause.For(ctx, rand.N(rateConflictPause<<(try-1))) {
			return err
		}
	}
}

// conflicted says whether DynamoDB refused a write because another
// transaction was writing one of its items: a cancelled transaction with
// a TransactionConflict reason, or a plain write's
// TransactionConflictException.
func conflicted(err error) bool {
	if reasons, ok := txReasons(err); ok {
		return slices.Contains(reasons, reasonConflict)
	}
	var ae *awsjson.APIError
	return errors.As(err, &ae) && ae.Code == "TransactionConflictException"
}

// rateBusy refuses, for the rate, a reservation whose take still
// conflicted after rateWriteTries: the budget is contended, so a create
// waits a moment (a task's within its deadline, an API call answered 503
// with Retry-After) rather than failing as a database error.
func rateBusy(err error) error {
	return refuseForRate(err, minRateRetry, "the deployment's create budget is contended")
}

// RateRefusalMarker is in the message of every refusal for the create
// rate, and of no other error: a client tells the rate at work from a
// failure by it (make load does).
const RateRefusalMarker = "(DAYTONA_CREATE_RATE)"

// refuseForRate is the one form of a refusal for the create rate: an
// ETRANSIENT of sandstep.ErrCreateRate (and cause, if any) saying why,
// naming RateRefusalMarker and a wait of at least minRateRetry, which it
// carries as RetryAfter.
func refuseForRate(cause error, wait time.Duration, why string) error {
	wait = max(wait, minRateRetry)
	errs := sandstep.ErrCreateRate
	if cause != nil {
		errs = fmt.Errorf("%w: %w", sandstep.ErrCreateRate, cause)
	}
	e := sandstep.Wrap(errs, sandstep.ETRANSIENT, "%s %s; try again in %s", why, RateRefusalMarker, wait.Round(time.Millisecond))
	e.RetryAfter = wait
	return e
}

// takeCreate takes one create of window at now, named take, on condition
// that it has one left, is not held back past now, and was not taken by
// this take already.
func (s *Store) takeCreate(window, now time.Time, take string) types.TransactWriteItem {
	used, until, last := expression.Name(attrRateUsed), expression.Name(attrRateUntil), expression.Name(attrRateTake)
	e := build(expression.NewBuilder().
		WithCondition(expression.And(
			expression.Or(used.AttributeNotExists(), used.LessThan(expression.Value(s.createRate))),
			expression.Or(until.AttributeNotExists(), until.LessThanEqual(expression.Value(now.UnixMilli()))),
			expression.Or(last.AttributeNotExists(), last.NotEqual(expression.Value(take))))).
		WithUpdate(expression.Add(used, expression.Value(1)).
			Set(last, expression.Value(take)).
			Set(expression.Name(attrType), expression.Value(typeRate)).
			Set(expression.Name(TTLAttribute), expression.Value(window.Add(s.createWindow+time.Hour).Unix()))))
	return s.update(s.rateKey(window), e)
}

// How long the first create a window refuses a Store is tried again, and
// the longest pause before a retake. The refusals it waits out last as
// long as a storm of creates refused their slots, each holding a create
// for a round trip: a few round trips, or a second on a loaded machine.
const (
	createRetakeFor    = 3 * time.Second
	maxCreateRetakeGap = 250 * time.Millisecond
)

// retakeCreates reserves again, slot first, for a reservation whose slot
// was taken and given back because the window (spent) refused its create.
// That refusal may be passing: a reservation refused its slot holds a
// create from its take, made beside the slot's, until it gives it back a
// round trip later, and enough of them at once fill a window whose
// sandboxes do not. So it tries again for createRetakeFor, after pauses
// doubling from rt (the refused reservation's time), holding nothing while
// it waits (but a slot sb held before the call), each time in the window
// of the moment. Only the refusals met
// beside the slot are tried again: the window is then seen spent, and
// later reservations in it take the slot first, once, unless this Store's
// own takes beside a slot may have filled it (passingHold).
func (s *Store) retakeCreates(ctx context.Context, sb *sandstep.Sandbox, spent time.Time, rt time.Duration) error {
	until := time.Now().Add(createRetakeFor)
	for gap := 2 * rt; time.Now().Before(until); gap = min(2*gap, maxCreateRetakeGap) {
		if !pause.For(ctx, min(gap, maxCreateRetakeGap)) {
			break
		}
		windows := s.createWindowsAt(s.nowUTC())
		refused, err := s.reserveSlotFirst(ctx, sb, windows)
		if refused < 0 {
			return err
		}
		spent = windows[refused]
	}
	return s.rateSpent(spent)
}

// holdMark is where this Store's takes beside a slot stand: how many
// began, and whether one is unsettled.
type holdMark struct {
	begun   uint64
	holding bool
}

func (s *Store) holdMark() holdMark {
	return holdMark{begun: s.holdsBegun.Load(), holding: s.holding.Load() > 0}
}

// passingHold says whether one of this Store's takes beside a slot was
// unsettled at some moment since mark: a refusal the window gave meanwhile
// may be that take's, about to be given back. A Lambda instance serves
// one call at a time, so there it never is; in one process serving many
// (the local stack) a storm of refused slots would otherwise send creates
// the window has room for to the next window.
func (s *Store) passingHold(mark holdMark) bool {
	return mark.holding || s.holdsBegun.Load() != mark.begun || s.holding.Load() > 0
}

// reserveSlotFirst takes sb's slot, then the windows' creates; a refused
// create gives the slot back, unless sb held it before. It returns the
// refused window's index (-1: none) or another error.
func (s *Store) reserveSlotFirst(ctx context.Context, sb *sandstep.Sandbox, windows []time.Time) (int, error) {
	heldAlready, err := s.takeSlot(ctx, sb.Owner, sb.ID)
	if err != nil {
		return -1, err
	}
	if err = s.takeCreates(ctx, windows); err == nil {
		return -1, nil
	}
	if !heldAlready {
		if _, rerr := s.ReleaseSlot(ctx, sb.Owner, sb.ID); rerr != nil {
			return -1, rerr
		}
	}
	if i := s.refusedWindow(err, windows); i >= 0 {
		return i, nil
	}
	return -1, mapErr(err, "take a create of the rate")
}

// seenSpent says whether this Store has seen one of windows refuse a
// create.
func (s *Store) seenSpent(windows []time.Time) bool {
	seen := s.spentSeen.Load()
	for _, w := range windows {
		if w.UnixMilli() == seen {
			return true
		}
	}
	return false
}

// refusedWindow is the index of the window whose condition refused a take
// of windows, the last if several, which this Store then has seen spent;
// -1 when err is no refusal.
func (s *Store) refusedWindow(err error, windows []time.Time) int {
	for i := len(windows) - 1; i >= 0; i-- {
		if conditionFailed(err, i) {
			s.spentSeen.Store(windows[i].UnixMilli())
			return i
		}
	}
	return -1
}

// giveCreatesBack returns the creates taken from windows for a
// reservation refused its slot; failing, it costs each window one create,
// no more. It is a transaction even for one window: its token makes the
// client's resend after a lost answer a no-op, where a plain update would
// be applied twice and give back a create no one took.
func (s *Store) giveCreatesBack(ctx context.Context, windows []time.Time) {
	e := build(expression.NewBuilder().
		WithCondition(expression.Name(attrRateUsed).GreaterThan(expression.Value(0))).
		WithUpdate(expression.Add(expression.Name(attrRateUsed), expression.Value(-1))))
	items := make([]types.TransactWriteItem, len(windows))
	for i, w := range windows {
		items[i] = s.update(s.rateKey(w), e)
	}
	_ = retryConflicts(ctx, func() error {
		return s.db.TransactWriteItems(ctx, &dynamo.TransactWriteItemsInput{TransactItems: items})
	})
}

// minRateRetry is the least wait a refusal for the rate names. The
// window refused was chosen before the round trips, so near a boundary the
// next may have opened by the time of the answer; a wait of zero would be
// no Retry-After at all (the API sends whole seconds).
const minRateRetry = time.Second

// rateSpent is the refusal of a reservation whose window spent (starting
// then) is spent: it names when the next opens, at least minRateRetry on.
func (s *Store) rateSpent(spent time.Time) error {
	return refuseForRate(nil, spent.Add(s.createWindow).Sub(s.nowUTC()),
		fmt.Sprintf("the deployment has created its %d sandboxes for this %s", s.createRate, s.createWindow))
}

// heldBack is the refusal of a take (err) of n windows that only holds
// refused (SpendCreates), none of the refusing windows being spent: it
// names when the last hold ends. nil for any other error, or when the
// refused items' images do not say.
func (s *Store) heldBack(err error, n int) error {
	var until int64
	for i := range n {
		if !conditionFailed(err, i) {
			continue
		}
		item := failedImage(err, i)
		used, _, uerr := numberAttr(item, attrRateUsed)
		held, ok, herr := numberAttr(item, attrRateUntil)
		if item == nil || uerr != nil || herr != nil || !ok || used >= int64(s.createRate) {
			return nil
		}
		until = max(until, held)
	}
	if until == 0 {
		return nil
	}
	return refuseForRate(nil, time.UnixMilli(until).Sub(s.nowUTC()),
		"the provider refused a create for its rate and asked for a wait, which holds back the deployment's creates")
}

// maxHeldWindows bounds the windows SpendCreates holds back: a longer
// wait than that many windows (which Daytona, whose windows are a minute,
// does not ask for) is met again at the provider, and held again.
const maxHeldWindows = 10

// SpendCreates holds every instance's creates back until until, when the
// provider refused one for its rate (other clients of the organisation,
// or a window of its own that does not line up with ours), so that they
// wait instead of meeting the same 429: each window the wait overlaps
// (from the current one to the one until falls in, maxHeldWindows at
// most) takes no create before until. No longer than that: marking whole
// windows spent held a second's wait asked for at a window's end for the
// whole next window too. A hold only grows: a shorter wait asked later
// keeps a longer one. The creates a window held back counts stay counted.
func (s *Store) SpendCreates(ctx context.Context, until time.Time) error {
	if s.createRate == 0 {
		return nil
	}
	ms := until.UnixMilli()
	held := expression.Name(attrRateUntil)
	w := s.createWindowAt(s.nowUTC())
	for range maxHeldWindows {
		if !w.Before(until) {
			break
		}
		e := build(expression.NewBuilder().
			WithCondition(expression.Or(held.AttributeNotExists(), held.LessThan(expression.Value(ms)))).
			WithUpdate(expression.Set(held, expression.Value(ms)).
				Set(expression.Name(attrType), expression.Value(typeRate)).
				Set(expression.Name(TTLAttribute), expression.Value(w.Add(s.createWindow+time.Hour).Unix()))))
		err := s.writeRate(ctx, func() []types.TransactWriteItem { return []types.TransactWriteItem{s.update(s.rateKey(w), e)} })
		if err != nil && !conditionFailed(err, 0) {
			return mapErr(err, "hold the creates back")
		}
		w = w.Add(s.createWindow)
	}
	return nil
}
