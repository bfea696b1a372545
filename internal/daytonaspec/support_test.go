package daytonaspec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
)

func TestSpecDir(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	onlyAPI := t.TempDir()
	if err := os.WriteFile(filepath.Join(onlyAPI, APISpecFile), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(onlyAPI, APISpecFile)
	cases := []struct {
		name      string
		env       *string // nil: unset
		wantDir   string  // when no error is expected
		wantInErr []string
	}{
		{name: "empty directory", env: ptr(t.TempDir()), wantInErr: []string{EnvSpecs, APISpecFile, "from " + EnvSpecs}},
		{name: "toolbox spec missing", env: &onlyAPI, wantInErr: []string{ToolboxSpecFile, onlyAPI}},
		{name: "not a directory", env: &file, wantInErr: []string{"is not a directory"}},
		{name: "does not exist", env: ptr(filepath.Join(onlyAPI, "nope")), wantInErr: []string{"nope", EnvSpecs}},
		{name: "set but empty", env: ptr(""), wantInErr: []string{EnvSpecs + " is set but empty"}},
	}
	// The default and a root-relative value resolve to the shared specs;
	// only meaningful where they are present.
	if shared := filepath.Join(root, defaultSpecsDir); hasSpecs(shared) {
		cases = append(cases,
			struct {
				name      string
				env       *string
				wantDir   string
				wantInErr []string
			}{name: "default relative to the repository root", wantDir: shared},
			struct {
				name      string
				env       *string
				wantDir   string
				wantInErr []string
			}{name: "relative value resolved against the root", env: ptr(defaultSpecsDir), wantDir: shared},
		)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env == nil {
				t.Setenv(EnvSpecs, "") // restores the original afterwards
				if err := os.Unsetenv(EnvSpecs); err != nil {
					t.Fatal(err)
				}
			} else {
				t.Setenv(EnvSpecs, *tc.env)
			}
			dir, err := SpecDir()
			if tc.wantInErr == nil {
				if err != nil {
					t.Fatalf("SpecDir: %v", err)
				}
				if dir != tc.wantDir {
					t.Fatalf("SpecDir = %q, want %q", dir, tc.wantDir)
				}
				return
			}
			if !errors.Is(err, ErrSpecsMissing) {
				t.Fatalf("SpecDir error = %v, want one wrapping ErrSpecsMissing", err)
			}
			for _, s := range tc.wantInErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func ptr(s string) *string { return &s }

func hasSpecs(dir string) bool {
	for _, f := range []string{APISpecFile, ToolboxSpecFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// fakeTB records Skip and Fatalf instead of stopping the goroutine.
type fakeTB struct {
	testing.TB
	skipped, fatal string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Skip(args ...any)               { f.skipped = fmt.Sprint(args...) }
func (f *fakeTB) Fatalf(format string, a ...any) { f.fatal = fmt.Sprintf(format, a...) }

func TestLoadSkipsWithoutSpecs(t *testing.T) {
	t.Setenv(EnvSpecs, t.TempDir())
	tb := &fakeTB{TB: t}
	if s := Load(tb); s != nil {
		t.Fatalf("Load returned a Spec for an empty directory")
	}
	if tb.fatal != "" {
		t.Fatalf("Load failed instead of skipping: %s", tb.fatal)
	}
	for _, s := range []string{EnvSpecs, APISpecFile, "set "} {
		if !strings.Contains(tb.skipped, s) {
			t.Errorf("skip message %q does not mention %q", tb.skipped, s)
		}
	}
}

func TestLoadFailsOnBrokenSpecs(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{APISpecFile, ToolboxSpecFile} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(EnvSpecs, dir)
	tb := &fakeTB{TB: t}
	if s := Load(tb); s != nil {
		t.Fatal("Load returned a Spec for broken files")
	}
	if tb.skipped != "" || !strings.Contains(tb.fatal, APISpecFile) {
		t.Fatalf("want a failure naming %s; skipped=%q fatal=%q", APISpecFile, tb.skipped, tb.fatal)
	}
}

func TestLoadIsCached(t *testing.T) {
	a := Load(t)
	b, err := LoadDir(a.Dir() + string(filepath.Separator) + ".")
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("second load of the same directory parsed the specs again")
	}
	if len(a.Workarounds()) == 0 || a.Doc(MainAPI) == nil || a.Doc(ToolboxAPI) == nil {
		t.Fatal("loaded Spec is incomplete")
	}
}

// A WebSocket log follow passes both wrappers untouched, with no
// violation although the operation declares only 200.
func TestWebSocketUpgradeIsNotBodyChecked(t *testing.T) {
	spec := Load(t)
	rec := &Recorder{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		_ = c.Write(r.Context(), websocket.MessageBinary, []byte("\x01\x01\x01hi\n"))
		_ = c.Close(websocket.StatusNormalClosure, "")
	})
	srv := httptest.NewServer(spec.Middleware(t, h, RecordTo(rec)))
	defer srv.Close()
	client := &http.Client{Transport: spec.Transport(t, nil, RecordTo(rec))}
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/toolbox/sbx-1/process/session/s/command/c/logs?follow=true"
	c, _, err := websocket.Dial(context.Background(), url, &websocket.DialOptions{
		HTTPClient: client,
		HTTPHeader: http.Header{"Authorization": {"Bearer k"}, "X-Daytona-Sdk-Version": {"0.218.0"}},
	})
	if err != nil {
		t.Fatalf("dial through the validating transport: %v", err)
	}
	_, msg, err := c.Read(context.Background())
	if err != nil || string(msg) != "\x01\x01\x01hi\n" {
		t.Fatalf("read = %q, %v", msg, err)
	}
	_, _, err = c.Read(context.Background())
	if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("close = %v", err)
	}
	srv.Close()
	if vs := rec.Violations(); len(vs) != 0 {
		t.Fatalf("violations: %v", vs)
	}

	// The request half is still validated: a bad query value is caught.
	bad := strings.Replace(url, "follow=true", "follow=maybe", 1)
	srv2 := httptest.NewServer(h)
	defer srv2.Close()
	bad = "ws" + strings.TrimPrefix(srv2.URL, "http") + bad[strings.Index(bad, "/toolbox"):]
	c2, _, err := websocket.Dial(context.Background(), bad, &websocket.DialOptions{HTTPClient: client, HTTPHeader: http.Header{"Authorization": {"Bearer k"}}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	_ = c2.CloseNow()
	if vs := rec.Violations(); len(vs) != 1 || !strings.Contains(vs[0].Error(), `parameter "follow" in query`) || vs[0].Status != 101 {
		t.Fatalf("violations = %v, want one about follow with status 101", vs)
	}
}

// Go's server sniffs a Content-Type when a handler sets none; JSON is
// sniffed as text/plain, which both wrappers must flag.
func TestSniffedContentType(t *testing.T) {
	spec := Load(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"exitCode":0,"result":""}`)
	})
	for _, m := range []mode{viaTransport, viaMiddleware} {
		t.Run(string(m), func(t *testing.T) {
			rec := &Recorder{}
			client := &http.Client{}
			var srv *httptest.Server
			if m == viaTransport {
				srv = httptest.NewServer(h)
				client.Transport = spec.Transport(t, nil, RecordTo(rec))
			} else {
				srv = httptest.NewServer(spec.Middleware(t, h, RecordTo(rec)))
			}
			req, _ := http.NewRequest("POST", srv.URL+"/toolbox/s/process/execute", strings.NewReader(`{"command":"true"}`))
			req.Header.Set("Authorization", "Bearer k")
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			srv.Close()
			checkViolations(t, rec.Violations(), []want{{PhaseResponse, 200, `text/plain; charset=utf-8`}})
		})
	}
}

// failingBody yields some bytes and then an error.
type failingBody struct{ r io.Reader }

func (f *failingBody) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}
func (f *failingBody) Close() error { return nil }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A response body cut short reaches the consumer with the same bytes and
// the same error, and is not reported as a spec violation.
func TestTransportPassesReadErrorsThrough(t *testing.T) {
	spec := Load(t)
	rec := &Recorder{}
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{
			StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: &failingBody{r: strings.NewReader(`{"exitCode":0,`)}, Request: r,
		}, nil
	})
	client := &http.Client{Transport: spec.Transport(t, base, RecordTo(rec))}
	req, _ := http.NewRequest("POST", "http://127.0.0.1:1/toolbox/s/process/execute", strings.NewReader(`{"command":"true"}`))
	req.Header.Set("Authorization", "Bearer k")
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if string(got) != `{"exitCode":0,` || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("body = %q, %v; want the partial body and io.ErrUnexpectedEOF", got, err)
	}
	if vs := rec.Violations(); len(vs) != 0 {
		t.Fatalf("violations: %v", vs)
	}
}

// CheckRequest leaves the body readable for the real consumer.
func TestCheckRequestRestoresBody(t *testing.T) {
	spec := Load(t)
	const body = `{"command":"echo hi"}`
	req := httptest.NewRequest("POST", "/toolbox/s/process/execute", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer k")
	req.Header.Set("Content-Type", "application/json")
	if vs := spec.CheckRequest(req); len(vs) != 0 {
		t.Fatalf("violations: %v", vs)
	}
	got, err := io.ReadAll(req.Body)
	if err != nil || string(got) != body {
		t.Fatalf("body after CheckRequest = %q, %v", got, err)
	}
	vs := spec.CheckResponse(req, 200, http.Header{"Content-Type": {"application/json"}}, []byte(`{"exitCode":0}`))
	if len(vs) != 1 || vs[0].Status != 200 || vs[0].Operation != "POST /process/execute" || vs[0].API != ToolboxAPI {
		t.Fatalf("CheckResponse = %v, want one violation for the missing result", vs)
	}
}

// Without RecordTo, violations fail the test through tb.Errorf.
func TestViolationsFailTheTest(t *testing.T) {
	spec := Load(t)
	tb := &errorfTB{TB: t}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	client := &http.Client{Transport: spec.Transport(tb, nil)}
	req, _ := http.NewRequest("GET", srv.URL+"/api/sandbox/x", nil)
	req.Header.Set("Authorization", "Bearer secret-key-canary")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	msgs := tb.messages()
	if len(msgs) != 1 {
		t.Fatalf("Errorf calls = %q, want 1", msgs)
	}
	for _, s := range []string{"GET", "/api/sandbox/x", "status 200", `property "id" is missing`} {
		if !strings.Contains(msgs[0], s) {
			t.Errorf("message %q does not name %q", msgs[0], s)
		}
	}
	if strings.Contains(msgs[0], "secret-key-canary") {
		t.Errorf("message leaks the API key: %q", msgs[0])
	}
}

type errorfTB struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (e *errorfTB) Errorf(format string, a ...any) {
	e.mu.Lock()
	e.msgs = append(e.msgs, fmt.Sprintf(format, a...))
	e.mu.Unlock()
}

func (e *errorfTB) messages() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.msgs...)
}

// One Spec serves many goroutines at once (run with -race).
func TestConcurrentUse(t *testing.T) {
	spec := Load(t)
	rec := &Recorder{}
	srv := httptest.NewServer(spec.Middleware(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"exitCode":0,"result":"ok"}`)
	}), RecordTo(rec)))
	defer srv.Close()
	client := &http.Client{Transport: spec.Transport(t, nil, RecordTo(rec))}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			body := fmt.Sprintf(`{"command":"echo %d"}`, i)
			if i%4 == 0 {
				body = `{"command":1}`
			}
			req, _ := http.NewRequest("POST", srv.URL+"/toolbox/s/process/execute", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer k")
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		})
	}
	wg.Wait()
	srv.Close()
	// 4 bad requests, each seen by the transport and the middleware.
	if n := len(rec.Violations()); n != 8 {
		t.Fatalf("violations = %d, want 8: %v", n, rec.Violations())
	}
}
