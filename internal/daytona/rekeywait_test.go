package daytona

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// A call Daytona refuses while another call of the client is reading the
// key again is held no longer than its own context allows: the client
// adds no wait of its own around Config.RereadKey (which bounds a wait
// for another's read by the caller's context). The other read is bounded
// by the other call's context, which may be far longer (a step's whole
// invocation beside a clean-up's 10 s budget that keeps a minute for the
// release). Held past its deadline behind a slow SSM, the short call eats
// the time its caller kept for what follows.
func TestRefusedCallWaitsForAnothersRereadNoLongerThanItsContext(t *testing.T) {
	cases := []struct {
		name   string
		budget time.Duration // the second call's context
		hold   time.Duration // how long the first call's reread takes
	}{
		{"a 200 ms call behind a 3 s read", 200 * time.Millisecond, 3 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { refuseKey(w) })
			reading := make(chan struct{})
			var once sync.Once
			slow := func(ctx context.Context) (string, error) {
				once.Do(func() { close(reading) })
				select {
				case <-ctx.Done():
					return "", ctx.Err()
				case <-time.After(tc.hold):
					return "", nil
				}
			}
			c := newClient(t, f.URL, func(cfg *Config) { cfg.RereadKey = slow })
			first := make(chan struct{})
			go func() {
				defer close(first)
				_, _ = c.GetSandbox(context.Background(), "sb-a")
			}()
			<-reading
			ctx, cancel := context.WithTimeout(context.Background(), tc.budget)
			defer cancel()
			start := time.Now()
			_, err := c.GetSandbox(ctx, "sb-b")
			took := time.Since(start)
			if err == nil {
				t.Fatal("accepted with a key Daytona refuses")
			}
			if took > tc.budget+time.Second {
				t.Errorf("the call with %s took %s: held past its deadline behind another call's reread of the key", tc.budget, took.Round(time.Millisecond))
			}
			<-first
		})
	}
}
