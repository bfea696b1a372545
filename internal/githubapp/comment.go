package githubapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/webhook"
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
	sent := c.now()
	if err := c.do(ctx, http.MethodPost, repoPath(owner, name)+"/issues/"+itoa(issue)+"/comments", comment, &cm); err != nil {
		// GitHub may have written it and lost only its answer (a 502 of its
		// front end, the connection cut): without its id, the task's later
		// writes would be a second comment, and this one would say what it
		// says for ever.
		if id := c.writtenComment(ctx, owner, name, issue, comment.Body, sent, err); id != 0 {
			return id, nil
		}
		return 0, c.fail(err, fmt.Sprintf("commenting on %s#%d", repo, issue), tok)
	}
	if cm.ID <= 0 {
		return 0, sandstep.Errorf(sandstep.EINTERNAL, "commenting on %s#%d: GitHub answered no comment id", repo, issue)
	}
	return cm.ID, nil
}

// writtenComment is the id of the comment a POST that failed with err may
// have written all the same: a bot's comment on issue, updated since
// shortly before sent, with exactly body (it names the task). 0 when
// GitHub refused the POST (an answer below 500: nothing was written), the
// caller's time is up, or none is found.
func (c *Client) writtenComment(ctx context.Context, owner, name string, issue int, body string, sent time.Time, err error) int64 {
	var er *apiError
	if errors.As(err, &er) && er.Status < 500 || ctx.Err() != nil {
		return 0
	}
	// A minute back: GitHub's clock and this one's may differ.
	q := url.Values{"since": {sent.Add(-time.Minute).UTC().Format(time.RFC3339)}, "per_page": {"100"}}
	var list []struct {
		ID   int64  `json:"id"`
		Body string `json:"body"`
		User struct {
			Login string `json:"login"`
			Type  string `json:"type"`
		} `json:"user"`
	}
	if c.do(ctx, http.MethodGet, repoPath(owner, name)+"/issues/"+itoa(issue)+"/comments?"+q.Encode(), nil, &list) != nil {
		return 0
	}
	for i := len(list) - 1; i >= 0; i-- {
		if cm := list[i]; cm.ID > 0 && cm.Body == body && webhook.IsBot(cm.User.Login, cm.User.Type) {
			return cm.ID
		}
	}
	return 0
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
