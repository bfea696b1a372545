package app

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// warm opens a connection to DynamoDB and one to Daytona's API, each with
// its unsigned liveness request, once the wiring has built their clients.
func TestWarmOpensEachBuiltClientsConnection(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	record := func(name string) string {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got[name] = r.Method + " " + r.URL.Path + " signed=" + map[bool]string{true: "yes", false: "no"}[r.Header.Get("Authorization") != ""]
			mu.Unlock()
		}))
		t.Cleanup(hs.Close)
		return hs.URL
	}
	env := map[string]string{
		"SANDSTEP_ENV":      "local",
		"TABLE_NAME":        "sandstep",
		"DYNAMODB_ENDPOINT": record("dynamodb"),
		"DAYTONA_API_URL":   record("daytona") + "/api",
		"DAYTONA_API_KEY":   "local-dev-key",
	}
	e, err := NewEnv(Options{Getenv: func(k string) string { return env[k] }, LogWriter: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	e.warm() // nothing built yet: nothing to warm
	if _, err := e.Store(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Daytona(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	early := len(got)
	mu.Unlock()
	if early != 0 {
		t.Fatalf("requests before warm: %v", got)
	}
	e.warm()
	want := map[string]string{"dynamodb": "GET / signed=no", "daytona": "GET /api/health signed=no"}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		done := len(got) == len(want)
		mu.Unlock()
		if done {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s saw %q, want %q", k, got[k], v)
		}
	}
}
