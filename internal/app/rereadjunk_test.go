package app

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
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
			ssm := fakeSSM(t, map[string]string{name: "old-webhook-secret"})
			var clock atomic.Int64
			a := webhookAPI(t, ssm, &clock)
			const body = `{"zen":"x","hook_id":1}`
			signed := func(secret string) int {
				return a.ServeEvent(context.Background(), signedDelivery(secret, body)).StatusCode
			}
			// junk is a delivery with the junk request's header instead.
			junk := func(signature string) int {
				ev := signedDelivery("", body)
				delete(ev.Headers, "x-hub-signature-256")
				if signature != "" {
					ev.Headers["x-hub-signature-256"] = signature
				}
				return a.ServeEvent(context.Background(), ev).StatusCode
			}
			if got := signed("old-webhook-secret"); got != http.StatusOK {
				t.Fatalf("GitHub's delivery before the rotation answered %d", got)
			}
			clock.Store(int64(junkAt))
			if got := junk(tc.signature); got != http.StatusUnauthorized {
				t.Fatalf("the unsigned request answered %d, want 401", got)
			}
			clock.Store(int64(rotated))
			ssm.put(name, "new-webhook-secret")
			clock.Store(int64(sentAt))
			if got := signed("new-webhook-secret"); got != http.StatusOK {
				t.Errorf("GitHub's delivery signed with the rotated secret answered %d, %s after the rotation: an unsigned request %s before it spent the reread",
					got, sentAt-rotated, rotated-junkAt)
			}
		})
	}
}
