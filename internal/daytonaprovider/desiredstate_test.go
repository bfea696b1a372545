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
// of the caller's: it is transient, never a 400 invalid_input.
//
// Daytona's auto-archive (and a delete of a stopped sandbox) marks a
// stopped sandbox pending with desiredState archived (destroyed), and
// refuses a start meanwhile with 409 "state change in progress". restart
// would take that 409 for a start already under way and wait for started,
// which this sandbox never reaches: the call would wait out its whole
// deadline and answer timeout, the command never having run. It is
// transient too, at once.
func TestToolboxCallDuringAStopShownOnlyInDesiredStateIsTransient(t *testing.T) {
	ops := []struct {
		name string
		run  func(ctx context.Context, p *Provider) error
	}{
		{"exec", func(ctx context.Context, p *Provider) error {
			_, err := p.Exec(ctx, "sb-1", service.Command{Line: "true", Timeout: time.Second})
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
	windows := []struct{ state, desired string }{
		{"started", "stopped"}, {"started", "archived"}, {"started", "destroyed"},
		{"stopped", "archived"}, {"stopped", "destroyed"},
	}
	for _, w := range windows {
		for _, op := range ops {
			t.Run(w.state+"/"+w.desired+"/"+op.name, func(t *testing.T) {
				var hs *httptest.Server
				hs = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("Content-Type", "application/json")
					io.Copy(io.Discard, r.Body)
					switch {
					case r.URL.Path == "/api/sandbox/sb-1" && r.Method == http.MethodGet:
						io.WriteString(rw, `{"id":"sb-1","name":"sb-1","state":"`+w.state+`","desiredState":"`+w.desired+`","toolboxProxyUrl":"`+hs.URL+`/toolbox"}`)
					case r.URL.Path == "/api/sandbox/sb-1/toolbox-proxy-url":
						io.WriteString(rw, `{"url":"`+hs.URL+`/toolbox"}`)
					case r.URL.Path == "/api/sandbox/sb-1/start":
						rw.WriteHeader(http.StatusConflict)
						io.WriteString(rw, `{"statusCode":409,"message":"Sandbox state change in progress","error":"Conflict"}`)
					case strings.HasPrefix(r.URL.Path, "/toolbox/sb-1/"):
						rw.WriteHeader(http.StatusBadRequest)
						io.WriteString(rw, `{"statusCode":400,"message":"failed to resolve container IP","error":"Bad Request"}`)
					default:
						http.NotFound(rw, r)
					}
				}))
				// StartTimeout far off: the call's own deadline is what a
				// wait for a start would run out of.
				p := providerBehind(t, hs, Options{MaxPollInterval: 20 * time.Millisecond, StartTimeout: time.Hour})
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				err := op.run(ctx, p)
				if code := sandstep.ErrorCode(err); code != sandstep.ETRANSIENT {
					t.Errorf("%s on a %s sandbox Daytona is taking to %s: err = %v (%s), want %s at once",
						op.name, w.state, w.desired, err, code, sandstep.ETRANSIENT)
				}
			})
		}
	}
}
