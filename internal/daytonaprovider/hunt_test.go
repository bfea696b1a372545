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
	"github.com/sandstep/sandstep/internal/service"
)

// README ("A call that reaches a sandbox which is not running"): one
// already starting, say another call's start, is waited for as a stopped
// one's start is. Daytona shows a start under way as restoring (an
// archived sandbox's start, which takes minutes, or a stopped one brought
// back on another runner) or resuming (a paused one's), desiredState
// started: a second call meeting it must wait for that start rather than
// answer transient at once.
func TestHuntToolboxCallWaitsForAStartUnderWay(t *testing.T) {
	for _, state := range []string{"restoring", "resuming"} {
		t.Run(state, func(t *testing.T) {
			var (
				mu      sync.Mutex
				gets    int
				starts  int
				started bool
			)
			var hs *httptest.Server
			hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				switch {
				case r.URL.Path == "/api/sandbox/sb-1" && r.Method == http.MethodGet:
					gets++
					st := state
					if gets > 3 {
						st, started = "started", true
					}
					io.WriteString(w, `{"id":"sb-1","name":"sb-1","state":"`+st+`","desiredState":"started","toolboxProxyUrl":"`+hs.URL+`/toolbox"}`)
				case r.URL.Path == "/api/sandbox/sb-1/toolbox-proxy-url":
					io.WriteString(w, `{"url":"`+hs.URL+`/toolbox"}`)
				case r.URL.Path == "/api/sandbox/sb-1/start":
					starts++
					w.WriteHeader(http.StatusConflict)
					io.WriteString(w, `{"statusCode":409,"message":"Sandbox state change in progress","error":"Conflict"}`)
				case strings.HasPrefix(r.URL.Path, "/toolbox/sb-1/") && started:
					io.Copy(io.Discard, r.Body)
					w.WriteHeader(http.StatusOK)
				default:
					io.Copy(io.Discard, r.Body)
					w.WriteHeader(http.StatusBadGateway)
					io.WriteString(w, `{"statusCode":502,"message":"failed to resolve container IP","source":"DAYTONA_PROXY"}`)
				}
			}))
			t.Cleanup(hs.Close)
			c, err := daytona.New(daytona.Config{APIKey: "k", APIURL: hs.URL + "/api",
				Retry: daytona.RetryPolicy{MaxAttempts: 1, BaseDelay: time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			p := New(c, Options{MaxPollInterval: 20 * time.Millisecond, StartTimeout: 5 * time.Second})
			p.KnowToolbox("sb-1", hs.URL+"/toolbox")
			err = p.Upload(context.Background(), "sb-1", []service.UploadFile{{Path: "a", Content: []byte("a")}})
			if err != nil {
				t.Fatalf("upload into a sandbox whose start was under way (%s): %v; want it to wait for the start and go on", state, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if !started {
				t.Errorf("the upload went on before the sandbox had started")
			}
		})
	}
}
