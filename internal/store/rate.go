package store

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The provider's sandbox-create rate is shared state: one item per window
// (RATE#sandbox-create / W#<window start, unix ms>) counts the creates of
// every instance, so a burst is served at the rate whatever the number of
// Lambda instances, and none of them meets the provider's 429.
const (
	ratePK       = "RATE#sandbox-create"
	attrRateUsed = "used"
	typeRate     = "rate"
)

// createWindowAt is the start of the window holding t.
func (s *Store) createWindowAt(t time.Time) time.Time {
	return t.Truncate(s.createWindow)
}

func (s *Store) rateKey(window time.Time) map[string]types.AttributeValue {
	return key(ratePK, "W#"+strconv.FormatInt(window.UnixMilli(), 10))
}

// takeCreate takes one create of window, on condition that it has one
// left.
func (s *Store) takeCreate(window time.Time) types.TransactWriteItem {
	used := expression.Name(attrRateUsed)
	e := build(expression.NewBuilder().
		WithCondition(expression.Or(used.AttributeNotExists(), used.LessThan(expression.Value(s.createRate)))).
		WithUpdate(expression.Add(used, expression.Value(1)).
			Set(expression.Name(attrType), expression.Value(typeRate)).
			Set(expression.Name(TTLAttribute), expression.Value(window.Add(s.createWindow+time.Hour).Unix()))))
	return s.update(s.rateKey(window), e)
}

// giveCreateBack returns a create taken from window for a reservation
// refused its slot; failing, it costs the window one create, no more.
func (s *Store) giveCreateBack(ctx context.Context, window time.Time) {
	e := build(expression.NewBuilder().
		WithCondition(expression.Name(attrRateUsed).GreaterThan(expression.Value(0))).
		WithUpdate(expression.Add(expression.Name(attrRateUsed), expression.Value(-1))))
	_ = s.write(ctx, s.update(s.rateKey(window), e))
}

// rateSpent is the refusal of a reservation whose window is spent: it
// names when the next opens.
func (s *Store) rateSpent() error {
	now := s.nowUTC()
	next := s.createWindowAt(now).Add(s.createWindow)
	err := sandstep.Wrap(sandstep.ErrCreateRate, sandstep.ETRANSIENT,
		"the deployment has created its %d sandboxes for this %s (DAYTONA_CREATE_RATE); the next window opens in %s",
		s.createRate, s.createWindow, next.Sub(now).Round(time.Millisecond))
	err.RetryAfter = next.Sub(now)
	return err
}

// SpendCreates marks every window until until spent, when the provider
// refused a create for its rate (other clients of the organisation, or a
// window of its own that does not line up with ours): every instance then
// waits instead of meeting the same 429.
func (s *Store) SpendCreates(ctx context.Context, until time.Time) error {
	if s.createRate == 0 {
		return nil
	}
	for w := s.createWindowAt(s.nowUTC()); w.Before(until); w = w.Add(s.createWindow) {
		e := build(expression.NewBuilder().
			WithUpdate(expression.Set(expression.Name(attrRateUsed), expression.Value(s.createRate)).
				Set(expression.Name(attrType), expression.Value(typeRate)).
				Set(expression.Name(TTLAttribute), expression.Value(w.Add(s.createWindow+time.Hour).Unix()))))
		if err := s.write(ctx, s.update(s.rateKey(w), e)); err != nil {
			return mapErr(err, "spend the create rate")
		}
	}
	return nil
}
