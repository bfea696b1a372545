package service

import (
	"context"
	"errors"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// racingQuotas is Quotas where another administrator's change lands
// between this call's read of the quota and its own write.
type racingQuotas struct {
	Quotas
	meanwhile func(context.Context)
}

func (r *racingQuotas) GetQuota(ctx context.Context, userID string) (sandstep.Quota, error) {
	q, err := r.Quotas.GetQuota(ctx, userID)
	if f := r.meanwhile; f != nil {
		r.meanwhile = nil
		f(ctx)
	}
	return q, err
}

// README: each admin.quota.set / admin.quota.clear carries "the new and
// previous limit in detail", and a change and its event are one write.
// The previous limit an event names must be the one its write replaced:
// read apart from the write, it names the limit before another
// administrator's change that landed in between, and the trail then
// shows that change undone by nobody.
func TestAdminEventNamesTheLimitItsWriteReplaced(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		do   func(s *Service) error
		// previous is what the trail's last event must name: bob's limit.
		previous string
	}{
		{"set", func(s *Service) error {
			_, err := s.SetUserLimit(ctx, root(), "alice", UserLimitInput{Limit: intp(7)})
			return err
		}, "1"},
		{"clear", func(s *Service) error {
			_, err := s.ClearUserLimit(ctx, root(), "alice")
			return err
		}, "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 3)
			other := Call{UserID: "admin2", RequestID: "req-other", Admin: true}
			h.svc.quotas = &racingQuotas{Quotas: h.store, meanwhile: func(ctx context.Context) {
				// The other administrator's set: its write and event.
				ev := h.svc.adminEvent(other, "alice", ActionAdminSetLimit, map[string]string{"limit": "1", "previous": "default:3"})
				was, err := h.store.GetQuota(ctx, "alice")
				if err == nil {
					err = h.store.SetUserLimit(ctx, "alice", was, 1, ev)
				}
				if err != nil {
					t.Fatal(err)
				}
			}}
			if err := tc.do(h.svc); err != nil {
				t.Fatal(err)
			}
			events, _, err := h.store.ListUserAudit(ctx, "alice", 10, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 2 {
				t.Fatalf("trail %+v, want the two changes", events)
			}
			last := events[len(events)-1]
			if last.UserID != "root" || last.Detail["previous"] != tc.previous {
				t.Errorf("root's %s event says the previous limit was %q; its write replaced admin2's %q (trail: %+v)",
					last.Action, last.Detail["previous"], tc.previous, events)
			}
		})
	}
}

// With another administrator's change landing between each read and its
// write, a change reads again limitAttempts times, then gives up: try
// again later (ETRANSIENT), its change not made and no event written.
func TestAdminLimitChangeGivesUpWhileOthersKeepChangingIt(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		do   func(s *Service) error
	}{
		{"set", func(s *Service) error {
			_, err := s.SetUserLimit(ctx, root(), "alice", UserLimitInput{Limit: intp(7)})
			return err
		}},
		{"clear", func(s *Service) error {
			_, err := s.ClearUserLimit(ctx, root(), "alice")
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 3)
			racing := &racingQuotas{Quotas: h.store}
			others := 0
			var another func(context.Context)
			another = func(ctx context.Context) {
				others++
				was, err := h.store.GetQuota(ctx, "alice")
				if err == nil {
					err = h.store.SetUserLimit(ctx, "alice", was, 10+others)
				}
				if err != nil {
					t.Fatal(err)
				}
				racing.meanwhile = another
			}
			racing.meanwhile = another
			h.svc.quotas = racing
			err := tc.do(h.svc)
			if sandstep.ErrorCode(err) != sandstep.ETRANSIENT || !errors.Is(err, sandstep.ErrLimitChanged) {
				t.Fatalf("%v, want ETRANSIENT for ErrLimitChanged", err)
			}
			if others != limitAttempts {
				t.Errorf("read the quota %d times, want %d", others, limitAttempts)
			}
			if q, err := h.store.GetQuota(ctx, "alice"); err != nil || q.Limit != 10+others {
				t.Errorf("quota %+v, %v; want the last other change's limit, %d", q, err, 10+others)
			}
			events, _, err := h.store.ListUserAudit(ctx, "alice", 10, "")
			if err != nil || len(events) != 0 {
				t.Errorf("trail %+v, %v; want no event of a change not made", events, err)
			}
		})
	}
}
