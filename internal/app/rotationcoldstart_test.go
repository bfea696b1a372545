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

// An instance that started shortly before the operator rotates a secret
// has read it once, at its first use, and never been refused. README and
// the runbook promise that it reads the parameter again at the first
// refusal (the minute bounds how often a refused instance reads, so
// forged deliveries cost little): its cold-start read must not hold that
// first reread back. Otherwise, for the rest of its first minute, GitHub's
// deliveries signed with the rotated secret are answered 401 and lost
// (GitHub sends none again), and every Daytona call or App token fails
// (500s, a running task's step failed, a clone or push lost) once the old
// key is revoked, as the runbook says to do right after writing the new
// one.
func TestRotationSoonAfterColdStart(t *testing.T) {
	const (
		firstUse = 0
		rotated  = 20 * time.Second // both steps, the old one revoked
		usedNew  = 30 * time.Second // still within the first minute
	)
	cases := []struct {
		name string
		// setup returns use (true: accepted), rotate, and the SSM.
		setup func(t *testing.T, clock *atomic.Int64) (use func() bool, rotate func(), ssm *ssmFake)
	}{
		{"webhook secret", func(t *testing.T, clock *atomic.Int64) (func() bool, func(), *ssmFake) {
			const name = "/sandstep/github/webhook-secret"
			ssm := fakeSSM(t, map[string]string{name: "old-webhook-secret"})
			e := rotationEnv(t, gitHubEnv(ssm.URL, ""), clock)
			a := api.New(nil, api.Options{MaxBodyBytes: 1 << 20, Logger: e.Logger, GitHub: e.GitHubOptions()})
			signer := "old-webhook-secret"
			use := func() bool {
				return a.ServeEvent(context.Background(), signedDelivery(signer, `{"zen":"x","hook_id":1}`)).StatusCode == http.StatusOK
			}
			return use, func() { ssm.put(name, "new-webhook-secret"); signer = "new-webhook-secret" }, ssm
		}},
		{"Daytona key", func(t *testing.T, clock *atomic.Int64) (func() bool, func(), *ssmFake) {
			const name = "/sandstep/daytona-api-key"
			ssm := fakeSSM(t, map[string]string{name: "old-daytona-key"})
			day := newDaytonaKeys(t, "old-daytona-key")
			env := gitHubEnv(ssm.URL, "")
			env["DAYTONA_API_URL"] = day.URL + "/api"
			e := rotationEnv(t, env, clock)
			dc, err := e.Daytona(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			use := func() bool {
				_, err := dc.ListSandboxes(context.Background(), daytona.ListSandboxesOptions{})
				return err == nil
			}
			return use, func() { ssm.put(name, "new-daytona-key"); day.set("new-daytona-key") }, ssm
		}},
		{"GitHub App key", func(t *testing.T, clock *atomic.Int64) (func() bool, func(), *ssmFake) {
			const name = "/sandstep/github/app-key"
			oldKey, oldPub, err := githublocal.GenerateAppKey()
			if err != nil {
				t.Fatal(err)
			}
			newKey, newPub, err := githublocal.GenerateAppKey()
			if err != nil {
				t.Fatal(err)
			}
			ssm := fakeSSM(t, map[string]string{name: string(oldKey)})
			gh := newAppKeys(t, oldPub)
			env := gitHubEnv(ssm.URL, "")
			env["GITHUB_API_URL"] = gh.URL
			e := rotationEnv(t, env, clock)
			var app *githubapp.Client
			use := func() bool {
				if app == nil {
					if app, err = e.GitHubApp(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
				_, err := app.OwnToken(context.Background(), 7, "octo/hello", githubapp.PushAndPullRequest)
				return err == nil
			}
			return use, func() { ssm.put(name, string(newKey)); gh.set(newPub) }, ssm
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var clock atomic.Int64
			use, rotate, ssm := tc.setup(t, &clock)
			clock.Store(int64(firstUse))
			if !use() {
				t.Fatal("refused before the rotation")
			}
			clock.Store(int64(rotated))
			rotate()
			clock.Store(int64(usedNew))
			n := ssm.reads.Load()
			if !use() {
				t.Errorf("refused %s after the rotation, %s after the instance's first use: the parameter was not read again", usedNew-rotated, usedNew-firstUse)
			}
			if got := ssm.reads.Load() - n; got > 1 {
				t.Errorf("%d reads of SSM, want at most 1", got)
			}
		})
	}
}

// rotationEnv is an Env of env whose clock is clock's offset from now.
func rotationEnv(t *testing.T, env map[string]string, clock *atomic.Int64) *Env {
	t.Helper()
	e, err := NewEnv(Options{Getenv: func(k string) string { return env[k] }, LogWriter: &syncBuffer{}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	e.now = func() time.Time { return start.Add(time.Duration(clock.Load())) }
	return e
}
