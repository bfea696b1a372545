package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// FuzzVerifyAcceptsExactlyTheRightSignature: a signature is accepted exactly when it is "sha256="
// and the body's HMAC in hex (either case); Parse never panics and a
// refusal names the body.
func FuzzVerifyAcceptsExactlyTheRightSignature(f *testing.F) {
	f.Add([]byte("k3y"), []byte(`{"action":"labeled"}`), "sha256=00", "issues")
	f.Add([]byte("k3y"), []byte(`{"action":"created","comment":{"body":"/sandstep cancel"}}`), "", "issue_comment")
	f.Add([]byte("k"), []byte(`[]`), "sha256=", "ping")
	f.Fuzz(func(t *testing.T, secret, body []byte, sig, event string) {
		if len(secret) == 0 {
			return
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		want := hex.EncodeToString(mac.Sum(nil))
		err := Verify(secret, body, sig)
		good := strings.HasPrefix(sig, "sha256=") && strings.EqualFold(sig[len("sha256="):], want)
		if (err == nil) != good {
			t.Fatalf("Verify(%q) = %v, signature good: %v", sig, err, good)
		}
		if err := Verify(secret, body, "sha256="+want); err != nil {
			t.Fatalf("the right signature refused: %v", err)
		}
		ev, err := Parse(event, body, Triggers{Label: "sandstep", Command: "/sandstep"})
		if err == nil && ev == nil {
			t.Fatal("no event and no error")
		}
	})
}
