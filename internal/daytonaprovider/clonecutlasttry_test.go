package daytonaprovider

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// TestCloneCutIsTheLastTryAlone: the client sends a clone again
// after Daytona's 429 once its Retry-After has passed (up to 60 s). The
// proxy's idle cut is a try that waited 50 s or more for its answer; an
// empty 502 answered at once to the try after a long 429 wait is a blip,
// as the same 502 at once with no wait before it is, and stays transient:
// read as the cut, the task fails for good, told its repository is too
// large to clone.
func TestCloneCutIsTheLastTryAlone(t *testing.T) {
	tests := []struct {
		name      string
		waited    time.Duration // the 429's wait, before the last try
		took      time.Duration // the last try's wait for its answer
		want      sandstep.Code
		wantField string
	}{
		{name: "an empty 502 at once after a long 429 wait", waited: 55 * time.Second, took: 0, want: sandstep.ETRANSIENT},
		{name: "an empty 502 after the proxy's idle cut, after a 429", waited: time.Second, took: 61 * time.Second,
			want: sandstep.EINVALID, wantField: "git.url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &stepClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			var mu sync.Mutex
			clones := 0
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/toolbox/sb-1/git/clone":
					mu.Lock()
					clones++
					n := clones
					mu.Unlock()
					if n == 1 {
						// Refused for the rate; the client's wait before
						// its next try is the clock's step (its own real
						// wait is the backoff's jitter, a millisecond).
						clk.add(tt.waited)
						w.WriteHeader(http.StatusTooManyRequests)
						return
					}
					clk.add(tt.took)
					w.WriteHeader(http.StatusBadGateway)
				case "/api/sandbox/sb-1":
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, `{"id":"sb-1","name":"sb-1","state":"started","desiredState":"started"}`)
				default:
					http.NotFound(w, r)
				}
			}))
			t.Cleanup(hs.Close)
			c, err := daytona.New(daytona.Config{APIKey: "k", APIURL: hs.URL + "/api", Now: clk.Now,
				Retry: daytona.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			p := New(c, Options{})
			p.KnowToolbox("sb-1", hs.URL+"/toolbox")
			err = p.GitClone(context.Background(), "sb-1", service.GitCloneSpec{URL: "https://example.com/o/small.git", Branch: "main", Path: "small"})
			mu.Lock()
			n := clones
			mu.Unlock()
			if n != 2 {
				t.Fatalf("%d clone requests, want 2 (the 429's, then one more)", n)
			}
			if code, field := sandstep.ErrorCode(err), sandstep.ErrorField(err); code != tt.want || field != tt.wantField {
				t.Errorf("err = %v: %s, field %q; want %s, field %q", err, code, field, tt.want, tt.wantField)
			}
		})
	}
}
