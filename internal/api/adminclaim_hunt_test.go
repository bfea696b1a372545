package api

import (
	"context"
	"testing"
)

// In API Gateway's "[a b]" form of an array claim the elements are
// separated by spaces; a comma is part of a group's name (Cognito allows
// any punctuation in one: [\p{L}\p{M}\p{S}\p{N}\p{P}]+). A member of a
// group named "eng,sandstep-admins" is not in the group
// "sandstep-admins" (README: groups match exactly), and must get the
// 404 a non-administrator gets.
func TestHuntAdminClaimArrayGroupWithComma(t *testing.T) {
	tests := []struct {
		name   string
		claim  string
		status int
	}{
		{name: "a group whose name holds a comma then the group", claim: "[eng,sandstep-admins]", status: 404},
		{name: "the group then a comma in another's name", claim: "[staff sandstep-admins,x]", status: 404},
		{name: "a comma-named group beside others", claim: "[staff eng,sandstep-admins ops]", status: 404},
		{name: "the group itself among others", claim: "[eng,x sandstep-admins]", status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := &fakeService{}
			a, _ := newTestAPI(svc, Options{})
			res := a.ServeEvent(context.Background(), apiEvent(RouteUserUsage, withAdminClaim(testAdminClaim, tc.claim)))
			if res.StatusCode != tc.status {
				t.Fatalf("claim %q: status %d, want %d: %s", tc.claim, res.StatusCode, tc.status, res.Body)
			}
		})
	}
}
