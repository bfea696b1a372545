package api

import (
	"bytes"
	"context"
	"errors"
	"net/http"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/webhook"
)

// FunctionGitHub receives GitHub's webhook deliveries.
const FunctionGitHub = "github"

// RouteGitHubWebhook is GitHub's webhook: no JWT, its signature instead.
const RouteGitHubWebhook = "POST /webhooks/github"

// Issues is what the edge calls for GitHub's deliveries.
type Issues interface {
	HandleIssue(ctx context.Context, ev service.IssueEvent) (*service.IssueOutcome, error)
}

// GitHubOptions configure the webhook.
type GitHubOptions struct {
	// Secret returns the webhook secret (cached by its caller): nothing
	// is read of a delivery before its signature is checked with it.
	Secret func(ctx context.Context) ([]byte, error)
	// Reread, when set, reads the secret again after a signature that
	// did not match, so a secret the operator rotated is taken up by a
	// warm instance (GitHub signs with the new one at once and sends no
	// failed delivery again): the secret as it now holds it, or nil when
	// it read none (it bounds how often it reads and logs its failures).
	Reread   func(ctx context.Context) []byte
	Triggers webhook.Triggers
}

// serveGitHubWebhook checks the delivery's signature, then reads it and
// hands what it asks for to the service, answering within GitHub's 10 s:
// the work itself happens in the task.
// A deployment without a webhook secret never gets here: newRequest
// answers 404 for a signed route first.
func (a *API) serveGitHubWebhook(r *request) (response, error) {
	secret, err := a.github.Secret(r.ctx)
	if err != nil {
		return response{}, err
	}
	sig, _ := header(r.headers, webhook.SignatureHeader)
	if err := webhook.Verify(secret, r.body, sig); err != nil {
		// Only a well-formed signature may be by a rotated secret: what
		// comes unsigned (a scanner, a probe) must not spend the reread a
		// delivery just after a rotation needs.
		if !errors.Is(err, webhook.ErrMismatch) || a.github.Reread == nil {
			return response{}, err
		}
		// Another delivery may have read the secret since this one got it.
		fresh := a.github.Reread(r.ctx)
		if fresh == nil || bytes.Equal(fresh, secret) {
			return response{}, err
		}
		if err := webhook.Verify(fresh, r.body, sig); err != nil {
			return response{}, err
		}
	}
	event, _ := header(r.headers, webhook.EventHeader)
	delivery, _ := header(r.headers, webhook.DeliveryHeader)
	if delivery == "" || event == "" {
		return response{}, sandstep.Invalid(webhook.DeliveryHeader, "a delivery names its event and id")
	}
	ev, err := webhook.Parse(event, r.body, a.github.Triggers)
	if err != nil {
		return response{}, err
	}
	switch ev.Kind {
	case webhook.KindPing:
		return response{status: http.StatusOK, body: service.IssueOutcome{Action: "pong"}}, nil
	case webhook.KindIgnore:
		return response{status: http.StatusOK, body: service.IssueOutcome{Action: "ignored", Why: ev.Why}}, nil
	}
	out, err := a.svc.HandleIssue(r.ctx, service.IssueEvent{
		Delivery: delivery, Cancel: ev.Kind == webhook.KindCancel, Repo: ev.Repo, InstallationID: ev.InstallationID,
		Issue: ev.Issue, Title: ev.Title, Body: ev.Body, Sender: ev.Sender, ByComment: ev.ByComment,
		CloneURL: ev.CloneURL, DefaultBranch: ev.DefaultBranch,
	})
	if err != nil {
		return response{}, err
	}
	if out == nil {
		return response{}, errNoResult
	}
	status := http.StatusOK
	if out.Action == "started" {
		status = http.StatusAccepted
	}
	return response{status: status, body: out}, nil
}
