// Package webhook reads GitHub's webhook deliveries: it checks a
// delivery's signature before anything else, then turns the few events
// sandstep acts on (an issue labelled, a command commented) into an Event.
// It reads only the fields it uses of GitHub's payloads.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The headers of a delivery.
const (
	SignatureHeader = "X-Hub-Signature-256"
	EventHeader     = "X-GitHub-Event"
	DeliveryHeader  = "X-GitHub-Delivery"
)

// ErrMismatch is Verify's answer to a well-formed signature ("sha256="
// and 32 bytes in hex) that does not match: only such a header can be a
// signature by a secret rotated since the one held, worth reading the
// secret again for.
var ErrMismatch = &sandstep.Error{Code: sandstep.EUNAUTHENTICATED, Message: "the delivery's signature does not match"}

// Verify checks a delivery's X-Hub-Signature-256, "sha256=" and the
// HMAC-SHA256 of body under secret in hex, comparing in constant time. It
// is EUNAUTHENTICATED when the header is missing, of another scheme or not
// 32 bytes in hex, and ErrMismatch when it does not match.
func Verify(secret, body []byte, signature string) error {
	if len(secret) == 0 {
		return sandstep.Errorf(sandstep.EINTERNAL, "webhook: no secret configured")
	}
	hexMAC, ok := strings.CutPrefix(signature, "sha256=")
	if !ok {
		return sandstep.Errorf(sandstep.EUNAUTHENTICATED, "the delivery has no %s signature", SignatureHeader)
	}
	got, err := hex.DecodeString(hexMAC)
	if err != nil || len(got) != sha256.Size {
		return sandstep.Errorf(sandstep.EUNAUTHENTICATED, "the delivery's %s is not an HMAC-SHA256 in hex", SignatureHeader)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrMismatch
	}
	return nil
}

// Kind is what a delivery asks of sandstep.
type Kind string

// The kinds of Event.
const (
	KindPing   Kind = "ping"
	KindStart  Kind = "start"  // run a task on the issue
	KindCancel Kind = "cancel" // cancel the issue's task
	KindIgnore Kind = "ignore"
)

// Triggers say which events start and cancel tasks.
type Triggers struct {
	// Label starts a task when added to an issue; its removal cancels.
	Label string
	// Command starts a task when a comment's body starts with it;
	// "<Command> cancel" cancels.
	Command string
}

// Event is a delivery as sandstep reads it. Title and Body are the
// issue's, written by anyone: they are data, never part of a command.
type Event struct {
	Kind Kind
	// Why says why a delivery is ignored.
	Why            string
	InstallationID int64
	// Repo is "owner/name".
	Repo          string
	DefaultBranch string
	CloneURL      string
	Issue         int
	Title, Body   string
	// Sender is the login of who acted; its permission on the repository
	// is asked of GitHub whatever the trigger. ByComment: a comment's
	// command, not the label.
	Sender    string
	ByComment bool
	CommentID int64
}

// The parts of GitHub's payloads sandstep reads.
type (
	user struct {
		Login string `json:"login"`
		Type  string `json:"type"`
	}
	issue struct {
		Number int    `json:"number"`
		Title  string `json:"title"`
		Body   string `json:"body"`
		// PullRequest is set when the issue is a pull request.
		PullRequest json.RawMessage `json:"pull_request"`
	}
	payload struct {
		Action       string `json:"action"`
		Installation struct {
			ID int64 `json:"id"`
		} `json:"installation"`
		Repository struct {
			FullName      string `json:"full_name"`
			DefaultBranch string `json:"default_branch"`
			CloneURL      string `json:"clone_url"`
		} `json:"repository"`
		Issue  issue `json:"issue"`
		Sender user  `json:"sender"`
		Label  struct {
			Name string `json:"name"`
		} `json:"label"`
		Comment struct {
			ID   int64  `json:"id"`
			Body string `json:"body"`
			User user   `json:"user"`
		} `json:"comment"`
	}
)

