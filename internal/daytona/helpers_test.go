package daytona

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKey is a canary: it must never show up in an error or a log line.
const testKey = "dtn_CANARY_9f8e7d6c5b4a39281706f5e4d3c2b1a0"

// seen is one request as the fake server received it.
type seen struct {
	Method string
	Path   string // escaped path
	Query  url.Values
	Header http.Header
	Body   []byte
}

// fake is an httptest server on 127.0.0.1 that records requests and
// answers with handle.
type fake struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []seen
	handle func(w http.ResponseWriter, r *http.Request, body []byte)
}

func newFake(t testing.TB, handle func(w http.ResponseWriter, r *http.Request, body []byte)) *fake {
	t.Helper()
	f := &fake{handle: handle}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
			body, _ = io.ReadAll(r.Body)
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(), Header: r.Header.Clone(), Body: body})
		f.mu.Unlock()
		f.handle(w, r, body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fake) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// count returns how many requests matched method and path.
func (f *fake) count(method, path string) int {
	n := 0
	for _, r := range f.requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

// testConfig is a Config for f with tiny retry waits.
func testConfig(baseURL string) Config {
	return Config{
		APIKey: testKey,
		APIURL: baseURL,
		Retry: RetryPolicy{
			MaxAttempts:   4,
			BaseDelay:     time.Millisecond,
			MaxDelay:      5 * time.Millisecond,
			MaxRetryAfter: 10 * time.Second,
		},
		ResponseHeaderTimeout: 5 * time.Second,
		PollInterval:          10 * time.Millisecond,
		CleanupTimeout:        2 * time.Second,
	}
}

func newClient(t testing.TB, baseURL string, mods ...func(*Config)) *Client {
	t.Helper()
	cfg := testConfig(baseURL)
	for _, m := range mods {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// toolboxClient returns a client whose sandbox sbID is routed to f's
// /toolbox proxy.
func toolboxClient(t testing.TB, f *fake, sbID string, mods ...func(*Config)) *Client {
	t.Helper()
	c := newClient(t, f.URL, mods...)
	c.remember(sbID, f.URL+"/toolbox")
	return c
}

// refuseKey answers as Daytona answers a call with a key it does not
// accept.
func refuseKey(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	w.Write([]byte(`{"statusCode":401,"message":"Invalid API key","error":"Unauthorized"}`))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// sandboxJSON is a Sandbox body with the spec's required fields.
func sandboxJSON(id, name string, state SandboxState, proxy string) map[string]any {
	return map[string]any{
		"id": id, "organizationId": "org-1", "name": name, "user": "daytona",
		"env": map[string]string{}, "labels": map[string]string{"sandstep.id": name},
		"public": false, "networkBlockAll": false, "target": "us",
		"cpu": 1, "gpu": 0, "memory": 1, "disk": 3,
		"state": string(state), "desiredState": "started",
		"toolboxProxyUrl": proxy,
	}
}

// recordingSleeper records the waits a client asks for and really waits.
type recordingSleeper struct {
	mu    sync.Mutex
	waits []time.Duration
	// check, if set, is called before each wait.
	check func(ctx context.Context, d time.Duration)
}

func (r *recordingSleeper) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.waits = append(r.waits, d)
	r.mu.Unlock()
	if r.check != nil {
		r.check(ctx, d)
	}
	return sleepCtx(ctx, d)
}

func (r *recordingSleeper) recorded() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.waits...)
}

func jsonEqual(t testing.TB, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("body\n got %s\nwant %s", gb, wb)
	}
}
