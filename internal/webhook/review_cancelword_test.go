package webhook

import (
	"fmt"
	"testing"
)

// README: comment `/sandstep cancel` to cancel. A cancel written as people
// write it (capitalised, or ending its sentence) is read as a start: with
// no task running it starts one nobody asked for (spending the
// repository's quota, opening a pull request), and with one running it
// is answered busy and the task goes on.
func TestReviewCancelCommentAsWritten(t *testing.T) {
	payload := func(body string) []byte {
		return fmt.Appendf(nil, `{"action": "created", "comment": {"id": 5, "body": %q, "user": {"login": "maintainer", "type": "User"}},
 "issue": {"number": 12, "title": "t", "body": "b"},
 "repository": {"full_name": "octo/hello", "default_branch": "main", "clone_url": "https://github.com/octo/hello.git"},
 "installation": {"id": 7}, "sender": {"login": "maintainer", "type": "User"}}`, body)
	}
	tests := []struct {
		name, body string
		want       Kind
	}{
		{"as documented", "/sandstep cancel", KindCancel},
		{"capitalised", "/sandstep Cancel", KindCancel},
		{"in capitals", "/sandstep CANCEL", KindCancel},
		{"ending a sentence", "/sandstep cancel.", KindCancel},
		{"with a reason", "/sandstep cancel, wrong branch", KindCancel},
		{"a start", "/sandstep", KindStart},
		{"a start with words", "/sandstep please fix the tests", KindStart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Parse("issue_comment", payload(tt.body), triggers)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind != tt.want {
				t.Errorf("%q: kind %s (why %q), want %s", tt.body, ev.Kind, ev.Why, tt.want)
			}
		})
	}
}
