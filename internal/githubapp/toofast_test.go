package githubapp

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// GitHub's limit on content created (comments, pull requests: some 80 a
// minute, 500 an hour for an App) answers a 422 whose errors say "was
// submitted too quickly", not a 403: a refusal for now, to be asked again
// a minute or more later (cli/cli#4801). Taken for a validation failure,
// it fails an issue's task with no pull request after all its work, and
// the ended comment is given up on at once: the steps only wait out, and
// the state machine only asks again, what is transient.
func TestContentCreatedTooQuickly(t *testing.T) {
	tests := []struct {
		name     string
		resource string
		call     func(c *Client) error
	}{
		{"the pull request", "PullRequest", func(c *Client) error {
			_, _, err := c.OpenPullRequest(context.Background(), testInstallation, testRepo, "sandstep/tsk_1", "trunk", "sandstep: #3 fix", "body")
			return err
		}},
		{"the issue's comment", "IssueComment", func(c *Client) error {
			_, err := c.UpsertComment(context.Background(), testInstallation, testRepo, 3, 0, "**sandstep** task `tsk_1` succeeded.")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			tooQuickly := answer(http.StatusUnprocessableEntity, nil,
				`{"message":"Validation Failed","errors":[{"resource":"`+tt.resource+`","code":"custom","message":"was submitted too quickly"}],"documentation_url":"https://docs.github.com/rest"}`)
			f.fault = func(w http.ResponseWriter, r *http.Request) bool {
				return r.Method == http.MethodPost && tooQuickly(w, r)
			}
			err := tt.call(f.client(t))
			if sandstep.ErrorCode(err) != sandstep.ETRANSIENT || sandstep.ErrorRetryAfter(err) < time.Minute {
				t.Fatalf("%v (retry after %v); want a refusal for now, asked again in a minute at least", err, sandstep.ErrorRetryAfter(err))
			}
		})
	}
}
