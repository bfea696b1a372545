package awsjson

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// countingServer serves h and counts the connections opened to it; the
// client returned calls it.
func countingServer(t *testing.T, h http.HandlerFunc) (*Client, *atomic.Int32) {
	t.Helper()
	opened := new(atomic.Int32)
	hs := httptest.NewUnstartedServer(h)
	hs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	hs.Start()
	t.Cleanup(hs.Close)
	c, err := New(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")},
		Service{EndpointPrefix: "x", TargetPrefix: "X", Version: "1.0"}, Options{Endpoint: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c, opened
}

// Calls side by side on a Sender without an HTTP client reuse their
// connections from one round to the next: Go's default transport would
// keep two and open the rest again.
func TestSideBySideCallsReuseConnections(t *testing.T) {
	const width, rounds = 6, 3
	var arrived sync.WaitGroup
	c, opened := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		arrived.Wait() // all of a round in flight at once
		_, _ = w.Write([]byte("{}"))
	})
	for range rounds {
		arrived.Add(width)
		var done sync.WaitGroup
		for range width {
			done.Go(func() {
				if err := c.Call(context.Background(), "Op", nil, nil); err != nil {
					t.Error(err)
				}
			})
		}
		done.Wait()
	}
	if n := opened.Load(); n > width {
		t.Errorf("%d rounds of %d calls side by side opened %d connections, want at most %d", rounds, width, n, width)
	}
}

// Warm opens the connection the first call then uses, with an unsigned
// GET of the endpoint's root.
func TestWarmOpensTheFirstCallsConnection(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	c, opened := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" signed="+strconv.FormatBool(r.Header.Get("Authorization") != ""))
		mu.Unlock()
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte("healthy: x.us-east-1.amazonaws.com "))
			return
		}
		_, _ = w.Write([]byte("{}"))
	})
	c.Warm(context.Background())
	if err := c.Call(context.Background(), "Op", nil, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"GET / signed=false", "POST / signed=true"}
	if !slices.Equal(seen, want) || opened.Load() != 1 {
		t.Errorf("requests %q on %d connections, want %q on one", seen, opened.Load(), want)
	}
}
