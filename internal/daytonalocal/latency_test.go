package daytonalocal

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/pause"
)

// sleepRecorder stands in for the server's wait: it records each delay by
// operation and waits for none.
type sleepRecorder struct {
	mu    sync.Mutex
	slept []time.Duration
}

func (r *sleepRecorder) sleep(_ context.Context, d time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.slept = append(r.slept, d)
	return true
}

// take returns what was slept since the last take.
func (r *sleepRecorder) take() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.slept
	r.slept = nil
	return out
}

func TestLatencyByOperation(t *testing.T) {
	lat := Latency{Create: 1 * time.Second, Get: 2 * time.Second, Delete: 3 * time.Second, Toolbox: 4 * time.Second}
	h := newHarness(t, Options{Latency: lat})
	rec := &sleepRecorder{}
	h.srv.sleep = rec.sleep
	sb := h.create(nil)
	if got := rec.take(); len(got) != 1 || got[0] != lat.Create {
		t.Fatalf("create slept %v, want [%v]", got, lat.Create)
	}

	tests := []struct {
		name string
		call func() reply
		want []time.Duration // nil: no wait at all
	}{
		{"get", func() reply { return h.api("GET", "/sandbox/"+sb.ID, nil) }, []time.Duration{lat.Get}},
		{"list", func() reply { return h.api("GET", "/sandbox", nil) }, []time.Duration{lat.Get}},
		{"labels are not delayed", func() reply {
			return h.api("PUT", "/sandbox/"+sb.ID+"/labels", map[string]any{"labels": map[string]string{"a": "b"}})
		}, nil},
		{"toolbox execute", func() reply {
			return h.tb(sb.ID, "POST", "/process/execute", map[string]any{"command": "true", "timeout": 30})
		}, []time.Duration{lat.Toolbox}},
		{"toolbox session", func() reply {
			return h.tb(sb.ID, "POST", "/process/session", map[string]any{"sessionId": "s1"})
		}, []time.Duration{lat.Toolbox}},
		{"toolbox work dir", func() reply { return h.tb(sb.ID, "GET", "/work-dir", nil) }, []time.Duration{lat.Toolbox}},
		{"delete", func() reply { return h.api("DELETE", "/sandbox/"+sb.ID, nil) }, []time.Duration{lat.Delete}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := tt.call(); r.status >= 300 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			got := rec.take()
			if len(got) != len(tt.want) {
				t.Fatalf("slept %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("slept %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestLatencyAddsToLatencyFaults(t *testing.T) {
	h := newHarness(t, Options{Latency: Latency{Get: time.Second}})
	rec := &sleepRecorder{}
	h.srv.sleep = rec.sleep
	sb := h.create(nil)
	if _, err := h.srv.AddFault(Fault{Kind: FaultLatency, Delay: 5 * time.Second, Match: Match{Operation: "getSandbox"}}); err != nil {
		t.Fatal(err)
	}
	rec.take()
	if _, status := h.get(sb.ID); status != http.StatusOK {
		t.Fatalf("get: %d", status)
	}
	if got := rec.take(); len(got) != 1 || got[0] != 6*time.Second {
		t.Errorf("slept %v, want [6s]", got)
	}
}

// A caller that gives up during the wait is not served: the wait ends
// with the request and the create never happens.
func TestLatencyWaitEndsWithTheRequest(t *testing.T) {
	h := newHarness(t, Options{Latency: Latency{Create: time.Hour}})
	entered, waited := make(chan struct{}), make(chan bool, 1)
	h.srv.sleep = func(ctx context.Context, d time.Duration) bool {
		close(entered)
		ok := pause.For(ctx, d)
		waited <- ok
		return ok
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		// No body: the server notices a client gone only once it has read
		// the request's body.
		req, _ := http.NewRequestWithContext(ctx, "POST", h.ts.URL+"/api/sandbox", http.NoBody)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := h.ts.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-entered
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("a create delayed by an hour answered")
	}
	if ok := <-waited; ok {
		t.Fatal("the wait did not end with the request")
	}
	h.srv.sleep = pause.For
	if n := len(h.listStates()); n != 0 {
		t.Errorf("%d sandbox(es) after a cancelled create", n)
	}
}

func TestNegativeLatencyIsRefused(t *testing.T) {
	for _, l := range []Latency{{Create: -1}, {Get: -1}, {Delete: -1}, {Toolbox: -1}} {
		if _, err := New(Options{Root: t.TempDir(), Latency: l}); err == nil {
			t.Errorf("New accepted %+v", l)
		}
	}
}
