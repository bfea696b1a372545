package webhook

import (
	"fmt"
	"testing"
)

// GitHub's label names are not case-sensitive: a repository holds one of
// "sandstep" and "Sandstep", never both, and either is the label its
// issues are given by that name. An issue given the repository's
// "Sandstep" label is labelled sandstep as GitHub sees it (README: "Label
// an issue `sandstep`"), yet the delivery is ignored as "not the label",
// and its removal cancels nothing.
func TestHuntTheTriggerLabelInAnotherCase(t *testing.T) {
	payload := func(action, label string) []byte {
		return fmt.Appendf(nil, `{"action": %q, "label": {"name": %q},
 "issue": {"number": 12, "title": "t", "body": "b"},
 "repository": {"full_name": "octo/hello", "default_branch": "main", "clone_url": "https://github.com/octo/hello.git"},
 "installation": {"id": 7}, "sender": {"login": "maintainer", "type": "User"}}`, action, label)
	}
	tests := []struct {
		name, action, label string
		want                Kind
	}{
		{"the label as configured", "labeled", "sandstep", KindStart},
		{"the repository's label capitalised", "labeled", "Sandstep", KindStart},
		{"the repository's label in capitals", "labeled", "SANDSTEP", KindStart},
		{"the capitalised label removed", "unlabeled", "Sandstep", KindCancel},
		{"another label", "labeled", "sandstep-later", KindIgnore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Parse("issues", payload(tt.action, tt.label), triggers)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind != tt.want {
				t.Errorf("kind %s (why %q), want %s", ev.Kind, ev.Why, tt.want)
			}
		})
	}
}
