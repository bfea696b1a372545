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

// API-NOTES §2: state != desiredState means a transition is in flight;
// §9 (daytonaio/daytona#4142): while a sandbox is being stopped (Daytona's
// auto-stop) the toolbox proxy answers 400 "failed to resolve container
// IP", and §6: a proxy's error may not say source DAYTONA_PROXY. Daytona
// marks the stop by desiredState "stopped" before the runner moves state
// off "started". A toolbox call meeting that window is no invalid input
// of the caller's: it must be transient (or wait and start the sandbox
// again), never a 400 invalid_input.
func TestToolboxCallDuringAStopShownOnlyInDesiredStateIsTransient(t *testing.T) {
	ops := []struct {
		name string
		run  func(ctx context.Context, p *Provider) error
	}{
		{"exec", func(ctx context.Context, p *Provider) error {
			_, err := p.Exec(ctx, "sb-1", service.Command{Line: "true", Timeout: 5 * time.Second})
			return err
		}},
		{"upload", func(ctx context.Context, p *Provider) error {
			return p.Upload(ctx, "sb-1", []service.UploadFile{{Path: "a", Content: []byte("a")}})
		}},
		{"start command", func(ctx context.Context, p *Provider) error {
			_, err := p.StartCommand(ctx, "sb-1", "task-1", "true")
			return err
		}},
	}
	for _, desired := range []string{"stopped", "archived", "destroyed"} {
		for _, op := range ops {
			t.Run(desired+"/"+op.name, func(t *testing.T) {
				var hs *httptest.Server
				hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					switch {
					case r.URL.Path == "/api/sandbox/sb-1" && r.Method == http.MethodGet:
						io.WriteString(w, `{"id":"sb-1","name":"sb-1","state":"started","desiredState":"`+desired+`","toolboxProxyUrl":"`+hs.URL+`/toolbox"}`)
					case r.URL.Path == "/api/sandbox/sb-1/toolbox-proxy-url":
						io.WriteString(w, `{"url":"`+hs.URL+`/toolbox"}`)
					case strings.HasPrefix(r.URL.Path, "/toolbox/sb-1/"):
						io.Copy(io.Discard, r.Body)
						w.WriteHeader(http.StatusBadRequest)
						io.WriteString(w, `{"statusCode":400,"message":"failed to resolve container IP","error":"Bad Request"}`)
					default:
						http.NotFound(w, r)
					}
				}))
				p := providerBehind(t, hs, Options{MaxPollInterval: 20 * time.Millisecond, StartTimeout: time.Second})
				err := op.run(context.Background(), p)
				if code := sandstep.ErrorCode(err); code != sandstep.ETRANSIENT {
					t.Errorf("%s on a sandbox Daytona is taking to %s (state still started): err = %v (%s), want %s",
						op.name, desired, err, code, sandstep.ETRANSIENT)
				}
			})
		}
	}
}
