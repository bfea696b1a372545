package githublocal

import (
	"testing"
	"time"

	"github.com/google/go-github/v88/github"
)

// GitHub's list of an issue's comments takes since: only those updated at
// or after it. sandstep's App client looks for a comment whose POST lost
// its answer among the issue's comments since shortly before the POST,
// one page of 100: a stand-in that ignores since answers the issue's
// oldest 100, so on a busy issue the comment written is never found and
// the task's end writes a second one.
func TestListCommentsHonoursSince(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	n, err := f.srv.CreateIssue("acme/widgets", "Fix it", "", "alice")
	must(t, err)
	c := f.client(f.token(TokenOptions{Permissions: map[string]string{"issues": "write"}}))
	old, _, err := c.Issues.CreateComment(ctx(), testOrg, "widgets", n, &github.IssueComment{Body: github.Ptr("old")})
	must(t, err)
	edited, _, err := c.Issues.CreateComment(ctx(), testOrg, "widgets", n, &github.IssueComment{Body: github.Ptr("old, edited later")})
	must(t, err)
	f.clock.advance(time.Hour)
	c = f.client(f.token(TokenOptions{Permissions: map[string]string{"issues": "write"}})) // the first expired
	since := f.clock.now().Add(-time.Minute)
	_, _, err = c.Issues.EditComment(ctx(), testOrg, "widgets", edited.GetID(), &github.IssueComment{Body: github.Ptr("edited")})
	must(t, err)
	recent, _, err := c.Issues.CreateComment(ctx(), testOrg, "widgets", n, &github.IssueComment{Body: github.Ptr("recent")})
	must(t, err)

	tests := []struct {
		name string
		want map[int64]bool // comment id: listed
	}{
		{"since an hour after the first comments", map[int64]bool{old.GetID(): false, edited.GetID(): true, recent.GetID(): true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, _, err := c.Issues.ListComments(ctx(), testOrg, "widgets", n, &github.IssueListCommentsOptions{Since: &since})
			must(t, err)
			got := map[int64]bool{}
			for _, cm := range list {
				got[cm.GetID()] = true
			}
			for id, want := range tt.want {
				if got[id] != want {
					t.Errorf("comment %d listed %v, want %v (since %s)", id, got[id], want, since.Format(time.RFC3339))
				}
			}
		})
	}
}
