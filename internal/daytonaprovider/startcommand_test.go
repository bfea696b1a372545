package daytonaprovider

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// A task's start whose answer was lost (a 5xx, a timeout after the
// request went out) is asked again by the state machine, and the retry
// sends the line again into the same session. The session runs it after
// the first try's command, in the shell state that one left, so a line
// that guards itself as a task's does runs once whether the first try's
// command ran or never reached the session, and the retry's command ends
// with the run's exit code.
func TestStartCommandAskedAgainRunsAfterTheFirstInItsSession(t *testing.T) {
	gateway := func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) }
	tests := []struct {
		name   string
		served bool // the first exec reached the session
		answer func(w http.ResponseWriter)
	}{
		{name: "ran, bad gateway", served: true, answer: gateway},
		{name: "ran, gateway timeout", served: true, answer: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusGatewayTimeout)
			w.Write([]byte(`{"statusCode":504,"message":"upstream timed out"}`))
		}},
		{name: "never reached the session", answer: gateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			srv, err := daytonalocal.New(daytonalocal.Options{Root: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			// The first exec's answer is lost, after it was served or not.
			var lost atomic.Bool
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/exec") && lost.CompareAndSwap(false, true) {
					if tt.served {
						srv.ServeHTTP(httptest.NewRecorder(), r)
					}
					tt.answer(w)
					return
				}
				srv.ServeHTTP(w, r)
			}))
			t.Cleanup(func() { hs.Close(); srv.Close() })
			c, err := daytona.New(daytona.Config{APIKey: "k", APIURL: hs.URL + "/api", PollInterval: 20 * time.Millisecond,
				Retry: daytona.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			p := New(c, Options{})
			id := create(t, p, "task-sb")

			const line = `if [ -z "${RAN-}" ]; then echo ran >> runs; sleep 0.3; RAN=5; export RAN; fi; (exit $RAN)`
			if _, err := p.StartCommand(ctx, id, "task-1", line); sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
				t.Fatalf("first start: %v, want transient", err)
			}
			cmd, err := p.StartCommand(ctx, id, "task-1", line)
			if err != nil {
				t.Fatalf("start asked again: %v", err)
			}
			var code *int
			for deadline := time.Now().Add(10 * time.Second); code == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if code, err = p.CommandExit(ctx, id, "task-1", cmd); err != nil {
					t.Fatal(err)
				}
			}
			if code == nil || *code != 5 {
				t.Errorf("the retry's command ended with %v, want the run's 5", code)
			}
			b, err := p.Download(ctx, id, "runs", 100)
			if err != nil || string(b) != "ran\n" {
				t.Errorf("runs = %q, %v; want the command run once", b, err)
			}
		})
	}
}

// Daytona registers a session command before steps that can still fail:
// a first try answered 500 may have left a command in the session that
// never reached its shell. The retry answers with the command it started
// itself, never with one it finds there.
func TestStartCommandAskedAgainAnswersWithItsOwnCommand(t *testing.T) {
	var sessions, execs atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/toolbox/sb-1/process/session":
			if sessions.Add(1) > 1 {
				w.WriteHeader(http.StatusConflict)
				io.WriteString(w, `{"statusCode":409,"message":"session already exists","code":"CONFLICT"}`)
				return
			}
			w.WriteHeader(http.StatusCreated)
		case r.Method == http.MethodPost && r.URL.Path == "/toolbox/sb-1/process/session/task-1/exec":
			if execs.Add(1) == 1 {
				w.WriteHeader(http.StatusInternalServerError)
				io.WriteString(w, `{"statusCode":500,"message":"failed to write to the session","code":"INTERNAL_SERVER_ERROR"}`)
				return
			}
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"cmdId":"cmd-2"}`)
		case r.Method == http.MethodGet && r.URL.Path == "/toolbox/sb-1/process/session/task-1":
			io.WriteString(w, `{"sessionId":"task-1","commands":[{"id":"cmd-1","command":"make"}]}`)
		case r.URL.Path == "/api/sandbox/sb-1":
			io.WriteString(w, `{"id":"sb-1","name":"sb-1","state":"started","desiredState":"started"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	p := providerBehind(t, hs, Options{})
	ctx := context.Background()
	if _, err := p.StartCommand(ctx, "sb-1", "task-1", "make"); err == nil {
		t.Fatal("the first try succeeded; want its 500")
	}
	cmd, err := p.StartCommand(ctx, "sb-1", "task-1", "make")
	if err != nil || cmd != "cmd-2" {
		t.Errorf("asked again: %q, %v; want the command it started, cmd-2", cmd, err)
	}
	if n := execs.Load(); n != 2 {
		t.Errorf("%d execs, want 2", n)
	}
}
