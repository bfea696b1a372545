package githubapp

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A pause for a new token's replication that cannot end before the
// caller's deadline asks nothing again: it only spends the caller's last
// time (the github function's 9 s, a comment's 8 s) and then answers the
// refusal it had at its start, leaving nothing for what follows the call
// (the delivery's idempotency record, the task's record). The refusal is
// answered at once instead, as withGitHubWaits does with a wait that
// does not fit.
func TestTokenLagPauseBeyondDeadline(t *testing.T) {
	for what, call := range newTokenCalls() {
		t.Run(what+", 900 ms left", func(t *testing.T) {
			f := newFake(t)
			f.fault = func(w http.ResponseWriter, r *http.Request) bool {
				if strings.HasPrefix(r.URL.Path, "/repos/") {
					ghError(w, http.StatusUnauthorized, "Bad credentials")
					return true
				}
				return false
			}
			c := f.client(t)
			c.replicationWait = time.Second // as New sets it
			ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
			defer cancel()
			err := call(ctx, c)
			if ctx.Err() != nil {
				t.Fatalf("the call returned (%v) only once its context had ended; want the refusal answered while time was left", err)
			}
			if sandstep.ErrorCode(err) != sandstep.EUNAUTHENTICATED {
				t.Fatalf("%v (%s); want GitHub's refusal of the token", err, sandstep.ErrorCode(err))
			}
		})
	}
}
