package app

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/githubapp"
	"github.com/sandstep/sandstep/internal/githublocal"
)

// After a rotation, the first call refused with the old key may be one
// whose own context ends while it reads the parameter again: a step's
// short budget, a request whose caller went away, a Daytona read the
// service stops because it no longer needs it (overlap's stop). That read
// says nothing about SSM, and the rotated key is still unread; it must
// not count as the minute's reread. Otherwise every call of the instance
// is refused for the next minute (Daytona calls fail 500 and task steps
// fail, App tokens are refused, deliveries answered 401 and lost), though
// the parameter holds the key that would be accepted.
func TestRereadCancelledByItsCallerIsNotTheMinutesRead(t *testing.T) {
	const (
		rotated   = 20 * time.Second
		cancelled = 21 * time.Second // the refused call whose context ends during the read
		next      = 25 * time.Second // the next call, within the minute
	)
	cases := []struct {
		name string
		// setup returns use (true: accepted) and rotate.
		setup func(t *testing.T, clock *atomic.Int64, ssm *ssmFake) (use func(ctx context.Context) bool, rotate func())
	}{
		{"Daytona key", func(t *testing.T, clock *atomic.Int64, ssm *ssmFake) (func(context.Context) bool, func()) {
			const name = "/sandstep/daytona-api-key"
			ssm.put(name, "old-daytona-key")
			day := newDaytonaKeys(t, "old-daytona-key")
			env := gitHubEnv(ssm.URL, "")
			env["DAYTONA_API_URL"] = day.URL + "/api"
			e := rotationEnv(t, env, clock)
			dc, err := e.Daytona(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			use := func(ctx context.Context) bool {
				_, err := dc.ListSandboxes(ctx, daytona.ListSandboxesOptions{})
				return err == nil
			}
			return use, func() { ssm.put(name, "new-daytona-key"); day.set("new-daytona-key") }
		}},
		{"GitHub App key", func(t *testing.T, clock *atomic.Int64, ssm *ssmFake) (func(context.Context) bool, func()) {
			const name = "/sandstep/github/app-key"
			oldKey, oldPub, err := githublocal.GenerateAppKey()
			if err != nil {
				t.Fatal(err)
			}
			newKey, newPub, err := githublocal.GenerateAppKey()
			if err != nil {
				t.Fatal(err)
			}
			ssm.put(name, string(oldKey))
			gh := newAppKeys(t, oldPub)
			env := gitHubEnv(ssm.URL, "")
			env["GITHUB_API_URL"] = gh.URL
			e := rotationEnv(t, env, clock)
			app, err := e.GitHubApp(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			use := func(ctx context.Context) bool {
				_, err := app.OwnToken(ctx, 7, "octo/hello", githubapp.PushAndPullRequest)
				return err == nil
			}
			return use, func() { ssm.put(name, string(newKey)); gh.set(newPub) }
		}},
		{"webhook secret", func(t *testing.T, clock *atomic.Int64, ssm *ssmFake) (func(context.Context) bool, func()) {
			const name = "/sandstep/github/webhook-secret"
			ssm.put(name, "old-webhook-secret")
			e := rotationEnv(t, gitHubEnv(ssm.URL, ""), clock)
			a := api.New(nil, api.Options{MaxBodyBytes: 1 << 20, Logger: e.Logger, GitHub: e.GitHubOptions()})
			signer := "old-webhook-secret"
			use := func(ctx context.Context) bool {
				return a.ServeEvent(ctx, signedDelivery(signer, `{"zen":"x","hook_id":1}`)).StatusCode == http.StatusOK
			}
			return use, func() { ssm.put(name, "new-webhook-secret"); signer = "new-webhook-secret" }
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var clock atomic.Int64
			ssm := fakeSSM(t, map[string]string{})
			use, rotate := tc.setup(t, &clock, ssm)
			if !use(context.Background()) {
				t.Fatal("refused before the rotation")
			}
			clock.Store(int64(rotated))
			rotate()

			// The first refused call's context ends while SSM is slow.
			clock.Store(int64(cancelled))
			ssm.stalled.Store(true)
			// (The webhook keeps a second of it for its answer.)
			ctx, cancel := context.WithTimeout(context.Background(), 1300*time.Millisecond)
			if use(ctx) {
				t.Fatal("accepted with the old key and the parameter unread")
			}
			cancel()

			// SSM answers again; the next call has all the time it needs.
			ssm.stalled.Store(false)
			close(ssm.release)
			clock.Store(int64(next))
			if !use(context.Background()) {
				t.Errorf("refused %s after the rotation, with the rotated value in the parameter: the read its caller cut short %s earlier counted as the minute's reread",
					next-rotated, next-cancelled)
			}
		})
	}
}
