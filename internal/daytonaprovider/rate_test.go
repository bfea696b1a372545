package daytonaprovider

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// rateInstances are n independent instances of the functions — each with
// its own store client and Daytona client, with the client's default
// retries — on one table and srv, sharing a create rate of limit per
// window. The first instance's spends of the budget are told on spent.
func rateInstances(t *testing.T, srv *daytonalocal.Server, n, limit int, window time.Duration) (svcs []*service.Service, spent <-chan struct{}) {
	t.Helper()
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	stores := storetest.Instances(t, n, store.Options{DefaultQuota: 100, IdempotencyTTL: time.Hour, CreateRate: limit, CreateWindow: window})
	spends := make(chan struct{}, 64)
	for i, st := range stores {
		c, err := daytona.New(daytona.Config{APIKey: "k", APIURL: hs.URL + "/api", PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		var quota service.Quota = st
		if i == 0 {
			quota = &storetest.SpendWatch{Store: st, Spent: spends}
		}
		svc, err := service.New(service.Deps{Provider: New(c, Options{}), Sandboxes: st, Quota: quota, Idempotency: st, Audit: st},
			service.Options{Deployment: func(context.Context) (string, error) { return "test-deployment", nil }, Limits: serviceLimits()})
		if err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, svc)
	}
	return svcs, spends
}

// burst sends n creates at once, spread over svcs, each with a minute
// (time to wait for the rate, as a task's sandbox has), and returns their
// errors.
func burst(svcs []*service.Service, n int) []error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, errs[i] = svcs[i%len(svcs)].CreateSandbox(ctx, service.Call{UserID: fmt.Sprint("user-", i), RequestID: fmt.Sprint("r", i)}, service.CreateSandboxInput{})
		})
	}
	wg.Wait()
	return errs
}

// Three independent instances of the functions on one table and one
// Daytona that enforces its create rate: a burst of twice the rate is
// served at the rate, and Daytona never has to refuse one.
func TestCreateRateAcrossInstancesAgainstDaytona(t *testing.T) {
	const limit, n, instances = 4, 8, 3
	window := 1500 * time.Millisecond
	srv, err := daytonalocal.New(daytonalocal.Options{Root: t.TempDir(), CreateRate: daytonalocal.RateLimit{Limit: limit, Window: window}})
	if err != nil {
		t.Fatal(err)
	}
	svcs, _ := rateInstances(t, srv, instances, limit, window)
	for _, err := range burst(svcs, n) {
		if err != nil {
			t.Errorf("create: %v", err)
		}
	}
	if n := srv.RateLimited(); n != 0 {
		t.Errorf("Daytona refused %d creates for its rate, want none", n)
	}
	if got := srv.CreateRequests(); got != n {
		t.Errorf("Daytona was asked %d times for %d sandboxes (retries ≤ 1.1 × requests)", got, n)
	}
}

