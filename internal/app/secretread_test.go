package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sandstep/sandstep/internal/api"
)

// busySSM answers every GetParameter with a retryable AWS error: SSM
// throttled (a burst of cold starts) or failing.
func busySSM(t testing.TB, status int, code string) string {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":%q,"message":"Rate exceeded"}`, code)
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

// A webhook secret SSM cannot give now (throttled, failing) is answered
// 503 so GitHub's delivery may be sent again; like the 500 of one that
// cannot be read at all (TestHuntUnreadableWebhookSecretIsAFault), the
// answer to an unauthenticated caller must not name the deployment's
// parameter: its name and place are the deployment's, logged for the
// operator.
func TestTransientWebhookSecretNamesNoParameter(t *testing.T) {
	cases := []struct {
		name   string
		status int
		code   string
	}{
		{"throttled", http.StatusBadRequest, "ThrottlingException"},
		{"SSM failing", http.StatusInternalServerError, "InternalServerError"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := gitHubEnv(busySSM(t, tc.status, tc.code), "")
			logs := &syncBuffer{}
			e, err := NewEnv(Options{Getenv: func(k string) string { return env[k] }, LogWriter: logs})
			if err != nil {
				t.Fatal(err)
			}
			a := api.New(nil, api.Options{MaxBodyBytes: 1 << 20, Logger: e.Logger, GitHub: e.GitHubOptions()})
			body := `{"zen":"x","hook_id":1}`
			mac := hmac.New(sha256.New, []byte("whatever"))
			mac.Write([]byte(body))
			var ev events.APIGatewayV2HTTPRequest
			ev.RouteKey = api.RouteGitHubWebhook
			ev.RawPath = "/webhooks/github"
			ev.RequestContext.HTTP.Method = http.MethodPost
			ev.RequestContext.HTTP.Path = "/webhooks/github"
			ev.RequestContext.RequestID = "req-1"
			ev.Headers = map[string]string{"content-type": "application/json", "x-hub-signature-256": "sha256=" + hex.EncodeToString(mac.Sum(nil)),
				"x-github-event": "ping", "x-github-delivery": "d-1"}
			ev.Body = body
			res := a.ServeEvent(context.Background(), ev)
			if res.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("answered %d %s, want 503", res.StatusCode, res.Body)
			}
			for _, leak := range []string{"webhook-secret", "/sandstep/", "SSM parameter"} {
				if strings.Contains(res.Body, leak) {
					t.Errorf("the answer to an unauthenticated caller names the deployment's parameter (%q): %s", leak, res.Body)
				}
			}
			if !strings.Contains(logs.String(), "webhook-secret") {
				t.Errorf("no log line names the parameter for the operator:\n%s", logs.String())
			}
		})
	}
}
