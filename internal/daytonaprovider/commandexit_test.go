package daytonaprovider

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// API-NOTES §2 and §9 (#4142): a stop, archive or delete Daytona has begun
// shows in desiredState while state still says started, and the proxy
// then refuses toolbox calls with a 400 of its own words, perhaps with no
// source (§6). A task's watch meeting that window must hear what it hears
// once the state has moved (a sandbox stopped under the command:
// conflict; one being deleted: not found), never invalid_input, which
// blames a caller who sent nothing.
func TestCommandExitDuringAStopShownOnlyInDesiredState(t *testing.T) {
	tests := []struct {
		desired string
		want    sandstep.Code
	}{
		{"stopped", sandstep.ECONFLICT},
		{"archived", sandstep.ECONFLICT},
		{"destroyed", sandstep.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.desired, func(t *testing.T) {
			var hs *httptest.Server
			hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch {
				case r.URL.Path == "/api/sandbox/sb-1":
					io.WriteString(w, `{"id":"sb-1","name":"sb-1","state":"started","desiredState":"`+tt.desired+`","toolboxProxyUrl":"`+hs.URL+`/toolbox"}`)
				case strings.HasPrefix(r.URL.Path, "/toolbox/sb-1/"):
					w.WriteHeader(http.StatusBadRequest)
					io.WriteString(w, `{"statusCode":400,"message":"failed to resolve container IP","error":"Bad Request"}`)
				default:
					http.NotFound(w, r)
				}
			}))
			p := providerBehind(t, hs, Options{MaxPollInterval: 20 * time.Millisecond})
			_, err := p.CommandExit(context.Background(), "sb-1", "task-1", "cmd-1")
			if code := sandstep.ErrorCode(err); code != tt.want {
				t.Errorf("a task's command looked at while Daytona takes its sandbox to %s: err = %v (%s), want %s", tt.desired, err, code, tt.want)
			}
		})
	}
}
