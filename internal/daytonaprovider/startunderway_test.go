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

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// README ("A call that reaches a sandbox which is not running"): one
// already starting, say another call's start, is waited for as a stopped
// one's start is. Daytona shows a start under way as restoring (an
// archived sandbox's start, which takes minutes, or a stopped one brought
// back on another runner) or resuming (a paused one's), desiredState
// started: a second call meeting it must wait for that start rather than
// answer transient at once.
func TestToolboxCallWaitsForAStartUnderWay(t *testing.T) {
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
			p := providerBehind(t, hs, Options{MaxPollInterval: 20 * time.Millisecond, StartTimeout: 5 * time.Second})
			err := p.Upload(context.Background(), "sb-1", []service.UploadFile{{Path: "a", Content: []byte("a")}})
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

// README ("A call that reaches a sandbox which is not running"): one gone
// answers not_found, one Daytona failed conflict. A call that starts an
// auto-stopped sandbox again and sees that start end in a failure state
// (error, build_failed) or the sandbox destroyed (its ttlMinutes, a delete)
// is the same case met a moment later, and must answer the same, not
// transient: a gone sandbox answered not_found is marked gone and its
// slot released by the service, and a failed one is not worth retrying.
func TestRestartEndingInFailureOrGoneIsJudgedByTheState(t *testing.T) {
	tests := []struct {
		final string
		want  sandstep.Code
	}{
		{"error", sandstep.ECONFLICT},
		{"build_failed", sandstep.ECONFLICT},
		{"destroying", sandstep.ENOTFOUND},
		{"destroyed", sandstep.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.final, func(t *testing.T) {
			var (
				mu      sync.Mutex
				started bool
			)
			var hs *httptest.Server
			hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				dto := func(state, desired string) string {
					return `{"id":"sb-1","name":"sb-1","state":"` + state + `","desiredState":"` + desired +
						`","errorReason":"runner lost","toolboxProxyUrl":"` + hs.URL + `/toolbox"}`
				}
				switch {
				case r.URL.Path == "/api/sandbox/sb-1" && r.Method == http.MethodGet:
					if !started {
						io.WriteString(w, dto("stopped", "stopped"))
						return
					}
					io.WriteString(w, dto(tt.final, "started"))
				case r.URL.Path == "/api/sandbox/sb-1/toolbox-proxy-url":
					io.WriteString(w, `{"url":"`+hs.URL+`/toolbox"}`)
				case r.URL.Path == "/api/sandbox/sb-1/start":
					started = true
					io.WriteString(w, dto("starting", "started"))
				default:
					io.Copy(io.Discard, r.Body)
					w.WriteHeader(http.StatusBadRequest)
					io.WriteString(w, `{"statusCode":400,"message":"failed to resolve container IP","source":"DAYTONA_PROXY"}`)
				}
			}))
			p := providerBehind(t, hs, Options{MaxPollInterval: 20 * time.Millisecond, StartTimeout: 5 * time.Second})
			err := p.Upload(context.Background(), "sb-1", []service.UploadFile{{Path: "a", Content: []byte("a")}})
			if code := sandstep.ErrorCode(err); code != tt.want {
				t.Errorf("upload into a stopped sandbox whose start ended %s: err = %v (%s), want %s", tt.final, err, code, tt.want)
			}
		})
	}
}
