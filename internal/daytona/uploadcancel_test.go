package daytona

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// endAfterAnswer is a RoundTripper that ends the caller's context once
// the server's answer is in, and lets the writer goroutine finish.
type endAfterAnswer struct {
	mu     sync.Mutex
	cancel context.CancelFunc
}

func (e *endAfterAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	e.mu.Lock()
	cancel := e.cancel
	e.mu.Unlock()
	if err == nil && cancel != nil {
		cancel()
		time.Sleep(5 * time.Millisecond) // the writer has closed done long since
	}
	return resp, err
}

// An upload Daytona answered is reported done even when its context ends
// just after the answer: what happened does not depend on which of two
// ready channels a select picks.
func TestUploadFilesAnsweredThenCancelledIsDone(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})
	rt := &endAfterAnswer{}
	c := toolboxClient(t, f, "sb-1", func(cfg *Config) { cfg.HTTPClient = &http.Client{Transport: rt} })
	failed := 0
	const runs = 40
	for range runs {
		ctx, cancel := context.WithCancel(context.Background())
		rt.mu.Lock()
		rt.cancel = cancel
		rt.mu.Unlock()
		err := c.UploadFiles(ctx, "sb-1", []UploadFile{{Path: "/tmp/a", Content: strings.NewReader("a")}})
		cancel()
		if err != nil {
			failed++
			if failed == 1 {
				t.Logf("first failure: %v", err)
			}
		}
	}
	if n := f.count(http.MethodPost, "/toolbox/sb-1/files/bulk-upload"); n != runs {
		t.Fatalf("%d uploads reached the server, want %d", n, runs)
	}
	if failed > 0 {
		t.Errorf("%d of %d uploads the server answered 200 were reported as failed", failed, runs)
	}
}
