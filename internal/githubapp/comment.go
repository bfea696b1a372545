package githubapp

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// MaxBodyChars is GitHub's limit on a comment's or a pull request's body.
const MaxBodyChars = 65536

// cutMarker ends a body that was cut to fit.
const cutMarker = "\n\n…(cut: longer than GitHub's 65,536 characters)"

// UpsertComment writes body as sandstep's comment on issue: a new comment
// when commentID is 0, else an edit of commentID, so that a task's issue
// gets one comment edited as the task progresses. A comment that is gone
// (someone deleted it) is written anew. It returns the comment's id. A
// body over MaxBodyChars is cut, with a marker saying so.
func (c *Client) UpsertComment(ctx context.Context, installationID int64, repo string, issue int, commentID int64, body string) (int64, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return 0, err
	}
	if issue <= 0 {
		return 0, sandstep.Invalid("issue", "an issue number is positive, not %d", issue)
	}
	if commentID < 0 {
		return 0, sandstep.Invalid("commentID", "a comment id is positive, or 0 for a new comment, not %d", commentID)
	}
	ctx, tok, err := c.installationCall(ctx, installationID, repo, WriteIssues)
	if err != nil {
		return 0, err
	}
	comment := struct {
		Body string `json:"body"`
	}{cutBody(body, MaxBodyChars)}
	var cm struct {
		ID int64 `json:"id"`
	}
	if commentID != 0 {
		err := c.do(ctx, http.MethodPatch, repoPath(owner, name)+"/issues/comments/"+itoa(commentID), comment, &cm)
		if err == nil {
			return cm.ID, nil
		}
		if !isStatus(err, http.StatusNotFound) {
			return 0, c.fail(err, fmt.Sprintf("editing comment %d on %s#%d", commentID, repo, issue), tok)
		}
	}
	if err := c.do(ctx, http.MethodPost, repoPath(owner, name)+"/issues/"+itoa(issue)+"/comments", comment, &cm); err != nil {
		return 0, c.fail(err, fmt.Sprintf("commenting on %s#%d", repo, issue), tok)
	}
	if cm.ID <= 0 {
		return 0, sandstep.Errorf(sandstep.EINTERNAL, "commenting on %s#%d: GitHub answered no comment id", repo, issue)
	}
	return cm.ID, nil
}

// cutBody returns body if it fits in limit characters, else its longest
// head that fits with cutMarker after it. Characters are counted as UTF-16
// units, which is at least the count of code points, so the result fits
// whichever of the two GitHub counts. A code block the cut leaves open is
// closed, so the marker shows as text.
func cutBody(body string, limit int) string {
	if chars(body) <= limit {
		return body
	}
	const fence = "\n```"
	room := limit - chars(cutMarker) - chars(fence)
	n, i := 0, 0
	for i < len(body) {
		r, size := utf8.DecodeRuneInString(body[i:])
		w := 1
		if r > 0xFFFF {
			w = 2
		}
		if n+w > room {
			break
		}
		n, i = n+w, i+size
	}
	head := body[:i]
	if strings.Count(head, "```")%2 == 1 {
		head += fence
	}
	return head + cutMarker
}

// chars counts s in UTF-16 units.
func chars(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xFFFF {
			n++
		}
	}
	return n
}
