package webhook

import (
	"fmt"
	"testing"
)

// A delivery whose sender is null or absent names nobody whose
// permission GitHub could be asked for: README answers a trigger by
// anyone who cannot be shown to write `ignored`. Read as a start or a
// cancel with no sender, the permission check refuses the empty login as
// invalid and GitHub's delivery log shows a failed 400 instead.
func TestSenderless(t *testing.T) {
	const rest = `"issue": {"number": 12, "title": "t", "body": "b"},
 "repository": {"full_name": "octo/hello", "default_branch": "main", "clone_url": "https://github.com/octo/hello.git"},
 "installation": {"id": 7}`
	tests := []struct {
		name, event, body string
	}{
		{"labelled, sender null", "issues", fmt.Sprintf(`{"action": "labeled", "label": {"name": "sandstep"}, "sender": null, %s}`, rest)},
		{"unlabelled, no sender", "issues", fmt.Sprintf(`{"action": "unlabeled", "label": {"name": "sandstep"}, %s}`, rest)},
		{"labelled, sender without a login", "issues", fmt.Sprintf(`{"action": "labeled", "label": {"name": "sandstep"}, "sender": {"type": "User"}, %s}`, rest)},
		{"commented, sender null", "issue_comment", fmt.Sprintf(`{"action": "created", "comment": {"id": 5, "body": "/sandstep", "user": null}, "sender": null, %s}`, rest)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Parse(tt.event, []byte(tt.body), triggers)
			if err != nil {
				t.Fatal(err)
			}
			if (ev.Kind == KindStart || ev.Kind == KindCancel) && ev.Sender == "" {
				t.Errorf("kind %s with no sender: its permission cannot be asked; want %s", ev.Kind, KindIgnore)
			}
		})
	}
}
