package githubapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	neturl "net/url"
	"strings"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// OpenPullRequest opens a pull request on repo from branch head into base
// and returns its number and web URL. When an open pull request from head
// into base exists already (GitHub's 422 "A pull request already exists"),
// it answers that one, so a repeated step opens no second. It calls with
// the client's cached installation token of the push's scope
// (PushAndPullRequest), which never enters a sandbox; the push's own token
// is minted apart and revoked after the push.
func (c *Client) OpenPullRequest(ctx context.Context, installationID int64, repo, head, base, title, body string) (number int, url string, err error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return 0, "", err
	}
	switch {
	case strings.TrimSpace(head) == "":
		return 0, "", sandstep.Invalid("head", "the branch to merge from is empty")
	case strings.TrimSpace(base) == "":
		return 0, "", sandstep.Invalid("base", "the branch to merge into is empty")
	case head == base:
		return 0, "", sandstep.Invalid("head", "the branch to merge from is the branch to merge into (%q)", sandstep.Clip(base, 100))
	case strings.TrimSpace(title) == "":
		return 0, "", sandstep.Invalid("title", "a pull request needs a title")
	}
	ctx, tok, err := c.installationCall(ctx, installationID, repo, PushAndPullRequest)
	if err != nil {
		return 0, "", err
	}
	op := fmt.Sprintf("opening a pull request on %s from %s into %s", repo, head, base)
	type pull struct {
		Number  int    `json:"number"`
		HTMLURL string `json:"html_url"`
	}
	var pr pull
	err = c.do(ctx, http.MethodPost, repoPath(owner, name)+"/pulls", map[string]string{
		"title": title, "head": head, "base": base, "body": cutBody(body, MaxBodyChars),
	}, &pr)
	if err == nil {
		return pr.Number, pr.HTMLURL, nil
	}
	if !alreadyExists(err) {
		return 0, "", c.fail(err, op, tok)
	}
	// The list's head filter wants "owner:branch"; a head from a fork
	// names its owner already.
	headRef := head
	if !strings.Contains(head, ":") {
		headRef = owner + ":" + head
	}
	var prs []pull
	q := neturl.Values{"state": {"open"}, "head": {headRef}, "base": {base}}
	if lerr := c.do(ctx, http.MethodGet, repoPath(owner, name)+"/pulls?"+q.Encode(), nil, &prs); lerr != nil {
		return 0, "", c.fail(lerr, op+": finding the existing one", tok)
	}
	if len(prs) == 0 {
		return 0, "", sandstep.Wrap(err, sandstep.ECONFLICT, "%s: GitHub says one exists, but no open one from %s into %s was found", op, head, base)
	}
	return prs[0].Number, prs[0].HTMLURL, nil
}

// alreadyExists matches GitHub's 422 for a head that has an open pull
// request: "A pull request already exists for owner:branch.", in the
// errors array or the message.
func alreadyExists(err error) bool {
	var er *apiError
	if !errors.As(err, &er) || er.Status != http.StatusUnprocessableEntity {
		return false
	}
	return strings.Contains(strings.ToLower(errorText(er)), "a pull request already exists")
}
