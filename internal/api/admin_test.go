package api

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sandstep/sandstep/internal/sandstep"
)

func withAdminClaim(name, value string) evOption {
	return func(ev *events.APIGatewayV2HTTPRequest) {
		claims := ev.RequestContext.Authorizer.JWT.Claims
		delete(claims, testAdminClaim)
		if name != "" {
			claims[name] = value
		}
	}
}

// Administration is served to callers whose claim holds the group, in
// API Gateway's "[a b]" form of an array claim or as a plain string; to
// anyone else it answers exactly as a route that does not exist, before
// reading anything they sent.
func TestAdminClaim(t *testing.T) {
	tests := []struct {
		name   string
		opts   AdminOptions
		claim  evOption
		route  string
		body   string
		admin  bool
		status int
	}{
		{name: "array claim", claim: withAdminClaim(testAdminClaim, "[sandstep-admins]"), admin: true, status: 200},
		{name: "array claim of several groups", claim: withAdminClaim(testAdminClaim, "[staff sandstep-admins ops]"), admin: true, status: 200},
		{name: "plain string claim", claim: withAdminClaim(testAdminClaim, "sandstep-admins"), admin: true, status: 200},
		{name: "comma-separated claim", claim: withAdminClaim(testAdminClaim, "staff,sandstep-admins"), admin: true, status: 200},
		{name: "another claim name configured", opts: AdminOptions{Claim: "groups", Group: "ops"}, claim: withAdminClaim("groups", "[ops]"), admin: true, status: 200},
		{name: "no claim", claim: withAdminClaim("", ""), status: 404},
		{name: "empty array", claim: withAdminClaim(testAdminClaim, "[]"), status: 404},
		{name: "a group that only starts alike", claim: withAdminClaim(testAdminClaim, "[sandstep-admins-x]"), status: 404},
		{name: "a group in another case", claim: withAdminClaim(testAdminClaim, "[Sandstep-Admins]"), status: 404},
		{name: "the group under another claim", claim: withAdminClaim("groups", "[sandstep-admins]"), status: 404},
		// In the array form only spaces separate groups: a comma is part of
		// a group's name (Cognito allows punctuation in one).
		{name: "a group named with a comma then the group", claim: withAdminClaim(testAdminClaim, "[eng,sandstep-admins]"), status: 404},
		{name: "the group then a comma in another's name", claim: withAdminClaim(testAdminClaim, "[staff sandstep-admins,x]"), status: 404},
		{name: "a comma-named group beside others", claim: withAdminClaim(testAdminClaim, "[staff eng,sandstep-admins ops]"), status: 404},
		{name: "the group beside a comma-named one", claim: withAdminClaim(testAdminClaim, "[eng,x sandstep-admins]"), admin: true, status: 200},
		{name: "not admin, bad body: still 404", claim: withAdminClaim("", ""), route: RouteSetUserLimit, body: `{"limit":"x"}`, status: 404},
		{name: "not admin, delete", claim: withAdminClaim("", ""), route: RouteClearUserLimit, status: 404},
		{name: "admin, body of the wrong type", claim: withAdminClaim(testAdminClaim, "[sandstep-admins]"), route: RouteSetUserLimit, body: `{"limit":"x"}`, admin: true, status: 400},
		{name: "admin, unknown key", claim: withAdminClaim(testAdminClaim, "[sandstep-admins]"), route: RouteSetUserLimit, body: `{"limits":1}`, admin: true, status: 400},
		{name: "admin, no body", claim: withAdminClaim(testAdminClaim, "[sandstep-admins]"), route: RouteSetUserLimit, body: " ", admin: true, status: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := &fakeService{}
			a, _ := newTestAPI(svc, Options{Admin: tc.opts})
			route := tc.route
			if route == "" {
				route = RouteUserUsage
			}
			opts := []evOption{tc.claim}
			if tc.body != "" {
				opts = append(opts, withBody(tc.body))
			}
			res := a.ServeEvent(context.Background(), apiEvent(route, opts...))
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, res.Body)
			}
			calls := svc.recordedCalls()
			if tc.status == 200 {
				if len(calls) != 1 || !calls[0].call.Admin || calls[0].id != testUserID || calls[0].call.UserID != "user-1" {
					t.Fatalf("calls %+v, want one by user-1 as admin on %s", calls, testUserID)
				}
				return
			}
			if len(calls) != 0 {
				t.Fatalf("refused, yet the service was called: %+v", calls)
			}
			if tc.status == 404 {
				// The same answer as for a route that does not exist.
				unknown := apiEvent(route, opts...)
				unknown.RouteKey = "GET /nothing/here"
				want := decodeErrorBody(t, a.ServeEvent(context.Background(), unknown))
				got := decodeErrorBody(t, res)
				if got.Code != sandstep.ENOTFOUND || got.Message != want.Message {
					t.Errorf("answer %+v, want %+v", got, want)
				}
			}
		})
	}
}

// Every administrators' route is refused without the claim, and the
// events routes take the list parameters.
func TestAdminAndEventRoutes(t *testing.T) {
	tests := []struct {
		name      string
		route     string
		opts      []evOption
		status    int
		wantLimit int
		wantField string
	}{
		{name: "usage, no claim", route: RouteUserUsage, opts: []evOption{withAdminClaim("", "")}, status: 404},
		{name: "set, no claim", route: RouteSetUserLimit, opts: []evOption{withAdminClaim("", "")}, status: 404},
		{name: "clear, no claim", route: RouteClearUserLimit, opts: []evOption{withAdminClaim("", "")}, status: 404},
		{name: "usage paged", route: RouteUserUsage, opts: []evOption{withQuery("limit", "5"), withQuery("cursor", "c")}, status: 200, wantLimit: 5},
		{name: "usage, limit not a number", route: RouteUserUsage, opts: []evOption{withQuery("limit", "five")}, status: 400, wantField: "limit"},
		{name: "usage, unknown query", route: RouteUserUsage, opts: []evOption{withQuery("state", "all")}, status: 400, wantField: "state"},
		{name: "sandbox events paged", route: RouteSandboxEvents, opts: []evOption{withQuery("limit", "2"), withQuery("cursor", "c")}, status: 200, wantLimit: 2},
		{name: "task events paged", route: RouteTaskEvents, opts: []evOption{withQuery("limit", "3")}, status: 200, wantLimit: 3},
		{name: "task events, limit not a number", route: RouteTaskEvents, opts: []evOption{withQuery("limit", "1.5")}, status: 400, wantField: "limit"},
		{name: "sandbox events without the claim", route: RouteSandboxEvents, opts: []evOption{withAdminClaim("", "")}, status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := &fakeService{}
			a, _ := newTestAPI(svc, Options{})
			res := a.ServeEvent(context.Background(), apiEvent(tc.route, tc.opts...))
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, res.Body)
			}
			if tc.status != http.StatusOK {
				if got := decodeErrorBody(t, res); got.Field != tc.wantField {
					t.Errorf("field %q, want %q", got.Field, tc.wantField)
				}
				return
			}
			calls := svc.recordedCalls()
			if len(calls) != 1 || calls[0].method != routeMethod[tc.route] || calls[0].limit != tc.wantLimit {
				t.Fatalf("calls %+v, want %s with limit %d", calls, routeMethod[tc.route], tc.wantLimit)
			}
			if want := apiEvent(tc.route, tc.opts...).QueryStringParameters["cursor"]; calls[0].cursor != want {
				t.Errorf("cursor %q, want %q", calls[0].cursor, want)
			}
		})
	}
}
