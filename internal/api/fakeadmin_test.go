package api

import (
	"context"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// The administration half of fakeService: it records calls like the rest
// and answers canned events and quotas.

// testAdminClaim and testAdminGroup are config's defaults; testUserID is
// the {userId} of test events.
const (
	testAdminClaim = "cognito:groups"
	testAdminGroup = "sandstep-admins"
	testUserID     = "alice"
)

func (f *fakeService) eventList(id, user string) *service.EventList {
	if f.nilResult {
		return nil
	}
	return &service.EventList{Items: []sandstep.AuditEvent{{Time: testTime, Action: "sandbox.create", UserID: user, SandboxID: id, Outcome: "ok"}}, NextCursor: "next"}
}

func (f *fakeService) recordList(ctx context.Context, method string, call service.Call, id string, in service.ListInput) error {
	r := recorded{method: method, call: call, id: id, cursor: in.Cursor, in: in}
	if in.Limit != nil {
		r.limit = *in.Limit
	}
	return f.record(ctx, r)
}

func (f *fakeService) SandboxEvents(ctx context.Context, call service.Call, id string, in service.ListInput) (*service.EventList, error) {
	if err := f.recordList(ctx, "SandboxEvents", call, id, in); err != nil {
		return nil, err
	}
	return f.eventList(id, call.UserID), nil
}

func (f *fakeService) TaskEvents(ctx context.Context, call service.Call, id string, in service.ListInput) (*service.EventList, error) {
	if err := f.recordList(ctx, "TaskEvents", call, id, in); err != nil {
		return nil, err
	}
	return f.eventList(id, call.UserID), nil
}

func (f *fakeService) quota(userID string) *sandstep.Quota {
	if f.nilResult {
		return nil
	}
	return &sandstep.Quota{UserID: userID, Active: 1, Limit: 3}
}

func (f *fakeService) UserUsage(ctx context.Context, call service.Call, userID string, in service.ListInput) (*service.UserUsage, error) {
	if err := f.recordList(ctx, "UserUsage", call, userID, in); err != nil {
		return nil, err
	}
	if f.nilResult {
		return nil, nil
	}
	return &service.UserUsage{Quota: *f.quota(userID), Sandboxes: []*sandstep.Sandbox{f.sandbox("sbx_one", userID)}}, nil
}

func (f *fakeService) SetUserLimit(ctx context.Context, call service.Call, userID string, in service.UserLimitInput) (*sandstep.Quota, error) {
	if err := f.record(ctx, recorded{method: "SetUserLimit", call: call, id: userID, in: in}); err != nil {
		return nil, err
	}
	return f.quota(userID), nil
}

func (f *fakeService) ClearUserLimit(ctx context.Context, call service.Call, userID string) (*sandstep.Quota, error) {
	if err := f.record(ctx, recorded{method: "ClearUserLimit", call: call, id: userID}); err != nil {
		return nil, err
	}
	return f.quota(userID), nil
}
