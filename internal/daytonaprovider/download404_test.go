package daytonaprovider

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// API-NOTES §3: on a stopped or archived sandbox the toolbox proxy answers
// 400, 404 or 502 (§9, daytonaio/daytona#4632: an archived sandbox's
// misleading 404), and §6: a proxy's error may carry no source at all. A
// download meeting such a 404 on a sandbox Daytona archived must start it
// again and read the file, as every other toolbox call does, not answer
// that the file does not exist.
func TestDownloadFromAnArchivedSandboxBehindAProxy404(t *testing.T) {
	bodies := []struct{ name, body string }{
		{"empty body", ""},
		{"error object without source", `{"statusCode":404,"message":"Not Found"}`},
	}
	for _, b := range bodies {
		t.Run(b.name, func(t *testing.T) {
			var (
				mu      sync.Mutex
				started bool
			)
			var hs *httptest.Server
			hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				state := "archived"
				if started {
					state = "started"
				}
				switch {
				case r.URL.Path == "/api/sandbox/sb-1" && r.Method == http.MethodGet:
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, `{"id":"sb-1","name":"sb-1","state":"`+state+`","desiredState":"`+state+`","toolboxProxyUrl":"`+hs.URL+`/toolbox"}`)
				case r.URL.Path == "/api/sandbox/sb-1/toolbox-proxy-url":
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, `{"url":"`+hs.URL+`/toolbox"}`)
				case r.URL.Path == "/api/sandbox/sb-1/start":
					started = true
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, `{"id":"sb-1","name":"sb-1","state":"started","desiredState":"started"}`)
				case r.URL.Path == "/toolbox/sb-1/files/download" && started:
					io.WriteString(w, "kept")
				case r.URL.Path == "/toolbox/sb-1/files/download":
					if b.body != "" {
						w.Header().Set("Content-Type", "application/json")
					}
					w.WriteHeader(http.StatusNotFound)
					io.WriteString(w, b.body)
				default:
					http.NotFound(w, r)
				}
			}))
			p := providerBehind(t, hs, Options{MaxPollInterval: 20 * time.Millisecond, StartTimeout: 5 * time.Second})
			got, err := p.Download(context.Background(), "sb-1", "kept.txt", 100)
			if err != nil || string(got) != "kept" {
				t.Errorf("download from an archived sandbox (proxy 404, %s) = %q, %v; want it started again and %q read", b.name, got, err, "kept")
			}
		})
	}
}

// The same 404 from a sandbox that runs is the file's absence: an older
// daemon's answer may name no source or code either. A desiredState that
// does not take the sandbox off running (resized, left by a resize done)
// does not make it one that is not running.
func TestDownloadMissingFileOfARunningSandboxWithoutSource(t *testing.T) {
	for _, desired := range []string{"started", "resized"} {
		t.Run(desired, func(t *testing.T) {
			var hs *httptest.Server
			hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch r.URL.Path {
				case "/api/sandbox/sb-1":
					io.WriteString(w, `{"id":"sb-1","name":"sb-1","state":"started","desiredState":"`+desired+`","toolboxProxyUrl":"`+hs.URL+`/toolbox"}`)
				case "/toolbox/sb-1/files/download":
					w.WriteHeader(http.StatusNotFound)
					io.WriteString(w, `{"statusCode":404,"message":"file not found: kept.txt"}`)
				default:
					http.NotFound(w, r)
				}
			}))
			p := providerBehind(t, hs, Options{MaxPollInterval: 20 * time.Millisecond, StartTimeout: 5 * time.Second})
			_, err := p.Download(context.Background(), "sb-1", "kept.txt", 100)
			if code := sandstep.ErrorCode(err); code != sandstep.ENOTFOUND {
				t.Errorf("download of a missing file from a running sandbox (desiredState %s): err = %v (%s), want %s", desired, err, code, sandstep.ENOTFOUND)
			}
		})
	}
}
