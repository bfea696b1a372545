package daytonaprovider

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// stepClock is a clock a test moves by hand.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Daytona's proxy cuts a toolbox request idle for about 60 s and answers
// an empty-body 502 (daytonaio/daytona#4545: a large git clone), and the
// daemon's /git/clone says nothing until the clone is done: a repository
// that takes longer to clone is cut every time. Answered transient, a
// task's CreateSandbox is asked again 20 times, each attempt making a
// sandbox, cloning for a minute and failing the same way, and the user
// hears "Daytona is unavailable" about half an hour later. The same 502
// at once is a blip, and stays transient. The client sends a clone again
// after Daytona's 429 once its Retry-After has passed (up to 60 s): the
// cut is the last try's wait alone, so an empty 502 at once after a long
// 429 wait is a blip too, not a repository too large to clone.
func TestCloneCutByTheProxyNamesTheRepository(t *testing.T) {
	tests := []struct {
		name      string
		waited    time.Duration // a 429's wait before the last try; 0: none
		took      time.Duration // the last try's wait for its answer
		body      string
		want      sandstep.Code
		wantField string
	}{
		{name: "an empty 502 once the clone outlasted the proxy's idle cut", took: 61 * time.Second,
			want: sandstep.EINVALID, wantField: "git.url"},
		{name: "an empty 502 at once", took: 0, want: sandstep.ETRANSIENT},
		{name: "git's transport failure after a minute", took: 61 * time.Second,
			body: `{"statusCode":502,"message":"early EOF","code":"GIT_TRANSPORT_FAILED","source":"DAYTONA_DAEMON"}`,
			want: sandstep.ETRANSIENT},
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
					first := clones == 1
					mu.Unlock()
					if first && tt.waited > 0 {
						// Refused for the rate; the client's wait before
						// its next try is the clock's step (its own real
						// wait is the backoff's jitter, a millisecond).
						clk.add(tt.waited)
						w.WriteHeader(http.StatusTooManyRequests)
						return
					}
					clk.add(tt.took)
					if tt.body != "" {
						w.Header().Set("Content-Type", "application/json")
					}
					w.WriteHeader(http.StatusBadGateway)
					io.WriteString(w, tt.body)
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
			err = p.GitClone(context.Background(), "sb-1", service.GitCloneSpec{URL: "https://example.com/o/big.git", Branch: "main", Path: "big"})
			if code, field := sandstep.ErrorCode(err), sandstep.ErrorField(err); code != tt.want || field != tt.wantField {
				t.Fatalf("err = %v: %s, field %q; want %s, field %q", err, code, field, tt.want, tt.wantField)
			}
			mu.Lock()
			n := clones
			mu.Unlock()
			want := 1
			if tt.waited > 0 {
				want = 2 // the 429's try, then one more
			}
			if n != want {
				t.Errorf("%d clone requests, want %d (a 502 is not sent again)", n, want)
			}
			if tt.want == sandstep.EINVALID && !strings.Contains(sandstep.ErrorMessage(err), "60 s") {
				t.Errorf("message %q does not say the proxy cut the clone at about 60 s", sandstep.ErrorMessage(err))
			}
		})
	}
}
