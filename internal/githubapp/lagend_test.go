package githubapp

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A call GitHub refuses while its new token has not settled is refused
// for the lag, wherever in the lag it came: refused 4.5 s after the
// mint's answer, it is sent again after the 1 s pause, when the token has
// settled, rather than answering the refusal as GitHub's word (a pull
// request after hours of work failed for good). A refusal after the
// token settled is GitHub's word.
func TestRefusalInTheLagsLastSecond(t *testing.T) {
	tests := []struct {
		name     string
		age      time.Duration // the token's age when GitHub refuses it
		wantSent int           // the calls on the token
	}{
		{"refused before the token settled", 4500 * time.Millisecond, 2},
		{"refused after the token settled", 5500 * time.Millisecond, 1},
	}
	for what, call := range newTokenCalls() {
		for _, tt := range tests {
			t.Run(what+", "+tt.name, func(t *testing.T) {
				clk := &clock{t: time.Now().Truncate(time.Second)}
				f := newFake(t)
				f.now = clk.Now
				var mu sync.Mutex
				sent := 0
				f.fault = func(w http.ResponseWriter, r *http.Request) bool {
					if !strings.HasPrefix(r.URL.Path, "/repos/") || r.Header.Get("Authorization") == "" {
						return false
					}
					mu.Lock()
					defer mu.Unlock()
					sent++
					if sent > 1 {
						return false
					}
					clk.Add(tt.age) // the first use comes late in the lag
					ghError(w, http.StatusUnauthorized, "Bad credentials")
					return true
				}
				c := f.client(t)
				c.replicationWait = time.Second // as New sets it
				err := call(context.Background(), c)
				mu.Lock()
				got := sent
				mu.Unlock()
				if got != tt.wantSent {
					t.Errorf("%d calls on the token (%v, %s), want %d", got, err, sandstep.ErrorCode(err), tt.wantSent)
				}
			})
		}
	}
}
