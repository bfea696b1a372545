package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// windowedProvider is the fake provider that notes when each create
// arrived, and can answer the first one as Daytona's 429.
type windowedProvider struct {
	*fakeProvider
	mu        sync.Mutex
	creates   []time.Time
	limitFor  time.Duration // >0: the first create is refused, asking for this wait
	spentFor  time.Duration // >0: the first create's answer says the budget comes back after this
	failSpent bool          // and that create then fails
	// thenCancel, if set, is called once the spent budget was told: the
	// caller goes away.
	thenCancel context.CancelFunc
	// tellLate: the spent budget is told once the provider work's
	// deadline has passed (an answer cut off as it came).
	tellLate bool
}

func (p *windowedProvider) Create(ctx context.Context, spec ProviderSpec) (*ProviderSandbox, error) {
	p.mu.Lock()
	p.creates = append(p.creates, time.Now())
	first := len(p.creates) == 1
	p.mu.Unlock()
	if first && p.limitFor > 0 {
		err := sandstep.Errorf(sandstep.ETRANSIENT, "provider create: Daytona is rate limiting us; try again")
		err.RetryAfter = p.limitFor
		return nil, err
	}
	if first && p.spentFor > 0 {
		if p.tellLate {
			<-ctx.Done()
		}
		spec.CreatesSpent(time.Now().Add(p.spentFor))
		if p.thenCancel != nil {
			p.thenCancel()
		}
		if p.failSpent {
			return nil, sandstep.Errorf(sandstep.ETRANSIENT, "provider create: the sandbox failed to start")
		}
	}
	return p.fakeProvider.Create(ctx, spec)
}

// perWindow counts the creates in each window of length w.
func (p *windowedProvider) perWindow(w time.Duration) map[time.Time]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[time.Time]int{}
	for _, t := range p.creates {
		out[t.Truncate(w)]++
	}
	return out
}

// rateInstances are n services on one table and one provider, as n Lambda
// instances of a deployment are, sharing a create rate of limit per window;
// the first's store, and its spends of the budget told on the channel.
func rateInstances(t *testing.T, n, limit int, window time.Duration, p Provider) ([]*Service, *store.Store, <-chan struct{}) {
	t.Helper()
	stores := storetest.Instances(t, n, store.Options{DefaultQuota: 100, IdempotencyTTL: time.Hour, CreateRate: limit, CreateWindow: window})
	spent := make(chan struct{}, 16)
	var svcs []*Service
	for i, st := range stores {
		var quota Quota = st
		if i == 0 {
			quota = &storetest.SpendWatch{Store: st, Spent: spent}
		}
		svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: quota, Idempotency: st, Audit: st},
			Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment)})
		if err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, svc)
	}
	return svcs, stores[0], spent
}

// A burst of twice the rate across three instances is served at the rate:
// every create succeeds, no window sees more than the limit, and the
// provider is asked exactly once per sandbox. With too little time left to
// wait for the next window, the refusal is a 503 naming when it opens.
func TestCreateRateSharedAcrossInstances(t *testing.T) {
	const limit, burst = 4, 8
	tests := []struct {
		name     string
		window   time.Duration
		deadline time.Duration
		served   int
	}{
		{"time to wait: all served at the rate", 1500 * time.Millisecond, time.Minute, burst},
		// A long window, so that the burst lies in one however slow the
		// machine.
		{"no time to wait: the rest refused", 5 * time.Second, 20 * time.Second, limit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			window := tt.window
			// Start at a window's beginning so the burst cannot straddle two.
			time.Sleep(time.Until(time.Now().Truncate(window).Add(window)))
			p := &windowedProvider{fakeProvider: newFakeProvider()}
			svcs, st, _ := rateInstances(t, 3, limit, window, p)
			var wg sync.WaitGroup
			errs := make(chan error, burst)
			for i := range burst {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
					defer cancel()
					_, err := svcs[i%len(svcs)].CreateSandbox(ctx, Call{UserID: fmt.Sprint("user-", i%3), RequestID: fmt.Sprint("r", i)}, CreateSandboxInput{})
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			served := 0
			for err := range errs {
				switch {
				case err == nil:
					served++
				case !errors.Is(err, sandstep.ErrCreateRate) || sandstep.ErrorCode(err) != sandstep.ETRANSIENT || sandstep.ErrorRetryAfter(err) <= 0:
					t.Errorf("refused with %v (code %s, retry after %v), want transient for the rate", err, sandstep.ErrorCode(err), sandstep.ErrorRetryAfter(err))
				}
			}
			if served != tt.served {
				t.Errorf("%d served, want %d", served, tt.served)
			}
			if got := len(p.perWindow(window)); tt.served == burst && got < 2 {
				t.Errorf("the creates used %d windows, want at least 2", got)
			}
			for w, n := range p.perWindow(window) {
				if n > limit {
					t.Errorf("window %s saw %d creates, limit %d", w.Format(time.StampMilli), n, limit)
				}
			}
			total := 0
			for _, n := range p.perWindow(window) {
				total += n
			}
			if total != tt.served {
				t.Errorf("the provider was asked %d times for %d sandboxes", total, tt.served)
			}
			held := 0
			for u := range 3 {
				q, err := st.GetQuota(context.Background(), fmt.Sprint("user-", u))
				if err != nil {
					t.Fatal(err)
				}
				held += q.Active
			}
			if held != tt.served {
				t.Errorf("%d slots held for %d sandboxes", held, tt.served)
			}
		})
	}
}

