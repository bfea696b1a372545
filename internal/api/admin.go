package api

import (
	"context"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// Admin is what the edge calls for administration and audit trails.
type Admin interface {
	SandboxEvents(ctx context.Context, call service.Call, id string, in service.ListInput) (*service.EventList, error)
	TaskEvents(ctx context.Context, call service.Call, id string, in service.ListInput) (*service.EventList, error)
	UserUsage(ctx context.Context, call service.Call, userID string, in service.ListInput) (*service.UserUsage, error)
	SetUserLimit(ctx context.Context, call service.Call, userID string, in service.UserLimitInput) (*sandstep.Quota, error)
	ClearUserLimit(ctx context.Context, call service.Call, userID string) (*sandstep.Quota, error)
}

// AdminOptions say who is an administrator: a caller whose JWT claim
// Claim holds the group Group. Config's ADMIN_CLAIM and ADMIN_GROUP are
// their home; with either empty nobody is.
type AdminOptions struct {
	Claim, Group string
}

// isAdmin reads the administrators' claim of ev's JWT. API Gateway's HTTP
// API passes an array claim (Cognito's cognito:groups) as one string,
// "[a b]", its elements separated by spaces: a comma there is part of a
// group's name (Cognito allows punctuation in one), so "[x,admins]" is
// the one group "x,admins". A plain string is one group, or several
// separated by commas or white space. A group matches exactly, case
// included.
func (o AdminOptions) isAdmin(ev events.APIGatewayV2HTTPRequest) bool {
	az := ev.RequestContext.Authorizer
	if o.Claim == "" || o.Group == "" || az == nil || az.JWT == nil {
		return false
	}
	v := strings.TrimSpace(az.JWT.Claims[o.Claim])
	sep := func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }
	if inner, ok := strings.CutPrefix(v, "["); ok {
		v, _ = strings.CutSuffix(inner, "]")
		sep = func(r rune) bool { return r == ' ' || r == '\t' }
	}
	for g := range strings.FieldsFuncSeq(v, sep) {
		if g == o.Group {
			return true
		}
	}
	return false
}

// listInput reads the limit and cursor query parameters of a paged list;
// the service checks the limit's range.
func listInput(r *request) (service.ListInput, error) {
	in := service.ListInput{Cursor: r.query["cursor"]}
	if s, ok := r.query["limit"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil {
			return in, sandstep.Invalid("limit", "must be an integer from 1 to %d", service.MaxListLimit)
		}
		in.Limit = &n
	}
	return in, nil
}

func (a *API) serveSandboxEvents(r *request) (response, error) {
	in, err := listInput(r)
	if err != nil {
		return response{}, err
	}
	list, err := a.svc.SandboxEvents(r.ctx, r.call, r.id, in)
	return ok200(list, err)
}

func (a *API) serveTaskEvents(r *request) (response, error) {
	in, err := listInput(r)
	if err != nil {
		return response{}, err
	}
	list, err := a.svc.TaskEvents(r.ctx, r.call, r.id, in)
	return ok200(list, err)
}

func (a *API) serveUserUsage(r *request) (response, error) {
	in, err := listInput(r)
	if err != nil {
		return response{}, err
	}
	usage, err := a.svc.UserUsage(r.ctx, r.call, r.id, in)
	return ok200(usage, err)
}

func (a *API) serveSetUserLimit(r *request) (response, error) {
	var in service.UserLimitInput
	if err := decodeStrict(r.body, &in); err != nil {
		return response{}, err
	}
	q, err := a.svc.SetUserLimit(r.ctx, r.call, r.id, in)
	return ok200(q, err)
}

func (a *API) serveClearUserLimit(r *request) (response, error) {
	q, err := a.svc.ClearUserLimit(r.ctx, r.call, r.id)
	return ok200(q, err)
}
