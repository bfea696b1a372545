package githubapp

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// Calls in flight on one client when the operator deletes the App's old
// key at GitHub all meet GitHub's 401. One of them reads the rotated key;
// the others, refused for a JWT of the key the client no longer holds,
// must sign again with the key it holds now rather than fail (their
// reread answers the key the other read a moment ago, now the key held). A failed
// mint is a permission check, a clone or a push lost.
func TestConcurrentRefusedJWTsUseTheKeyReadByAnother(t *testing.T) {
	oldPEM, old := otherKey(t)
	newPEM, _ := appKey() // the fake accepts only this one now
	cases := []struct {
		name  string
		calls int
	}{
		{"two calls", 2},
		{"six calls", 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			var arrived sync.WaitGroup
			arrived.Add(tc.calls)
			f.fault = func(w http.ResponseWriter, r *http.Request) bool {
				jwt, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
				parts := strings.Split(jwt, ".")
				if len(parts) != 3 {
					return false
				}
				sig, err := base64.RawURLEncoding.DecodeString(parts[2])
				sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
				if err != nil || rsa.VerifyPKCS1v15(&old.PublicKey, crypto.SHA256, sum[:], sig) != nil {
					return false
				}
				// A JWT of the deleted key: every call so signed is
				// refused together.
				arrived.Done()
				arrived.Wait()
				ghError(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
				return true
			}
			// Read once; after, what that read found (read a moment ago).
			reread := func(context.Context) ([]byte, error) { return newPEM, nil }
			c, err := New(Config{BaseURL: f.srv.URL, AppID: testAppID, PrivateKey: oldPEM, HTTPClient: f.srv.Client(), RereadKey: reread})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, tc.calls)
			for i := range tc.calls {
				wg.Go(func() {
					_, errs[i] = c.OwnToken(context.Background(), testInstallation, testRepo, ReadContents)
				})
			}
			wg.Wait()
			failed := 0
			for _, err := range errs {
				if err != nil {
					failed++
					t.Logf("refused: %v", err)
				}
			}
			if failed > 0 {
				t.Errorf("%d of %d token mints failed with the client holding the key GitHub accepts", failed, tc.calls)
			}
		})
	}
}
