package service

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Daytona's 429 on a create reaches the service at once (the client does
// not wait it out on its own): the service spends the shared budget, then
// asks again after the wait when its deadline has room for it (a task's
// sandbox), or answers 503 with the wait (the HTTP API's 30 s).
func TestProviderRateLimitedCreateAskedAgain(t *testing.T) {
	const limitFor = 2 * time.Second
	tests := []struct {
		name     string
		rate     int // 0: no shared budget
		deadline time.Duration
		made     bool
	}{
		{name: "time to wait: asked again after the wait, made once", rate: 100, deadline: time.Minute, made: true},
		{name: "no shared budget: still asked again only after the wait", rate: 0, deadline: time.Minute, made: true},
		{name: "no time to wait: refused with the provider's wait", rate: 100, deadline: 20 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &windowedProvider{fakeProvider: newFakeProvider(), limitFor: limitFor}
			svcs, st, _ := rateInstances(t, 1, tt.rate, time.Second, p)
			ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
			defer cancel()
			sb, err := svcs[0].CreateSandbox(ctx, alice(), CreateSandboxInput{})
			asks, held := 1, 0
			if tt.made {
				asks, held = 2, 1
				if err != nil {
					t.Fatalf("create: %v", err)
				}
				if sb.State != sandstep.StateReady {
					t.Errorf("sandbox %s is %s, want ready", sb.ID, sb.State)
				}
			} else if sandstep.ErrorCode(err) != sandstep.ETRANSIENT || sandstep.ErrorRetryAfter(err) != limitFor {
				t.Fatalf("create: %v (code %s, retry after %v), want transient naming %v", err, sandstep.ErrorCode(err), sandstep.ErrorRetryAfter(err), limitFor)
			}
			p.mu.Lock()
			creates := append([]time.Time(nil), p.creates...)
			p.mu.Unlock()
			if len(creates) != asks {
				t.Fatalf("the provider was asked %d times, want %d", len(creates), asks)
			}
			if asks == 2 && creates[1].Sub(creates[0]) < limitFor {
				t.Errorf("asked again %s after the 429, before the %s it asked for", creates[1].Sub(creates[0]), limitFor)
			}
			q, err := st.GetQuota(context.Background(), "alice")
			if err != nil {
				t.Fatal(err)
			}
			if q.Active != held {
				t.Errorf("alice holds %d slots, want %d", q.Active, held)
			}
			if tt.made {
				// One record, the sandbox's: the refusal left none failed.
				recs, _, err := st.ListSandboxes(context.Background(), "alice", 10, "")
				if err != nil {
					t.Fatal(err)
				}
				if len(recs) != 1 || recs[0].ID != sb.ID {
					t.Errorf("alice's records: %d, want the one sandbox's", len(recs))
				}
			}
		})
	}
}

// While the provider's wait lasts, another instance's create is held
// back by the spent budget instead of meeting the same 429; the refused
// create is asked again after the wait, and the provider asked twice in
// all.
func TestProviderRateLimitHoldsOtherInstancesBack(t *testing.T) {
	const limitFor = 3 * time.Second
	p := &windowedProvider{fakeProvider: newFakeProvider(), limitFor: limitFor}
	svcs, _, spent := rateInstances(t, 2, 100, time.Second, p)
	first := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := svcs[0].CreateSandbox(ctx, alice(), CreateSandboxInput{})
		first <- err
	}()
	<-spent
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // too little to wait
	defer cancel()
	_, err := svcs[1].CreateSandbox(ctx, Call{UserID: "bob", RequestID: "r2"}, CreateSandboxInput{})
	if wait := sandstep.ErrorRetryAfter(err); !errors.Is(err, sandstep.ErrCreateRate) || wait <= 0 || wait > limitFor {
		t.Errorf("another instance's create during the wait: %v (retry after %v), want ErrCreateRate within %v", err, wait, limitFor)
	}
	if err := <-first; err != nil {
		t.Fatalf("the refused create, asked again: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.creates); n != 2 {
		t.Errorf("the provider was asked %d times, want 2 (the 429 and the ask after it)", n)
	}
}
