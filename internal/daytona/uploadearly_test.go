package daytona

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A server may answer an upload before its body is sent (HTTP/2 lets it):
// its writer then sits in the caller's stalled Read, and UploadFiles
// returns once its context ends, not never.
func TestUploadAnsweredEarlyReturnsWhenContextEnds(t *testing.T) {
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK) // answered before the body was read
	}))
	s.EnableHTTP2 = true
	s.StartTLS()
	t.Cleanup(s.Close)
	c := newClient(t, s.URL, func(cfg *Config) { cfg.HTTPClient = s.Client() })
	c.remember("sb-1", s.URL+"/toolbox")
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- c.UploadFiles(ctx, "sb-1", []UploadFile{{Path: "/tmp/a", Content: blockingReader{release}}})
	}()
	select {
	case err := <-errc:
		t.Logf("UploadFiles returned %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("UploadFiles still blocked 5s after its context (300ms) ended: it waits for a writer stuck in the caller's Read once the server answered early")
	}
}
