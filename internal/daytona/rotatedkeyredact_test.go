package daytona

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// A call in flight with the old key when a call beside it rotates the
// client's key (its 401, the key read again) ends in an error whose body
// echoes the credentials it was sent with (the proxy of TestSecretsNeverLeak).
// That error is built after the rotation: it must still redact the key the
// call sent, not only the key the client holds by then.
func TestRotatedKeyRedactedFromCallInFlight(t *testing.T) {
	const rotated = "dtn_ROTATED_00112233445566778899aabbccddeeff"
	cases := []struct {
		name   string
		status int // the answer to the call in flight
	}{
		{"a 400 echoing the key", http.StatusBadRequest},
		{"a 500 echoing the key", http.StatusInternalServerError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			arrived, release := make(chan struct{}), make(chan struct{})
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				auth := r.Header.Get("Authorization")
				switch {
				case strings.HasSuffix(r.URL.Path, "/sb-slow"):
					close(arrived)
					<-release
					writeJSON(w, tc.status, map[string]any{"statusCode": tc.status, "message": "auth=" + auth})
				case auth != "Bearer "+rotated:
					refuseKey(w)
				default:
					writeJSON(w, 200, sandboxJSON("sb-other", "n", StateStarted, ""))
				}
			})
			c := newClient(t, f.URL, func(cfg *Config) {
				cfg.RereadKey = func(context.Context) (string, error) { return rotated, nil }
			})
			slow := make(chan error, 1)
			go func() {
				_, err := c.GetSandbox(context.Background(), "sb-slow")
				slow <- err
			}()
			<-arrived
			if _, err := c.GetSandbox(context.Background(), "sb-other"); err != nil {
				t.Fatalf("the call beside it, rekeyed: %v", err)
			}
			close(release)
			err := <-slow
			if err == nil {
				t.Fatal("the call in flight succeeded")
			}
			shown := fmt.Sprintf("%v | %+v | %#v", err, err, err)
			if w := leaks(shown, testKey); w != "" {
				t.Errorf("the error of the call sent with the old key shows it (%q): %s", w, shown)
			}
		})
	}
}
