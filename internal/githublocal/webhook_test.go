package githublocal

import (
	"crypto/hmac"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
)

// GitHub's published example of X-Hub-Signature-256 ("Validating webhook
// deliveries").
func TestSignWebhookMatchesGitHubsExample(t *testing.T) {
	t.Parallel()
	const want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got := SignWebhook("It's a Secret to Everybody", []byte("Hello, World!")); got != want {
		t.Errorf("SignWebhook = %s, want %s", got, want)
	}
}

func TestSendWebhook(t *testing.T) {
	t.Parallel()
	type received struct {
		header http.Header
		body   []byte
	}
	got := make(chan received, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- received{r.Header.Clone(), b}
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "queued")
	}))
	defer srv.Close()
	payload := []byte(`{"action":"labeled","issue":{"number":1}}`)

	cases := []struct {
		name     string
		hook     Webhook
		signed   bool
		delivery string // "" means a new UUID
	}{
		{"signed", Webhook{Event: "issues", Payload: payload, Secret: "s3cret"}, true, ""},
		{"a redelivery keeps its id", Webhook{Event: "issues", Payload: payload, Secret: "s3cret", Delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958"}, true, "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
		{"unsigned", Webhook{Event: "ping", Payload: []byte(`{"zen":"Keep it logically awesome."}`)}, false, ""},
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := SendWebhook(ctx(), nil, srv.URL+"/webhooks/github", c.hook)
			must(t, err)
			r := <-got
			if res.StatusCode != http.StatusAccepted || string(res.Body) != "queued" {
				t.Errorf("answer %d %q", res.StatusCode, res.Body)
			}
			if string(r.body) != string(c.hook.Payload) {
				t.Errorf("body %s, want the payload as is", r.body)
			}
			if r.header.Get("X-GitHub-Event") != c.hook.Event || r.header.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", r.header)
			}
			d := r.header.Get("X-GitHub-Delivery")
			if d != res.Delivery || (c.delivery != "" && d != c.delivery) || (c.delivery == "" && !uuid.MatchString(d)) {
				t.Errorf("delivery %q (answer says %q), want %q or a UUID", d, res.Delivery, c.delivery)
			}
			sig := r.header.Get("X-Hub-Signature-256")
			if !c.signed {
				if sig != "" || r.header.Get("X-Hub-Signature") != "" {
					t.Errorf("an unsigned delivery carries %q", sig)
				}
				return
			}
			// The receiver's check: HMAC-SHA256 of the raw body.
			if !hmac.Equal([]byte(sig), []byte(SignWebhook(c.hook.Secret, r.body))) || sig == SignWebhook("other", r.body) {
				t.Errorf("X-Hub-Signature-256 %q does not verify", sig)
			}
			if r.header.Get("X-Hub-Signature") != signSHA1(c.hook.Secret, r.body) {
				t.Errorf("X-Hub-Signature %q", r.header.Get("X-Hub-Signature"))
			}
		})
	}

	t.Run("an unreachable receiver is an error naming the delivery", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		if _, err := SendWebhook(ctx(), nil, dead.URL, Webhook{Event: "ping", Delivery: "d-1"}); err == nil || !regexp.MustCompile(`d-1`).MatchString(err.Error()) {
			t.Errorf("err = %v", err)
		}
	})
}
