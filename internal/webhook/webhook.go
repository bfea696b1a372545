// Package webhook reads GitHub's webhook deliveries: it checks a
// delivery's signature before anything else, then turns the few events
// sandstep acts on (an issue labelled, a command commented) into an Event.
// GitHub's payload types and parsing are google/go-github's.
package webhook

import (
	"fmt"
	"strings"

	"github.com/google/go-github/v88/github"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The headers of a delivery.
const (
	SignatureHeader = github.SHA256SignatureHeader
	EventHeader     = github.EventTypeHeader
	DeliveryHeader  = github.DeliveryIDHeader
)

// Verify checks a delivery's X-Hub-Signature-256, "sha256=" and the
// HMAC-SHA256 of body under secret in hex, comparing in constant time. It
// is EUNAUTHENTICATED when the header is missing, of another scheme, or
// does not match.
func Verify(secret, body []byte, signature string) error {
	if len(secret) == 0 {
		return sandstep.Errorf(sandstep.EINTERNAL, "webhook: no secret configured")
	}
	if !strings.HasPrefix(signature, "sha256=") {
		return sandstep.Errorf(sandstep.EUNAUTHENTICATED, "the delivery has no %s signature", SignatureHeader)
	}
	if err := github.ValidateSignature(signature, body, secret); err != nil {
		return sandstep.Errorf(sandstep.EUNAUTHENTICATED, "the delivery's signature does not match")
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
	// Sender is the login of who acted. ByComment: the sender's
	// permission on the repository must be asked of GitHub, since
	// anyone can comment.
	Sender    string
	ByComment bool
	CommentID int64
}

// Parse reads a delivery of eventType. A payload GitHub would not send
// (malformed JSON, an unknown event type it cannot parse) is EINVALID;
// every other event is an Event, of KindIgnore when sandstep does nothing
// with it.
func Parse(eventType string, body []byte, t Triggers) (*Event, error) {
	if eventType == "ping" {
		return &Event{Kind: KindPing}, nil
	}
	payload, err := github.ParseWebHook(eventType, body)
	if err != nil {
		if strings.Contains(err.Error(), "unknown X-Github-Event") {
			return ignore("an event sandstep does not act on (%s)", sandstep.Clip(eventType, 64)), nil
		}
		return nil, sandstep.Invalid("body", "the %s delivery is not readable: %v", sandstep.Clip(eventType, 64), err)
	}
	switch ev := payload.(type) {
	case *github.IssuesEvent:
		return issues(ev, t), nil
	case *github.IssueCommentEvent:
		return comment(ev, t), nil
	}
	return ignore("an event sandstep does not act on (%s)", eventType), nil
}

func ignore(format string, args ...any) *Event {
	return &Event{Kind: KindIgnore, Why: fmt.Sprintf(format, args...)}
}

func issues(ev *github.IssuesEvent, t Triggers) *Event {
	if isBot(ev.GetSender()) {
		return ignore("sent by a bot")
	}
	if ev.GetLabel().GetName() != t.Label {
		return ignore("not the %q label", t.Label)
	}
	e := base(ev.GetInstallation(), ev.GetRepo(), ev.GetIssue(), ev.GetSender())
	switch ev.GetAction() {
	case "labeled":
		e.Kind = KindStart
	case "unlabeled":
		e.Kind = KindCancel
	default:
		return ignore("issue %s", ev.GetAction())
	}
	return e
}

func comment(ev *github.IssueCommentEvent, t Triggers) *Event {
	if ev.GetAction() != "created" {
		return ignore("comment %s", ev.GetAction())
	}
	if isBot(ev.GetSender()) || isBot(ev.GetComment().GetUser()) {
		return ignore("sent by a bot")
	}
	if ev.GetIssue().IsPullRequest() {
		return ignore("a comment on a pull request")
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(ev.GetComment().GetBody()), t.Command)
	if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '\n' && rest[0] != '\t') {
		return ignore("not a %s command", t.Command)
	}
	e := base(ev.GetInstallation(), ev.GetRepo(), ev.GetIssue(), ev.GetSender())
	e.ByComment, e.CommentID = true, ev.GetComment().GetID()
	if f := strings.Fields(rest); len(f) > 0 && f[0] == "cancel" {
		e.Kind = KindCancel
	} else {
		e.Kind = KindStart
	}
	return e
}

func base(inst *github.Installation, repo *github.Repository, issue *github.Issue, sender *github.User) *Event {
	return &Event{
		InstallationID: inst.GetID(),
		Repo:           repo.GetFullName(),
		DefaultBranch:  repo.GetDefaultBranch(),
		CloneURL:       repo.GetCloneURL(),
		Issue:          issue.GetNumber(),
		Title:          issue.GetTitle(),
		Body:           issue.GetBody(),
		Sender:         sender.GetLogin(),
	}
}

// isBot: an App's own comments come from its bot user, so ignoring bots
// ignores sandstep's comments too: no loops.
func isBot(u *github.User) bool {
	return u.GetType() == "Bot" || strings.HasSuffix(u.GetLogin(), "[bot]")
}
