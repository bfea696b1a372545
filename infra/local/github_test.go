package local

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"
)

// GitHub's deliveries reach the webhook through the local API without a
// JWT: a signed ping is answered, a delivery signed otherwise is refused.
func TestGitHubWebhookLocally(t *testing.T) {
	s := startStack(t, nil)
	raw, err := os.ReadFile("../../events/github-api.json")
	if err != nil {
		t.Fatal(err)
	}
	var fixture struct {
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	if err := json.Unmarshal(raw, &fixture); err != nil {
		t.Fatal(err)
	}
	send := func(event, signature string) response {
		return do(t, http.MethodPost, s.APIURL+"/webhooks/github", fixture.Body,
			"X-GitHub-Event: "+event, "X-GitHub-Delivery: "+fixture.Headers["x-github-delivery"], "X-Hub-Signature-256: "+signature)
	}
	if res := send("ping", fixture.Headers["x-hub-signature-256"]); res.status != http.StatusOK {
		t.Errorf("signed ping: %d %s", res.status, res.body)
	}
	if res := send("ping", "sha256=0000"); res.status != http.StatusUnauthorized {
		t.Errorf("badly signed ping: %d %s, want 401", res.status, res.body)
	}
}
