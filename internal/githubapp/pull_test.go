package githubapp

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

func TestOpenPullRequest(t *testing.T) {
	f := newFake(t)
	c := f.client(t)
	ctx := context.Background()
	n, url, err := c.OpenPullRequest(ctx, testInstallation, testRepo, "sandstep/tsk_1", "trunk", "Fix #3", "body")
	if err != nil || n != 1 || url != "https://github.com/"+testRepo+"/pull/1" {
		t.Fatalf("OpenPullRequest = %d, %q, %v", n, url, err)
	}
	// A repeated step (a retry, a redelivery) gets the same pull request.
	n2, url2, err := c.OpenPullRequest(ctx, testInstallation, testRepo, "sandstep/tsk_1", "trunk", "Fix #3", "body")
	if err != nil || n2 != n || url2 != url {
		t.Fatalf("again = %d, %q, %v; want the first", n2, url2, err)
	}
	if got := len(f.repos[testRepo].pulls); got != 1 {
		t.Errorf("%d pull requests, want 1", got)
	}
	want := map[string]string{"contents": "write", "pull_requests": "write"}
	for _, r := range f.mintedRequests() {
		if !reflect.DeepEqual(r.Permissions, want) {
			t.Errorf("a pull request asked for %v, want the push's %v", r.Permissions, want)
		}
	}
}

func TestOpenPullRequestRefused(t *testing.T) {
	tests := []struct {
		name        string
		head, base  string
		title       string
		code        sandstep.Code
		field       string
		githubAsked bool
	}{
		{"no head", "", "trunk", "t", sandstep.EINVALID, "head", false},
		{"no base", "sandstep/tsk_1", " ", "t", sandstep.EINVALID, "base", false},
		{"head is base", "trunk", "trunk", "t", sandstep.EINVALID, "head", false},
		{"no title", "sandstep/tsk_1", "trunk", "", sandstep.EINVALID, "title", false},
		{"a branch GitHub does not have", "sandstep/nope", "trunk", "t", sandstep.EINVALID, "head", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			_, _, err := f.client(t).OpenPullRequest(context.Background(), testInstallation, testRepo, tt.head, tt.base, tt.title, "")
			if sandstep.ErrorCode(err) != tt.code || sandstep.ErrorField(err) != tt.field {
				t.Fatalf("%v, want %s naming %q", err, tt.code, tt.field)
			}
			if asked := len(f.callLog()) > 0; asked != tt.githubAsked {
				t.Errorf("GitHub asked: %v, want %v", asked, tt.githubAsked)
			}
		})
	}
}

// GitHub says one exists but none is open from head into base (closed in
// between, or into another base): a conflict, not a success.
func TestOpenPullRequestExistsElsewhere(t *testing.T) {
	f := newFake(t)
	exists := answer(422, nil, `{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for octo-org:sandstep/tsk_1."}]}`)
	f.fault = func(w http.ResponseWriter, r *http.Request) bool {
		return r.Method == "POST" && exists(w, r) // the list is the fake's: none open
	}
	_, _, err := f.client(t).OpenPullRequest(context.Background(), testInstallation, testRepo, "sandstep/tsk_1", "trunk", "t", "")
	if sandstep.ErrorCode(err) != sandstep.ECONFLICT {
		t.Fatalf("%v, want ECONFLICT", err)
	}
}
