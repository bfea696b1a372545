package daytona

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

const gitCanary = "ghp_GITCANARY0123456789abcdefABCDEF"

// leaks reports any 8-byte window of a secret found in s.
func leaks(s string, secrets ...string) string {
	for _, sec := range secrets {
		for i := 0; i+8 <= len(sec); i++ {
			if strings.Contains(s, sec[i:i+8]) {
				return sec[i : i+8]
			}
		}
	}
	return ""
}

// TestSecretsNeverLeak drives every error path it can with a server that
// echoes the credentials it receives, and checks errors (Error, %+v, %#v),
// log lines and printed values for the canaries.
func TestSecretsNeverLeak(t *testing.T) {
	echo := func(r *http.Request) string {
		return "auth=" + r.Header.Get("Authorization") + " raw=" + testKey
	}
	var f *fake
	f = newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		p := r.URL.Path
		switch {
		case strings.HasSuffix(p, "/json-error"), p == "/sandbox" && r.Method == "POST":
			writeJSON(w, 400, map[string]any{"statusCode": 400, "message": echo(r), "error": echo(r)})
		case strings.HasSuffix(p, "/rate"):
			w.Header().Set("Retry-After-authenticated", "0")
			writeJSON(w, 429, map[string]any{"message": echo(r)})
		case strings.HasSuffix(p, "/html"):
			w.WriteHeader(502)
			io.WriteString(w, "<html>"+echo(r)+"</html>")
		case strings.HasSuffix(p, "/cut"):
			// The key straddles the 512-byte snippet cut.
			w.WriteHeader(500)
			io.WriteString(w, strings.Repeat("x", 500)+testKey+strings.Repeat("y", 100))
		case strings.HasSuffix(p, "/ok-garbage"):
			w.WriteHeader(200)
			io.WriteString(w, "<html>"+echo(r)+"</html>")
		case strings.HasSuffix(p, "/process/execute"):
			writeJSON(w, 408, map[string]any{"message": echo(r), "code": "PROCESS_EXECUTION_TIMEOUT"})
		case strings.HasSuffix(p, "/git/clone"):
			writeJSON(w, 401, map[string]any{"message": "auth failed for " + string(body), "code": "GIT_AUTH_FAILED"})
		case strings.HasSuffix(p, "/logs"):
			w.WriteHeader(502)
			io.WriteString(w, echo(r))
		case r.Method == "DELETE":
			writeJSON(w, 400, map[string]any{"message": echo(r)})
		case r.Method == "GET" && strings.HasPrefix(p, "/sandbox/"):
			writeJSON(w, 200, sandboxJSON("sb-1", "n", StateError, f.URL+"/toolbox"))
		default:
			writeJSON(w, 404, map[string]any{"message": echo(r)})
		}
	})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := toolboxClient(t, f, "sb-1", func(cfg *Config) { cfg.Logger = logger })
	ctx := context.Background()

	dead := newFake(t, func(http.ResponseWriter, *http.Request, []byte) {})
	deadURL := dead.URL
	dead.Close()
	cDead := newClient(t, deadURL, func(cfg *Config) { cfg.Logger = logger })

	mainCall := func(path string) func() error {
		return func() error {
			cl := c.apiCall("GET", path)
			cl.mode = retrySafe
			var out map[string]any
			_, err := c.doJSON(ctx, cl, nil, &out)
			return err
		}
	}
	paths := []struct {
		name string
		run  func() error
	}{
		{"json error", mainCall("/x/json-error")},
		{"rate limit", mainCall("/x/rate")},
		{"html error", mainCall("/x/html")},
		{"cut body", mainCall("/x/cut")},
		{"garbage 200", mainCall("/x/ok-garbage")},
		{"not found", mainCall("/x/other")},
		{"create", func() error { _, err := c.CreateSandbox(ctx, CreateSandboxParams{Name: "n"}); return err }},
		{"execute timeout", func() error { _, err := c.ExecuteCommand(ctx, "sb-1", ExecuteRequest{Command: "x"}); return err }},
		{"git clone", func() error {
			return c.GitClone(ctx, "sb-1", GitCloneRequest{URL: "https://user:" + gitCanary + "@github.com/o/r", Path: "r", Password: gitCanary})
		}},
		{"follow logs handshake", func() error { return c.FollowSessionCommandLogs(ctx, "sb-1", "s", "c", nil, nil) }},
		{"wait, failed state, cleanup refused", func() error { _, err := c.WaitUntilStarted(ctx, "sb-1"); return err }},
		{"network error", func() error { _, err := cDead.GetSandbox(ctx, "sb-1"); return err }},
		{"network error on ws", func() error {
			cDead.remember("sb-1", deadURL)
			return cDead.FollowSessionCommandLogs(ctx, "sb-1", "s", "c", nil, nil)
		}},
		{"validation", func() error { _, err := New(Config{APIKey: testKey + " x"}); return err }},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			err := p.run()
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), fmt.Sprintf("%v", err)} {
				if w := leaks(s, testKey, gitCanary); w != "" {
					t.Errorf("secret fragment %q in %q", w, s)
				}
			}
		})
	}
	if w := leaks(logs.String(), testKey, gitCanary); w != "" {
		t.Errorf("secret fragment %q in logs:\n%s", w, logs.String())
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Errorf("expected retry log lines to check, got:\n%s", logs.String())
	}

	cfg := testConfig("http://127.0.0.1:1")
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "config", cfg)
	gr := GitCloneRequest{URL: "https://tok:" + gitCanary + "@h/r", Password: gitCanary}
	for _, s := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%+v", &cfg), buf.String(),
		fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c),
		fmt.Sprint(gr), fmt.Sprintf("%+v", gr), fmt.Sprintf("%#v", gr),
	} {
		if w := leaks(s, testKey, gitCanary); w != "" {
			t.Errorf("secret fragment %q in %q", w, s)
		}
	}
}

func TestRedactTrailingFragment(t *testing.T) {
	secrets := []string{"SECRETVALUE123"}
	tests := map[string]string{
		"x SECRETVALUE123 y": "x [REDACTED] y",
		"tail SECRETV":       "tail [REDACTED]",
		"tail SECR":          "tail SECR", // too short to tell from text
		"no secret":          "no secret",
	}
	for in, want := range tests {
		if got := redact(in, secrets); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
