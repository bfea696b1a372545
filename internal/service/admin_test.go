package service

import (
	"context"
	"fmt"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

func root() Call { return Call{UserID: "root", RequestID: "req-admin", Admin: true} }

// An administrator reads a user's usage, sets a limit and clears it, each
// on the record under the user; anyone else finds nothing there.
func TestAdministration(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		call Call
		// do acts on alice, who holds one sandbox under a default of 3.
		do         func(s *Service, c Call) (any, error)
		wantCode   sandstep.Code
		wantField  string
		wantQuota  sandstep.Quota
		wantAction string
		wantDetail string
	}{
		{name: "usage", call: root(), do: func(s *Service, c Call) (any, error) {
			return s.UserUsage(ctx, c, "alice", ListInput{})
		}, wantQuota: sandstep.Quota{UserID: "alice", Active: 1, Limit: 3}, wantAction: ActionAdminUsage, wantDetail: "map[]"},
		{name: "set", call: root(), do: func(s *Service, c Call) (any, error) {
			return s.SetUserLimit(ctx, c, "alice", UserLimitInput{Limit: intp(1)})
		}, wantQuota: sandstep.Quota{UserID: "alice", Active: 1, Limit: 1, LimitSet: true},
			wantAction: ActionAdminSetLimit, wantDetail: "map[limit:1 previous:default:3]"},
		{name: "set 0", call: root(), do: func(s *Service, c Call) (any, error) {
			return s.SetUserLimit(ctx, c, "alice", UserLimitInput{Limit: intp(0)})
		}, wantQuota: sandstep.Quota{UserID: "alice", Active: 1, Limit: 0, LimitSet: true},
			wantAction: ActionAdminSetLimit, wantDetail: "map[limit:0 previous:default:3]"},
		{name: "clear", call: root(), do: func(s *Service, c Call) (any, error) {
			return s.ClearUserLimit(ctx, c, "alice")
		}, wantQuota: sandstep.Quota{UserID: "alice", Active: 1, Limit: 3},
			wantAction: ActionAdminClearLimit, wantDetail: "map[previous:default:3]"},
		{name: "set without a limit", call: root(), do: func(s *Service, c Call) (any, error) {
			return s.SetUserLimit(ctx, c, "alice", UserLimitInput{})
		}, wantCode: sandstep.EINVALID, wantField: "limit"},
		{name: "set a negative limit", call: root(), do: func(s *Service, c Call) (any, error) {
			return s.SetUserLimit(ctx, c, "alice", UserLimitInput{Limit: intp(-1)})
		}, wantCode: sandstep.EINVALID, wantField: "limit"},
		{name: "a user id with white space", call: root(), do: func(s *Service, c Call) (any, error) {
			return s.UserUsage(ctx, c, "al ice", ListInput{})
		}, wantCode: sandstep.EINVALID, wantField: "userId"},
		{name: "usage page over the most", call: root(), do: func(s *Service, c Call) (any, error) {
			return s.UserUsage(ctx, c, "alice", ListInput{Limit: intp(MaxListLimit + 1)})
		}, wantCode: sandstep.EINVALID, wantField: "limit"},
		{name: "usage by a non-admin", call: Call{UserID: "bob"}, do: func(s *Service, c Call) (any, error) {
			return s.UserUsage(ctx, c, "alice", ListInput{})
		}, wantCode: sandstep.ENOTFOUND},
		{name: "own usage by a non-admin", call: alice(), do: func(s *Service, c Call) (any, error) {
			return s.UserUsage(ctx, c, "alice", ListInput{})
		}, wantCode: sandstep.ENOTFOUND},
		{name: "set by a non-admin, whatever the input", call: Call{UserID: "bob"}, do: func(s *Service, c Call) (any, error) {
			return s.SetUserLimit(ctx, c, "al ice", UserLimitInput{})
		}, wantCode: sandstep.ENOTFOUND},
		{name: "clear by a non-admin", call: Call{UserID: "bob"}, do: func(s *Service, c Call) (any, error) {
			return s.ClearUserLimit(ctx, c, "alice")
		}, wantCode: sandstep.ENOTFOUND},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 3)
			h.svc.quotas = h.store
			sb, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.do(h.svc, tc.call)
			events, _, lerr := h.store.ListUserAudit(ctx, "alice", 10, "")
			if lerr != nil {
				t.Fatal(lerr)
			}
			if tc.wantCode != "" {
				if sandstep.ErrorCode(err) != tc.wantCode || sandstep.ErrorField(err) != tc.wantField {
					t.Fatalf("err = %v, want %s on %q", err, tc.wantCode, tc.wantField)
				}
				if len(events) != 0 {
					t.Errorf("a refused call is on the record: %+v", events)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var q sandstep.Quota
			switch v := got.(type) {
			case *UserUsage:
				q = v.Quota
				if len(v.Sandboxes) != 1 || v.Sandboxes[0].ID != sb.ID {
					t.Errorf("usage lists %+v, want alice's %s", v.Sandboxes, sb.ID)
				}
			case *sandstep.Quota:
				q = *v
			}
			if q != tc.wantQuota {
				t.Errorf("quota = %+v, want %+v", q, tc.wantQuota)
			}
			if len(events) != 1 {
				t.Fatalf("events under alice = %+v, want one", events)
			}
			ev := events[0]
			if ev.Action != tc.wantAction || ev.UserID != "root" || ev.TargetUserID != "alice" || ev.RequestID != "req-admin" ||
				ev.Outcome != "ok" || fmt.Sprint(ev.Detail) != tc.wantDetail {
				t.Errorf("event = %+v, want %s by root on alice with %s", ev, tc.wantAction, tc.wantDetail)
			}
		})
	}
}

// The limit an administrator sets is the one a create meets.
func TestAdminLimitApplies(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, 3)
	h.svc.quotas = h.store
	if _, err := h.svc.SetUserLimit(ctx, root(), "alice", UserLimitInput{Limit: intp(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{}); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	wantCode(t, err, sandstep.EQUOTA)
	if _, err := h.svc.ClearUserLimit(ctx, root(), "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{}); err != nil {
		t.Fatalf("create after the limit was cleared: %v", err)
	}
}
