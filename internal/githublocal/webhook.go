package githublocal

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"

	"github.com/google/uuid"
)

// Webhook is one delivery of an event, as GitHub sends it.
type Webhook struct {
	// Event is X-GitHub-Event: issues, issue_comment, ping, ...
	Event string
	// Delivery is X-GitHub-Delivery; empty: a new one (a UUID, as
	// GitHub's). A redelivery sends the same one again.
	Delivery string
	// Payload is the body, sent as is: the signature covers these bytes.
	Payload []byte
	// Secret signs the body; empty: unsigned, as a hook without a secret.
	Secret string
}

// WebhookResponse is the receiver's answer.
type WebhookResponse struct {
	Delivery   string
	StatusCode int
	Body       []byte
}

// SignWebhook is the X-Hub-Signature-256 value of body: sha256= and the
// hex HMAC-SHA256 of the raw body under secret.
func SignWebhook(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// signSHA1 is the legacy X-Hub-Signature GitHub still sends beside it.
func signSHA1(secret string, body []byte) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	return "sha1=" + hex.EncodeToString(m.Sum(nil))
}

// SendWebhook POSTs a delivery to url with GitHub's headers
// (X-GitHub-Event, X-GitHub-Delivery, X-Hub-Signature-256 and
// X-Hub-Signature when signed, User-Agent GitHub-Hookshot/…) and returns
// the answer, its body cut at 1 MiB. A nil client is
// http.DefaultClient.
func SendWebhook(ctx context.Context, client *http.Client, url string, hook Webhook) (*WebhookResponse, error) {
	if client == nil {
		client = http.DefaultClient
	}
	if hook.Delivery == "" {
		hook.Delivery = uuid.NewString()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(hook.Payload))
	if err != nil {
		return nil, fmt.Errorf("githublocal: webhook %s: %w", hook.Event, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/githublocal")
	req.Header.Set("X-GitHub-Event", hook.Event)
	req.Header.Set("X-GitHub-Delivery", hook.Delivery)
	if hook.Secret != "" {
		req.Header.Set("X-Hub-Signature-256", SignWebhook(hook.Secret, hook.Payload))
		req.Header.Set("X-Hub-Signature", signSHA1(hook.Secret, hook.Payload))
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("githublocal: webhook %s delivery %s: %w", hook.Event, hook.Delivery, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("githublocal: webhook %s delivery %s: read the answer: %w", hook.Event, hook.Delivery, err)
	}
	return &WebhookResponse{Delivery: hook.Delivery, StatusCode: res.StatusCode, Body: body}, nil
}
