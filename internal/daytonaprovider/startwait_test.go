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
	"github.com/sandstep/sandstep/internal/service"
)

// README (Errors): a call that meets a sandbox not running starts it (or
// waits for a start under way, 32409cb: an archived sandbox's restore
// takes minutes) and the start counts against the call's own deadline;
// `timeout` is "a command or a start that did not finish in time". An
// exec whose time runs out while the sandbox is still starting never
// ran its command, but its answer says the command ran out of its time
// ("the command did not finish within 300ms"): the restart's own word, that
// the sandbox did not start in time, is replaced, and a caller is told a
// command (with whatever side effects) ran that never did.
func TestExecOutOfTimeWaitingForAStartSaysTheCommandDidNotRun(t *testing.T) {
	tests := []struct {
		name  string
		state string // what Daytona shows for the whole call
	}{
		{"another call's restore of an archived sandbox", "restoring"},
		{"another call's start", "starting"},
		{"the exec's own start of a stopped sandbox", "stopped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hs *httptest.Server
			hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				switch {
				case r.URL.Path == "/api/sandbox/sb-1" && r.Method == http.MethodGet:
					io.WriteString(w, `{"id":"sb-1","name":"sb-1","state":"`+tt.state+`","desiredState":"started","toolboxProxyUrl":"`+hs.URL+`/toolbox"}`)
				case r.URL.Path == "/api/sandbox/sb-1/start":
					io.WriteString(w, `{"id":"sb-1","name":"sb-1","state":"starting","desiredState":"started","toolboxProxyUrl":"`+hs.URL+`/toolbox"}`)
				default:
					w.WriteHeader(http.StatusBadGateway)
					io.WriteString(w, `{"statusCode":502,"message":"failed to resolve container IP","source":"DAYTONA_PROXY"}`)
				}
			}))
			p := providerBehind(t, hs, Options{MaxPollInterval: 20 * time.Millisecond, StartTimeout: time.Minute})
			_, err := p.Exec(context.Background(), "sb-1", service.Command{Line: "rm -rf build", Timeout: 300 * time.Millisecond})
			if sandstep.ErrorCode(err) != sandstep.ETIMEOUT {
				t.Fatalf("exec: %v (%s); want timeout", err, sandstep.ErrorCode(err))
			}
			if msg := sandstep.ErrorMessage(err); strings.Contains(msg, "command did not finish") {
				t.Errorf("exec's answer %q says the command ran out of its time; it never ran: the sandbox did not start in time", msg)
			}
		})
	}
}
