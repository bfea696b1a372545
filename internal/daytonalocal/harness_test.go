package daytonalocal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	testToken  = "test-token"
	sdkVersion = "0.218.0"
)

// harness is a Server behind a real HTTP listener on 127.0.0.1, driven only
// through HTTP (plus the exported fault API).
type harness struct {
	t    testing.TB
	srv  *Server
	ts   *httptest.Server
	opts Options
	url  string // instead of srv and ts: a server in another process
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	if opts.Root == "" {
		opts.Root = t.TempDir()
	}
	if opts.FollowIdleClose == 0 {
		opts.FollowIdleClose = 100 * time.Millisecond
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &harness{t: t, srv: srv, ts: ts, opts: opts}
}

// restart closes the server and starts a new one on the same root.
func (h *harness) restart() *harness {
	h.t.Helper()
	h.ts.Close()
	if err := h.srv.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
	return newHarness(h.t.(*testing.T), h.opts)
}

// reply is a response read in full.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %d body %q: %v", r.status, r.body, err)
	}
	return m
}

func (r reply) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %d body %q: %v", r.status, r.body, err)
	}
}

// request sends a request; body is JSON-encoded unless it is an
// io.Reader. hdr adds headers (Authorization defaults to the test token).
func (h *harness) request(method, path string, body any, hdr map[string]string) reply {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd = b
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			h.t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(enc)
	}
	base, client := h.url, http.DefaultClient
	if h.ts != nil {
		base, client = h.ts.URL, h.ts.Client()
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		h.t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if body != nil {
		if _, isReader := body.(io.Reader); !isReader {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("read %s %s: %v", method, path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func (h *harness) api(method, path string, body any) reply {
	h.t.Helper()
	return h.request(method, "/api"+path, body, nil)
}

// tb calls a sandbox's toolbox with the SDK version header.
func (h *harness) tb(id, method, path string, body any) reply {
	h.t.Helper()
	return h.request(method, "/toolbox/"+id+path, body, map[string]string{"X-Daytona-SDK-Version": sdkVersion})
}

// testSandbox is the part of Sandbox the tests read.
type testSandbox struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	State           string            `json:"state"`
	DesiredState    string            `json:"desiredState"`
	ErrorReason     string            `json:"errorReason"`
	Labels          map[string]string `json:"labels"`
	Env             map[string]string `json:"env"`
	CPU             int               `json:"cpu"`
	AutoStop        int               `json:"autoStopInterval"`
	AutoDelete      int               `json:"autoDeleteInterval"`
	AutoDestroyAt   string            `json:"autoDestroyAt"`
	CreatedAt       string            `json:"createdAt"`
	ToolboxProxyURL string            `json:"toolboxProxyUrl"`
	NetworkBlockAll bool              `json:"networkBlockAll"`
	NetworkAllow    string            `json:"networkAllowList"`
	DomainAllow     string            `json:"domainAllowList"`
}

func (h *harness) create(body map[string]any) testSandbox {
	h.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	r := h.api("POST", "/sandbox", body)
	if r.status != http.StatusOK {
		h.t.Fatalf("create: status %d body %s", r.status, r.body)
	}
	var sb testSandbox
	r.decode(h.t, &sb)
	return sb
}

func (h *harness) get(idOrName string) (testSandbox, int) {
	h.t.Helper()
	r := h.api("GET", "/sandbox/"+idOrName, nil)
	var sb testSandbox
	if r.status == http.StatusOK {
		r.decode(h.t, &sb)
	}
	return sb, r.status
}

// workDir asks the toolbox for the sandbox's work directory.
func (h *harness) workDir(id string) string {
	h.t.Helper()
	r := h.tb(id, "GET", "/work-dir", nil)
	if r.status != http.StatusOK {
		h.t.Fatalf("work-dir: %d %s", r.status, r.body)
	}
	var d struct{ Dir string }
	r.decode(h.t, &d)
	return d.Dir
}

// execute runs a command through /process/execute and fails on non-200.
func (h *harness) execute(id, command string) (int, string) {
	h.t.Helper()
	r := h.tb(id, "POST", "/process/execute", map[string]any{"command": command, "timeout": 30})
	if r.status != http.StatusOK {
		h.t.Fatalf("execute %q: %d %s", command, r.status, r.body)
	}
	var res struct {
		ExitCode int    `json:"exitCode"`
		Result   string `json:"result"`
	}
	r.decode(h.t, &res)
	return res.ExitCode, res.Result
}

// upload sends files through /files/bulk-upload.
func (h *harness) upload(id string, files map[string]string) reply {
	h.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	i := 0
	for p, content := range files {
		idx := strconv.Itoa(i)
		if err := mw.WriteField("files["+idx+"].path", p); err != nil {
			h.t.Fatal(err)
		}
		fw, err := mw.CreateFormFile("files["+idx+"].file", filepath.Base(p))
		if err != nil {
			h.t.Fatal(err)
		}
		if _, err := io.WriteString(fw, content); err != nil {
			h.t.Fatal(err)
		}
		i++
	}
	if err := mw.Close(); err != nil {
		h.t.Fatal(err)
	}
	return h.request("POST", "/toolbox/"+id+"/files/bulk-upload", &buf,
		map[string]string{"Content-Type": mw.FormDataContentType()})
}

func (h *harness) download(id, p string) reply {
	h.t.Helper()
	return h.tb(id, "GET", "/files/download?path="+urlQuery(p), nil)
}

func urlQuery(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", " ", "%20", "#", "%23", "?", "%3F").Replace(s)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// groupGone reports whether no live process is left in a process group:
// kill(-pgid, 0) fails with ESRCH, or the only members left are zombies
// waiting for init (which reaps orphans at its own pace) to collect them.
func groupGone(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	if errors.Is(err, syscall.ESRCH) {
		return true
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 {
			continue
		}
		if pg, _ := strconv.Atoi(f[2]); pg == pgid && f[0] != "Z" {
			return false
		}
	}
	return true
}

// readPID waits for a file holding a pid (written by a command) and
// returns it.
func (h *harness) readPID(id, p string) int {
	h.t.Helper()
	var pid int
	eventually(h.t, "pid file "+p, func() bool {
		r := h.download(id, p)
		if r.status != http.StatusOK {
			return false
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(r.body)))
		pid = n
		return err == nil && n > 0
	})
	return pid
}

// fakeClock is a settable clock for Options.Clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