// The provider's own 429 spends the budget for as long as it asked, so
// other instances wait instead of meeting it too.
func TestProviderRateLimitSpendsTheBudget(t *testing.T) {
	p := &windowedProvider{fakeProvider: newFakeProvider(), limitFor: 3 * time.Second}
	svcs, _, _ := rateInstances(t, 2, 100, time.Second, p)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // too little to wait
	defer cancel()
	if _, err := svcs[0].CreateSandbox(ctx, alice(), CreateSandboxInput{}); sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
		t.Fatalf("the rate-limited create: %v", err)
	}
	_, err := svcs[1].CreateSandbox(ctx, Call{UserID: "bob", RequestID: "r2"}, CreateSandboxInput{})
	if !errors.Is(err, sandstep.ErrCreateRate) {
		t.Errorf("another instance's create right after: %v, want it held back by the spent budget", err)
	}
	if n := len(p.creates); n != 1 {
		t.Errorf("the provider was asked %d times, want once", n)
	}
}

// A create whose answer says the provider's budget is spent holds every
// instance's creates back until it comes back, before its own answer,
// whether or not it then succeeds (the provider counted it) and whether
// or not its caller is still there: the next create, from another
// instance, is refused for the rate without asking the provider.
func TestSpentProviderBudgetHoldsCreatesBack(t *testing.T) {
	tests := []struct {
		name               string
		fail, cancel, late bool
	}{
		{name: "the create succeeds"},
		{name: "the create then fails", fail: true},
		{name: "the caller goes away", cancel: true},
		{name: "the answer comes as the work's time runs out", fail: true, late: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &windowedProvider{fakeProvider: newFakeProvider(), spentFor: 3 * time.Second, failSpent: tt.fail, tellLate: tt.late}
			svcs, _, _ := rateInstances(t, 2, 100, time.Second, p)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // too little to wait
			defer cancel()
			first := ctx
			if tt.cancel {
				first, p.thenCancel = context.WithCancel(ctx)
			}
			if tt.late { // the provider's work ends 0.3 s in; the caller's time goes on
				var cancel context.CancelFunc
				first, cancel = context.WithTimeout(ctx, svcs[0].opts.CleanupReserve+300*time.Millisecond)
				defer cancel()
			}
			_, err := svcs[0].CreateSandbox(first, Call{UserID: "alice", RequestID: "r1"}, CreateSandboxInput{})
			if !tt.fail && !tt.cancel && err != nil || tt.fail && err == nil {
				t.Fatalf("the create that spent the budget: %v", err)
			}
			_, err = svcs[1].CreateSandbox(ctx, Call{UserID: "bob", RequestID: "r2"}, CreateSandboxInput{})
			if wait := sandstep.ErrorRetryAfter(err); !errors.Is(err, sandstep.ErrCreateRate) || wait <= 0 || wait > 3*time.Second {
				t.Errorf("the next create: %v (retry after %v), want refused for the rate for at most 3s", err, wait)
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			if n := len(p.creates); n != 1 {
				t.Errorf("the provider was asked %d times, want once", n)
			}
		})
	}
}
