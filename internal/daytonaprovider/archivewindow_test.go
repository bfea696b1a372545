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

// Daytona's auto-archive (and a delete of a stopped sandbox) marks the
// sandbox pending with desiredState archived (destroyed) while its state
// still says stopped, and refuses a start meanwhile with 409 "state change
// in progress" (API-NOTES §2). restart takes that 409 for a start already
// under way and waits for started, which this sandbox never reaches: the
// call waits out its whole deadline (StartTimeout, 60 s, or the command's
// own time) and answers timeout, the command never having run. It is a
// state change like a stop begun on a started sandbox: transient, at once.
func TestToolboxCallOnAStoppedSandboxDaytonaIsArchivingOrDeleting(t *testing.T) {
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
	}
	for _, desired := range []string{"archived", "destroyed"} {
		for _, op := range ops {
			t.Run(desired+"/"+op.name, func(t *testing.T) {
				var hs *httptest.Server
				hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					io.Copy(io.Discard, r.Body)
					switch {
					case r.URL.Path == "/api/sandbox/sb-1" && r.Method == http.MethodGet:
						io.WriteString(w, `{"id":"sb-1","name":"sb-1","state":"stopped","desiredState":"`+desired+`","toolboxProxyUrl":"`+hs.URL+`/toolbox"}`)
					case r.URL.Path == "/api/sandbox/sb-1/start":
						w.WriteHeader(http.StatusConflict)
						io.WriteString(w, `{"statusCode":409,"message":"Sandbox state change in progress","error":"Conflict"}`)
					case strings.HasPrefix(r.URL.Path, "/toolbox/sb-1/"):
						w.WriteHeader(http.StatusBadRequest)
						io.WriteString(w, `{"statusCode":400,"message":"sandbox is not started"}`)
					default:
						http.NotFound(w, r)
					}
				}))
				// StartTimeout far off: the call's own deadline is what a
				// wait for the start would run out of.
				p := providerBehind(t, hs, Options{MaxPollInterval: 20 * time.Millisecond, StartTimeout: time.Hour})
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				err := op.run(ctx, p)
				if code := sandstep.ErrorCode(err); code != sandstep.ETRANSIENT {
					t.Errorf("%s on a stopped sandbox Daytona is taking to %s: err = %v (%s), want %s without waiting for a start Daytona refused",
						op.name, desired, err, code, sandstep.ETRANSIENT)
				}
			})
		}
	}
}
