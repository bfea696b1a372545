package daytona

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// Warm opens the connection the first call then uses, with an
// unauthenticated GET of the API's liveness endpoint.
func TestWarmOpensTheFirstCallsConnection(t *testing.T) {
	var opened atomic.Int32
	var mu sync.Mutex
	var seen []string
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" key="+r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/health" {
			_, _ = w.Write([]byte(`{"status":"ok"}`))
			return
		}
		_, _ = w.Write([]byte(`{"id":"sb-1","state":"started"}`))
	}))
	hs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	hs.Start()
	t.Cleanup(hs.Close)
	c := newClient(t, hs.URL+"/api")
	c.Warm(context.Background())
	if _, err := c.GetSandbox(context.Background(), "sb-1"); err != nil {
		t.Fatal(err)
	}
	want := []string{"GET /api/health key=", "GET /api/sandbox/sb-1 key=Bearer " + testConfig("").APIKey}
	if !slices.Equal(seen, want) || opened.Load() != 1 {
		t.Errorf("requests %q on %d connections, want %q on one", seen, opened.Load(), want)
	}
}