// Parse reads a delivery of eventType. A payload of an event sandstep
// acts on that is not JSON of the right shape is EINVALID; every other
// event is an Event, of KindIgnore when sandstep does nothing with it.
func Parse(eventType string, body []byte, t Triggers) (*Event, error) {
	switch eventType {
	case "ping":
		return &Event{Kind: KindPing}, nil
	case "issues", "issue_comment":
	default:
		return ignore("an event sandstep does not act on (%s)", sandstep.Clip(eventType, 64)), nil
	}
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		// Said in the payload's terms, never sandstep's Go types.
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return nil, sandstep.Invalid("body", "the %s delivery's %s is a JSON %s, which GitHub does not send there", eventType, typeErr.Field, typeErr.Value)
		case errors.As(err, &typeErr):
			return nil, sandstep.Invalid("body", "the %s delivery is a JSON %s, not an object", eventType, typeErr.Value)
		}
		return nil, sandstep.Invalid("body", "the %s delivery is not JSON: %v", eventType, err)
	}
	if eventType == "issues" {
		return issues(&p, t), nil
	}
	return comment(&p, t), nil
}

func ignore(format string, args ...any) *Event {
	return &Event{Kind: KindIgnore, Why: fmt.Sprintf(format, args...)}
}

func issues(p *payload, t Triggers) *Event {
	if isBot(p.Sender) {
		return ignore("sent by a bot")
	}
	if p.Sender.Login == "" {
		return ignore(noSender)
	}
	// GitHub's label names are not case-sensitive: a repository has one
	// label of the name, in whatever case it was created.
	if !strings.EqualFold(p.Label.Name, t.Label) {
		return ignore("not the %q label", t.Label)
	}
	e := base(p)
	switch p.Action {
	case "labeled":
		e.Kind = KindStart
	case "unlabeled":
		e.Kind = KindCancel
	default:
		return ignore("issue %s", sandstep.Clip(p.Action, 64))
	}
	return e
}

func comment(p *payload, t Triggers) *Event {
	if p.Action != "created" {
		return ignore("comment %s", sandstep.Clip(p.Action, 64))
	}
	if isBot(p.Sender) || isBot(p.Comment.User) {
		return ignore("sent by a bot")
	}
	if p.Sender.Login == "" {
		return ignore(noSender)
	}
	if len(p.Issue.PullRequest) > 0 && string(p.Issue.PullRequest) != "null" {
		return ignore("a comment on a pull request")
	}
	if indentedCode(p.Comment.Body) {
		return ignore("the %s command shown as code", t.Command)
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(p.Comment.Body), t.Command)
	// Any white space ends the command: GitHub's web UI ends a line with \r\n.
	if r, _ := utf8.DecodeRuneInString(rest); !ok || (rest != "" && !unicode.IsSpace(r)) {
		return ignore("not a %s command", t.Command)
	}
	e := base(p)
	e.ByComment, e.CommentID = true, p.Comment.ID
	if f := strings.Fields(rest); len(f) > 0 && isCancel(f[0]) {
		e.Kind = KindCancel
	} else {
		e.Kind = KindStart
	}
	return e
}

// indentedCode says whether body's first line that is not blank is
// indented as Markdown's code block is (four spaces, or a tab within
// them): GitHub shows it as code, an example of the command, not the
// command (a fence or a quote starts with a character of its own).
func indentedCode(body string) bool {
	for {
		line, after, found := strings.Cut(body, "\n")
		if strings.TrimSpace(line) != "" || !found {
			break
		}
		body = after
	}
	for i := range min(len(body), 4) {
		switch body[i] {
		case '\t':
			return true
		case ' ':
		default:
			return false
		}
	}
	return len(body) >= 4
}

// noSender: a trigger counts only when its sender's permission is asked
// of GitHub, and a delivery without one names nobody to ask about: it is
// anyone's, answered ignored as README answers them, not failed.
const noSender = "no sender named, whose permission could be asked"

// isCancel: the command's first word is cancel as people write it, in
// any case and ending its sentence; read as a start, it would start a
// task nobody asked for, or leave the running one going.
func isCancel(word string) bool {
	return strings.EqualFold(strings.TrimRight(word, ".,;:!"), "cancel")
}

func base(p *payload) *Event {
	return &Event{
		InstallationID: p.Installation.ID,
		Repo:           p.Repository.FullName,
		DefaultBranch:  p.Repository.DefaultBranch,
		CloneURL:       p.Repository.CloneURL,
		Issue:          p.Issue.Number,
		Title:          p.Issue.Title,
		Body:           p.Issue.Body,
		Sender:         p.Sender.Login,
	}
}

// isBot: an App's own comments come from its bot user, so ignoring bots
// ignores sandstep's comments too: no loops.
func isBot(u user) bool { return IsBot(u.Login, u.Type) }

// IsBot reports whether a GitHub user, by its login and type, is a bot:
// an App acts (and comments) as one.
func IsBot(login, userType string) bool {
	return userType == "Bot" || strings.HasSuffix(login, "[bot]")
}
