package api

import (
	"context"
	"net/http"
	"testing"
)

// An unsigned delivery is refused 401 whatever its body or query: the
// signature is checked over the raw body before anything else is judged
// (README, "GitHub issues").
func TestWebhookUnsignedIsRefused401BeforeTheBodyIsRead(t *testing.T) {
	for name, opts := range map[string][]evOption{
		"empty body":  {withHeader("x-hub-signature-256", ""), withBody("")},
		"query param": {withHeader("x-hub-signature-256", ""), withQuery("x", "1")},
	} {
		a, _ := newTestAPI(&fakeService{}, Options{})
		res := a.ServeEvent(context.Background(), apiEvent(RouteGitHubWebhook, opts...))
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s, unsigned: %d %s, want 401", name, res.StatusCode, res.Body)
		}
	}
}

// Without a webhook secret the route is not there, whatever is sent: 404
// (README's configuration table, GITHUB_WEBHOOK_SECRET_REF), not a 400 or
// 413 that shows it exists.
func TestWebhookWithoutSecretAlwaysAnswers404(t *testing.T) {
	for name, opts := range map[string][]evOption{
		"empty body":  {withBody("")},
		"query param": {withQuery("x", "1")},
		"large body":  {withBody(string(make([]byte, 100)))},
	} {
		a := New(&fakeService{}, Options{MaxBodyBytes: 50})
		res := a.ServeEvent(context.Background(), apiEvent(RouteGitHubWebhook, opts...))
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%s, no webhook secret: %d %s, want 404", name, res.StatusCode, res.Body)
		}
	}
}
