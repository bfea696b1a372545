package githubapp

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// A mint GitHub refuses while another call of the client is reading the
// App's key again is held no longer than its own context allows: the
// client adds no wait of its own around Config.RereadKey (which bounds a
// wait for another's read by the caller's context). The other read is
// bounded by the other call's context, which may be far longer (a delivery's
// permission check has GitHub's 10 s; a task step's push its own budget).
func TestRefusedJWTWaitsForAnothersRereadNoLongerThanItsContext(t *testing.T) {
	cases := []struct {
		name   string
		budget time.Duration // the second call's context
		hold   time.Duration // how long the first call's reread takes
	}{
		{"a 200 ms mint behind a 3 s read", 200 * time.Millisecond, 3 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.fault = func(w http.ResponseWriter, _ *http.Request) bool {
				ghError(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
				return true
			}
			reading := make(chan struct{})
			var once sync.Once
			slow := func(ctx context.Context) ([]byte, error) {
				once.Do(func() { close(reading) })
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(tc.hold):
					return nil, nil
				}
			}
			pemKey, _ := appKey()
			c, err := New(Config{BaseURL: f.srv.URL, AppID: testAppID, PrivateKey: pemKey, HTTPClient: f.srv.Client(), RereadKey: slow})
			if err != nil {
				t.Fatal(err)
			}
			first := make(chan struct{})
			go func() {
				defer close(first)
				_, _ = c.OwnToken(context.Background(), testInstallation, testRepo, ReadContents)
			}()
			<-reading
			ctx, cancel := context.WithTimeout(context.Background(), tc.budget)
			defer cancel()
			start := time.Now()
			_, err = c.OwnToken(ctx, testInstallation, "octo/other", ReadContents)
			took := time.Since(start)
			if err == nil {
				t.Fatal("a token minted with a JWT GitHub refuses")
			}
			if took > tc.budget+time.Second {
				t.Errorf("the mint with %s took %s: held past its deadline behind another call's reread of the key", tc.budget, took.Round(time.Millisecond))
			}
			<-first
		})
	}
}