// Daytona's own 429 on a create, through the real client: the client
// does not wait it out, so the service spends the shared budget at once
// and another instance is held back instead of meeting the same 429; the
// refused create is asked again after Daytona's wait, once.
func TestDaytona429HoldsOtherInstancesBack(t *testing.T) {
	srv, err := daytonalocal.New(daytonalocal.Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	fault, err := srv.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultRateLimit, Match: daytonalocal.Match{Operation: "createSandbox"},
		Times: 1, RetryAfter: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	svcs, spent := rateInstances(t, srv, 2, 100, time.Second)
	first := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := svcs[0].CreateSandbox(ctx, service.Call{UserID: "alice", RequestID: "r1"}, service.CreateSandboxInput{})
		first <- err
	}()
	select {
	case <-spent:
	case err := <-first:
		t.Fatalf("the create ended (%v) without spending the budget", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // too little to wait
	defer cancel()
	_, err = svcs[1].CreateSandbox(ctx, service.Call{UserID: "bob", RequestID: "r2"}, service.CreateSandboxInput{})
	if !errors.Is(err, sandstep.ErrCreateRate) || sandstep.ErrorRetryAfter(err) <= 0 {
		t.Errorf("another instance's create during Daytona's wait: %v, want ErrCreateRate with a Retry-After", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("the refused create, asked again after the wait: %v", err)
	}
	if got, refused := srv.CreateRequests(), srv.FaultHits(fault); got != 2 || refused != 1 {
		t.Errorf("Daytona was asked %d times and refused %d, want 2 and 1", got, refused)
	}
}

// Daytona's windows start at a request of their own, not with the
// store's: here half a window later. A burst that spends Daytona's window
// then meets a store window with room while Daytona's has none; the
// create's answer that says nothing is left (X-RateLimit-Remaining 0)
// holds every instance back until Daytona's window ends, so none of them
// meets its 429. (Before that answer was read, one window's budget was
// refused and asked again: 1.2× the creates.)
func TestCreateRateAgainstMisalignedDaytona(t *testing.T) {
	const limit, n, instances = 4, 16, 3
	// Windows of 4 s leave the spent answer 1.95 s to arrive: on a busy
	// 2-core machine under the race detector, 0.95 s (2 s windows) was
	// not always enough, and the next store window opened first.
	window := 4 * time.Second
	srv, err := daytonalocal.New(daytonalocal.Options{Root: t.TempDir(), CreateRate: daytonalocal.RateLimit{Limit: limit, Window: window},
		Clock: func() time.Time { return time.Now().Add(window / 2) }})
	if err != nil {
		t.Fatal(err)
	}
	svcs, _ := rateInstances(t, srv, instances, limit, window)
	// Start just after one of Daytona's windows began, half into a store
	// window: the spent answer has the rest of it (1.95 s) to hold the
	// next store window back before it opens.
	now := time.Now()
	time.Sleep((window + window/2 + 50*time.Millisecond - now.Sub(now.Truncate(window))) % window)
	start := time.Now()
	for _, err := range burst(svcs, n) {
		if err != nil {
			t.Errorf("create: %v", err)
		}
	}
	refused, asked := srv.RateLimited(), srv.CreateRequests()
	t.Logf("%d sandboxes in %v: Daytona asked %d times, refused %d", n, time.Since(start).Round(time.Millisecond), asked, refused)
	if refused != 0 || asked != n {
		t.Errorf("Daytona was asked %d times for %d sandboxes and refused %d, want each asked once and none refused", asked, n, refused)
	}
}

// A 429 is transient and names Daytona's wait, a second when it names
// none: a create's is not waited out by the client.
func TestRateLimitNamesAWait(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter time.Duration
		want       time.Duration
	}{
		{name: "Daytona's wait", retryAfter: 7 * time.Second, want: 7 * time.Second},
		{name: "no wait named: a second", retryAfter: 0, want: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classify("create sandbox", &daytona.RateLimitError{APIError: &daytona.APIError{StatusCode: 429, RetryAfter: tt.retryAfter}})
			if sandstep.ErrorCode(err) != sandstep.ETRANSIENT || sandstep.ErrorRetryAfter(err) != tt.want {
				t.Errorf("classified %v (code %s, retry after %v), want transient naming %v", err, sandstep.ErrorCode(err), sandstep.ErrorRetryAfter(err), tt.want)
			}
		})
	}
}

// The create that spends Daytona's window holds the other instances back
// from the moment its answer is in, whatever then becomes of its sandbox:
// here one takes 2 s to start (an image's build takes minutes), or fails
// to. Another instance's create half a second after the answer is refused
// by the store for the rate, not sent to Daytona to meet its 429.
func TestSpentAnswerHoldsOthersBackFromTheAnswer(t *testing.T) {
	tests := []struct {
		name  string
		fault *daytonalocal.Fault
	}{
		{name: "while the sandbox starts"},
		{name: "when it fails to start", fault: &daytonalocal.Fault{Kind: daytonalocal.FaultCreateError, Match: daytonalocal.Match{Operation: "createSandbox"}, Times: 1, Message: "boom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const window = 40 * time.Second
			now := time.Now()
			ahead := window - now.Sub(now.Truncate(window)) // Daytona's window begins now
			srv, err := daytonalocal.New(daytonalocal.Options{Root: t.TempDir(), StartDelay: 2 * time.Second,
				Clock: func() time.Time { return time.Now().Add(ahead) }, CreateRate: daytonalocal.RateLimit{Limit: 1, Window: window}})
			if err != nil {
				t.Fatal(err)
			}
			if tt.fault != nil {
				if _, err := srv.AddFault(*tt.fault); err != nil {
					t.Fatal(err)
				}
			}
			svcs, _ := rateInstances(t, srv, 2, 100, window)
			first := make(chan error, 1)
			go func() {
				_, err := svcs[0].CreateSandbox(context.Background(), service.Call{UserID: "alice", RequestID: "r1"}, service.CreateSandboxInput{})
				first <- err
			}()
			for srv.CreateRequests() == 0 {
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(500 * time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // too little to wait
			defer cancel()
			_, err = svcs[1].CreateSandbox(ctx, service.Call{UserID: "bob", RequestID: "r2"}, service.CreateSandboxInput{})
			if !errors.Is(err, sandstep.ErrCreateRate) {
				t.Errorf("another instance's create while the first's sandbox starts: %v, want refused for the rate", err)
			}
			if err := <-first; (err != nil) != (tt.fault != nil) {
				t.Errorf("the first create: %v", err)
			}
			if n := srv.RateLimited(); n != 0 {
				t.Errorf("Daytona refused %d creates for its rate, want none", n)
			}
		})
	}
}
