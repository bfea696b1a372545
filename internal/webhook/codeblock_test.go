package webhook

import (
	"fmt"
	"testing"
)

// A comment that shows the command as code, indented four spaces or a
// tab (Markdown's indented code block, which GitHub renders as code), does
// not comment the command: someone explaining how to cancel must not
// cancel the task. Indented less, the line is still the command.
func TestCommandInCodeBlock(t *testing.T) {
	const rest = `"issue": {"number": 12, "title": "t", "body": "b"},
 "repository": {"full_name": "octo/hello", "default_branch": "main", "clone_url": "https://github.com/octo/hello.git"},
 "installation": {"id": 7}, "sender": {"login": "maintainer", "type": "User"}}`
	comment := func(body string) []byte {
		return fmt.Appendf(nil, `{"action": "created", "comment": {"id": 5, "body": %q, "user": {"login": "maintainer", "type": "User"}}, `+rest, body)
	}
	tests := []struct {
		name, body string
		want       Kind
	}{
		{"cancel as code, four spaces", "    /sandstep cancel\r\n\r\nthat is how you stop it", KindIgnore},
		{"the command as code, a tab", "\t/sandstep", KindIgnore},
		{"code after a blank line", "\r\n\r\n    /sandstep", KindIgnore},
		{"in a fence", "```\r\n/sandstep cancel\r\n```", KindIgnore},
		{"in a quote", "> /sandstep cancel", KindIgnore},
		{"indented two spaces", "  /sandstep", KindStart},
		{"after a blank line", "\r\n/sandstep cancel", KindCancel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Parse("issue_comment", comment(tt.body), triggers)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind != tt.want {
				t.Errorf("kind %s (why %q), want %s", ev.Kind, ev.Why, tt.want)
			}
		})
	}
}
