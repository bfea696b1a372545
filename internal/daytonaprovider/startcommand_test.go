package daytonaprovider

import (
	"context"
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
// request went out) is asked again by the state machine. The session then
// already holds the first try's command; a second exec would run the agent
// again once the first ends. The retry adopts the command instead.
func TestStartCommandAskedAgainAfterALostAnswerRunsItOnce(t *testing.T) {
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter)
		want   sandstep.Code
	}{
		{name: "bad gateway", answer: func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) }, want: sandstep.ETRANSIENT},
		{name: "gateway timeout", answer: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusGatewayTimeout)
			w.Write([]byte(`{"statusCode":504,"message":"upstream timed out"}`))
		}, want: sandstep.ETRANSIENT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			srv, err := daytonalocal.New(daytonalocal.Options{Root: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			// The first exec runs at the server; its answer is lost.
			var lost atomic.Bool
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/exec") && lost.CompareAndSwap(false, true) {
					srv.ServeHTTP(httptest.NewRecorder(), r)
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

			const line = "echo ran >> runs; sleep 0.3"
			if _, err := p.StartCommand(ctx, id, "task-1", line); sandstep.ErrorCode(err) != tt.want {
				t.Fatalf("first start: %v, want %s", err, tt.want)
			}
			cmd, err := p.StartCommand(ctx, id, "task-1", line)
			if err != nil {
				t.Fatalf("start asked again: %v", err)
			}
			ss, err := c.GetSession(ctx, id, "task-1")
			if err != nil {
				t.Fatal(err)
			}
			if len(ss.Commands) != 1 || ss.Commands[0].ID != cmd {
				t.Fatalf("session's commands %+v; want only the first try's, adopted as %s", ss.Commands, cmd)
			}
			var code *int
			for deadline := time.Now().Add(10 * time.Second); code == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if code, err = p.CommandExit(ctx, id, "task-1", cmd); err != nil {
					t.Fatal(err)
				}
			}
			b, err := p.Download(ctx, id, "runs", 100)
			if err != nil || string(b) != "ran\n" {
				t.Errorf("runs = %q, %v; want the command run once", b, err)
			}
		})
	}
}
