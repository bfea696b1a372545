package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sandstep/sandstep/internal/api"
)

// The webhook's URL is public, and what reaches it unsigned (a scanner's
// POST, a probe, a signature header that is no HMAC-SHA256 at all) cannot
// be a delivery signed with a rotated secret: it must not spend the
// minute's reread of the secret. Otherwise any such request in the minute
// before the operator rotates the secret makes the instance answer
// GitHub's deliveries signed with the new one 401 for the rest of that
// minute, and GitHub sends none of them again.
func TestUnsignedRequestDoesNotHoldBackTheRotatedWebhookSecret(t *testing.T) {
	const (
		name    = "/sandstep/github/webhook-secret"
		junkAt  = time.Hour
		rotated = time.Hour + 10*time.Second
		sentAt  = time.Hour + 20*time.Second
	)
	cases := []struct {
		name      string
		signature string // the junk request's X-Hub-Signature-256; "" sends none
	}{
		{"no signature header", ""},
		{"an empty sha256", "sha256="},
		{"sha1 instead", "sha1=0123456789abcdef0123456789abcdef01234567"},
		{"not hex", "sha256=zz"},
		{"too short", "sha256=0123"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ssm := newRotatingSSM(t, map[string]string{name: "old-webhook-secret"})
			var clock atomic.Int64
			e := rotationEnv(t, gitHubEnv(ssm.URL, ""), &clock)
			a := api.New(nil, api.Options{MaxBodyBytes: 1 << 20, Logger: e.Logger, GitHub: e.GitHubOptions()})
			n := 0
			post := func(signature string) int {
				n++
				body := `{"zen":"x","hook_id":1}`
				var ev events.APIGatewayV2HTTPRequest
				ev.RouteKey = api.RouteGitHubWebhook
				ev.RawPath = "/webhooks/github"
				ev.RequestContext.HTTP.Method = http.MethodPost
				ev.RequestContext.HTTP.Path = "/webhooks/github"
				ev.RequestContext.RequestID = fmt.Sprintf("req-%d", n)
				ev.Headers = map[string]string{"content-type": "application/json", "x-github-event": "ping", "x-github-delivery": fmt.Sprintf("d-%d", n)}
				if signature != "" {
					ev.Headers["x-hub-signature-256"] = signature
				}
				ev.Body = body
				return a.ServeEvent(context.Background(), ev).StatusCode
			}
			signed := func(secret string) string {
				mac := hmac.New(sha256.New, []byte(secret))
				mac.Write([]byte(`{"zen":"x","hook_id":1}`))
				return "sha256=" + hex.EncodeToString(mac.Sum(nil))
			}
			if got := post(signed("old-webhook-secret")); got != http.StatusOK {
				t.Fatalf("GitHub's delivery before the rotation answered %d", got)
			}
			clock.Store(int64(junkAt))
			if got := post(tc.signature); got != http.StatusUnauthorized {
				t.Fatalf("the unsigned request answered %d, want 401", got)
			}
			clock.Store(int64(rotated))
			ssm.put(name, "new-webhook-secret")
			clock.Store(int64(sentAt))
			if got := post(signed("new-webhook-secret")); got != http.StatusOK {
				t.Errorf("GitHub's delivery signed with the rotated secret answered %d, %s after the rotation: an unsigned request %s before it spent the reread",
					got, sentAt-rotated, rotated-junkAt)
			}
		})
	}
}
