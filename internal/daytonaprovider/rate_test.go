package daytonaprovider

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// Three independent instances of the functions — each with its own store
// client and Daytona client — on one table and one Daytona that enforces
// its create rate: a burst of twice the rate is served at the rate, and
// Daytona never has to refuse one.
func TestCreateRateAcrossInstancesAgainstDaytona(t *testing.T) {
	const limit, burst, instances = 4, 8, 3
	window := 1500 * time.Millisecond
	srv, err := daytonalocal.New(daytonalocal.Options{Root: t.TempDir(), CreateRate: daytonalocal.RateLimit{Limit: limit, Window: window}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	_, url := storetest.Server(t)
	if err := store.CreateTable(context.Background(), storetest.DB(t, url), storetest.Table); err != nil {
		t.Fatal(err)
	}
	var svcs []*service.Service
	for range instances {
		c, err := daytona.New(daytona.Config{APIKey: "k", APIURL: hs.URL + "/api", PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		st, err := store.New(storetest.DB(t, url), storetest.Table, store.Options{DefaultQuota: 100, IdempotencyTTL: time.Hour,
			CreateRate: limit, CreateWindow: window})
		if err != nil {
			t.Fatal(err)
		}
		svc, err := service.New(service.Deps{Provider: New(c, Options{}), Sandboxes: st, Quota: st, Idempotency: st, Audit: st},
			service.Options{Deployment: func(context.Context) (string, error) { return "test-deployment", nil }, Limits: service.Limits{
				DefaultTTLMinutes: 60, MaxTTLMinutes: 60, DefaultExecTimeout: time.Minute, MaxExecTimeout: time.Minute, MaxOutputBytes: 1 << 20,
				MaxTaskDuration: time.Minute, MaxTaskLogBytes: 1 << 20, TaskBackstop: time.Minute,
			}})
		if err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, svc)
	}
	var wg sync.WaitGroup
	errs := make(chan error, burst)
	for i := range burst {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := svcs[i%instances].CreateSandbox(ctx, service.Call{UserID: fmt.Sprint("user-", i), RequestID: fmt.Sprint("r", i)}, service.CreateSandboxInput{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("create: %v", err)
		}
	}
	if n := srv.RateLimited(); n != 0 {
		t.Errorf("Daytona refused %d creates for its rate, want none", n)
	}
	if n := srv.CreateRequests(); n != burst {
		t.Errorf("Daytona was asked %d times for %d sandboxes (retries ≤ 1.1 × requests)", n, burst)
	}
}
