package app

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// The local stack serves deliveries concurrently. A delivery whose
// signature does not verify reads the secret again; one whose signature
// verifies with the secret held must not wait for that read: behind a
// slow SSM it would pass GitHub's 10 s and be lost.
func TestVerifiedDeliveryIsNotHeldBehindAnothersReread(t *testing.T) {
	const name = "/sandstep/github/webhook-secret"
	cases := []struct {
		name   string
		signer string // the delivery that rereads
	}{
		{"behind a delivery signed with another secret", "forged"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ssm := fakeSSM(t, map[string]string{name: "the-secret"})
			var clock atomic.Int64
			a := webhookAPI(t, ssm, &clock)
			post := func(ctx context.Context, secret string) int {
				return a.ServeEvent(ctx, signedDelivery(secret, `{"zen":"x","hook_id":1}`)).StatusCode
			}
			if got := post(context.Background(), "the-secret"); got != http.StatusOK {
				t.Fatalf("the first delivery answered %d", got)
			}
			ssm.stalled.Store(true)
			rereading := make(chan int)
			go func() { rereading <- post(context.Background(), tc.signer) }()
			<-ssm.stalling
			verified := make(chan int, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				verified <- post(ctx, "the-secret")
			}()
			select {
			case got := <-verified:
				if got != http.StatusOK {
					t.Errorf("the verified delivery answered %d, want 200", got)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("the verified delivery was held behind another delivery's reread of the secret")
			}
			close(ssm.release)
			if got := <-rereading; got != http.StatusUnauthorized {
				t.Errorf("the delivery signed with %q answered %d, want 401", tc.signer, got)
			}
		})
	}
}

// A reread waits for another's (one at a time) no longer than its own
// context: the read it waits for is bounded by the other caller's
// context, which may be far longer (a step's invocation beside a
// clean-up's short budget, a delivery's 10 s).
func TestRereadWaitsForAnothersNoLongerThanItsContext(t *testing.T) {
	cases := []struct {
		name   string
		budget time.Duration // the waiting caller's context
	}{
		{"a 200 ms caller behind a stalled read", 200 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ssm := fakeSSM(t, map[string]string{"/sandstep/daytona-api-key": "the-key"})
			var clock atomic.Int64
			e := rotationEnv(t, gitHubEnv(ssm.URL, ""), &clock)
			r := newRereader(e, "DAYTONA_API_KEY_REF", e.Config.DaytonaAPIKeyRef, "not read again")
			ssm.stalled.Store(true)
			first := make(chan struct{})
			go func() {
				defer close(first)
				_, _ = r.reread(context.Background())
			}()
			<-ssm.stalling
			ctx, cancel := context.WithTimeout(context.Background(), tc.budget)
			defer cancel()
			start := time.Now()
			_, err := r.reread(ctx)
			took := time.Since(start)
			if err == nil {
				t.Error("the waiting caller read the key while the other's read stalled")
			}
			if took > tc.budget+time.Second {
				t.Errorf("the caller with %s took %s: held past its deadline behind another's reread", tc.budget, took.Round(time.Millisecond))
			}
			close(ssm.release)
			<-first
		})
	}
}

// Within the minute, a reread answers what the last read found, without
// reading SSM: a call refused beside the one that read (its key sent
// before that read) gets the rotated value and goes again, rather than
// failing while the instance holds a value that would be accepted.
func TestRereadWithinTheMinuteAnswersTheLastRead(t *testing.T) {
	const name = "/sandstep/daytona-api-key"
	cases := []struct {
		name  string
		after time.Duration // since the first reread
		want  string
		reads int32 // of SSM by the second reread
	}{
		{"a moment later: the value read", time.Second, "rotated-key", 0},
		{"a minute later: read again", secretRetry, "rotated-again", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ssm := fakeSSM(t, map[string]string{name: "rotated-key"})
			var clock atomic.Int64
			e := rotationEnv(t, gitHubEnv(ssm.URL, ""), &clock)
			r := newRereader(e, "DAYTONA_API_KEY_REF", e.Config.DaytonaAPIKeyRef, "not read again")
			if v, err := r.reread(context.Background()); v != "rotated-key" || err != nil {
				t.Fatalf("the first reread = %q, %v", v, err)
			}
			ssm.put(name, "rotated-again")
			clock.Store(int64(tc.after))
			n := ssm.reads.Load()
			v, err := r.reread(context.Background())
			if v != tc.want || err != nil {
				t.Errorf("the second reread = %q, %v, want %q", v, err, tc.want)
			}
			if got := ssm.reads.Load() - n; got != tc.reads {
				t.Errorf("%d reads of SSM, want %d", got, tc.reads)
			}
		})
	}
}
