package daytona

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func intp(v int) *int { return &v }

// TestOperationShapes checks, for every operation, the request the client
// sends (method, path, query, headers, body) and how it reads the answer.
func TestOperationShapes(t *testing.T) {
	const sb = "sb-1"
	tests := []struct {
		name      string
		run       func(ctx context.Context, c *Client) (any, error)
		status    int
		respType  string
		respBody  string
		method    string
		path      string
		query     url.Values
		body      string // expected JSON body; "" = empty
		check     func(t *testing.T, got any)
		noToolbox bool
	}{
		{
			name: "create from snapshot",
			run: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateSandbox(ctx, CreateSandboxParams{
					Name: "ss-1", Snapshot: "daytona-small", Env: map[string]string{"A": "1"},
					Labels: map[string]string{"sandstep.id": "ss-1"}, AutoStopInterval: intp(0),
					AutoDeleteInterval: intp(30), TTLMinutes: intp(120), User: "daytona",
				})
			},
			status: 200, respBody: `{"id":"sb-9","organizationId":"o","name":"ss-1","user":"daytona","env":{},"labels":{},"public":false,"networkBlockAll":false,"target":"eu","cpu":1,"gpu":0,"memory":1,"disk":3,"state":"creating","toolboxProxyUrl":"https://proxy.example/toolbox"}`,
			method: "POST", path: "/sandbox",
			body: `{"name":"ss-1","snapshot":"daytona-small","user":"daytona","env":{"A":"1"},"labels":{"sandstep.id":"ss-1"},"target":"eu","autoStopInterval":0,"autoDeleteInterval":30,"ttlMinutes":120}`,
			check: func(t *testing.T, got any) {
				s := got.(*Sandbox)
				if s.ID != "sb-9" || s.State != StateCreating || s.ToolboxProxyURL != "https://proxy.example/toolbox" || s.CPU != 1 {
					t.Errorf("sandbox = %+v", s)
				}
			},
		},
		{
			name: "create from image with resources",
			run: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateSandbox(ctx, CreateSandboxParams{
					Name: "ss-2", Image: "python:3.12-slim", Target: "us",
					Resources: &Resources{CPU: 2, MemoryGiB: 4, DiskGiB: 8},
				})
			},
			status: 200, respBody: `{"id":"sb-2","name":"ss-2","state":"pending_build","toolboxProxyUrl":""}`,
			method: "POST", path: "/sandbox",
			body: `{"name":"ss-2","target":"us","cpu":2,"memory":4,"disk":8,"buildInfo":{"dockerfileContent":"FROM python:3.12-slim\n"}}`,
			check: func(t *testing.T, got any) {
				if s := got.(*Sandbox); s.State != StatePendingBuild {
					t.Errorf("state = %q", s.State)
				}
			},
		},
		{
			name: "create with allow lists",
			run: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateSandbox(ctx, CreateSandboxParams{
					Name: "ss-3", NetworkAllowList: []string{"10.0.0.0/8", "203.0.113.7/32"}, DomainAllowList: []string{"github.com", "*.pypi.org"},
				})
			},
			status: 200, respBody: `{"id":"sb-3","name":"ss-3","networkBlockAll":false,"networkAllowList":"10.0.0.0/8,203.0.113.7/32","domainAllowList":"github.com,*.pypi.org","toolboxProxyUrl":""}`,
			method: "POST", path: "/sandbox",
			body: `{"name":"ss-3","networkAllowList":"10.0.0.0/8,203.0.113.7/32","domainAllowList":"github.com,*.pypi.org","target":"eu"}`,
			check: func(t *testing.T, got any) {
				if s := got.(*Sandbox); s.NetworkAllowList != "10.0.0.0/8,203.0.113.7/32" || s.DomainAllowList != "github.com,*.pypi.org" {
					t.Errorf("sandbox = %+v", s)
				}
			},
		},
		{
			name: "create with all traffic blocked",
			run: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateSandbox(ctx, CreateSandboxParams{Name: "ss-4", NetworkBlockAll: true})
			},
			status: 200, respBody: `{"id":"sb-4","name":"ss-4","networkBlockAll":true,"toolboxProxyUrl":""}`,
			method: "POST", path: "/sandbox",
			body: `{"name":"ss-4","networkBlockAll":true,"target":"eu"}`,
			check: func(t *testing.T, got any) {
				if s := got.(*Sandbox); !s.NetworkBlockAll {
					t.Errorf("sandbox = %+v", s)
				}
			},
		},
		{
			name:   "get by name",
			run:    func(ctx context.Context, c *Client) (any, error) { return c.GetSandbox(ctx, "ss 1?x") },
			status: 200, respBody: `{"id":"sb-1","name":"ss 1","state":"started","errorReason":"","toolboxProxyUrl":"http://p/t"}`,
			method: "GET", path: "/sandbox/ss%201%3Fx",
			check: func(t *testing.T, got any) {
				if s := got.(*Sandbox); s.ID != "sb-1" || s.State != StateStarted {
					t.Errorf("sandbox = %+v", s)
				}
			},
		},
		{
			name: "list by labels and states",
			run: func(ctx context.Context, c *Client) (any, error) {
				return c.ListSandboxes(ctx, ListSandboxesOptions{
					Labels: map[string]string{"owner": "u1", "app": "sandstep"},
					States: []SandboxState{StateStarted, StateStopped}, Limit: 50, Cursor: "abc",
				})
			},
			status: 200, respBody: `{"items":[{"id":"a","name":"n","state":"started","labels":{"owner":"u1"},"toolboxProxyUrl":"http://p"}],"nextCursor":null}`,
			method: "GET", path: "/sandbox",
			query: url.Values{"labels": {`{"app":"sandstep","owner":"u1"}`}, "states": {"started", "stopped"}, "limit": {"50"}, "cursor": {"abc"}},
			check: func(t *testing.T, got any) {
				p := got.(*ListSandboxesResponse)
				if len(p.Items) != 1 || p.Items[0].ID != "a" || p.NextCursor != "" || p.Items[0].Labels["owner"] != "u1" {
					t.Errorf("page = %+v", p)
				}
			},
		},
		{
			name:   "delete",
			run:    func(ctx context.Context, c *Client) (any, error) { return c.DeleteSandbox(ctx, "sb-1") },
			status: 200, respBody: `{"id":"sb-1","name":"n","state":"destroying","desiredState":"destroyed","toolboxProxyUrl":""}`,
			method: "DELETE", path: "/sandbox/sb-1",
			check: func(t *testing.T, got any) {
				if s := got.(*Sandbox); s.DesiredState != DesiredDestroyed {
					t.Errorf("desired = %q", s.DesiredState)
				}
			},
		},
		{
			name:   "delete with empty body",
			run:    func(ctx context.Context, c *Client) (any, error) { return c.DeleteSandbox(ctx, "sb-1") },
			status: 200, method: "DELETE", path: "/sandbox/sb-1",
			check: func(t *testing.T, got any) {
				if s := got.(*Sandbox); s != nil {
					t.Errorf("sandbox = %+v, want nil", s)
				}
			},
		},
		{
			name:   "start",
			run:    func(ctx context.Context, c *Client) (any, error) { return c.StartSandbox(ctx, "sb-1") },
			status: 200, respBody: `{"id":"sb-1","state":"starting"}`,
			method: "POST", path: "/sandbox/sb-1/start",
		},
		{
			name:   "refresh activity",
			run:    func(ctx context.Context, c *Client) (any, error) { return nil, c.RefreshActivity(ctx, "sb-1") },
			status: 201, method: "POST", path: "/sandbox/sb-1/last-activity",
		},
		{
			name:   "toolbox proxy url lookup",
			run:    func(ctx context.Context, c *Client) (any, error) { return c.ToolboxBaseURL(ctx, "sb-7") },
			status: 200, respBody: `{"url":"https://proxy.example/toolbox/"}`,
			method: "GET", path: "/sandbox/sb-7/toolbox-proxy-url",
			check: func(t *testing.T, got any) {
				if got.(string) != "https://proxy.example/toolbox/sb-7" {
					t.Errorf("base = %q", got)
				}
			},
			noToolbox: true,
		},
		{
			name: "execute with default timeout",
			run: func(ctx context.Context, c *Client) (any, error) {
				return c.ExecuteCommand(ctx, sb, ExecuteRequest{Command: "echo hi", Cwd: "/work", Envs: map[string]string{"X": "y"}})
			},
			status: 200, respBody: `{"exitCode":3,"result":"hi\n"}`,
			method: "POST", path: "/toolbox/sb-1/process/execute",
			body: `{"command":"echo hi","cwd":"/work","envs":{"X":"y"},"timeout":60}`,
			check: func(t *testing.T, got any) {
				if r := got.(*ExecuteResponse); r.ExitCode != 3 || r.Result != "hi\n" || r.Truncated {
					t.Errorf("response = %+v", r)
				}
			},
		},
		{
			name: "execute with timeout",
			run: func(ctx context.Context, c *Client) (any, error) {
				return c.ExecuteCommand(ctx, sb, ExecuteRequest{Command: "true", Timeout: 7})
			},
			status: 200, respBody: `{"result":"","exitCode":0}`,
			method: "POST", path: "/toolbox/sb-1/process/execute",
			body: `{"command":"true","timeout":7}`,
		},
		{
			name:   "create session",
			run:    func(ctx context.Context, c *Client) (any, error) { return nil, c.CreateSession(ctx, sb, "job-1") },
			status: 201, method: "POST", path: "/toolbox/sb-1/process/session",
			body: `{"sessionId":"job-1"}`,
		},
		{
			name: "session exec async",
			run: func(ctx context.Context, c *Client) (any, error) {
				return c.ExecuteSessionCommand(ctx, sb, "job-1", SessionExecuteRequest{Command: "make test", RunAsync: true})
			},
			status: 202, respBody: `{"cmdId":"cmd-1"}`,
			method: "POST", path: "/toolbox/sb-1/process/session/job-1/exec",
			body: `{"command":"make test","runAsync":true}`,
			check: func(t *testing.T, got any) {
				if r := got.(*SessionExecuteResponse); r.CmdID != "cmd-1" || r.ExitCode != nil {
					t.Errorf("response = %+v", r)
				}
			},
		},
		{
			name: "session exec sync",
			run: func(ctx context.Context, c *Client) (any, error) {
				return c.ExecuteSessionCommand(ctx, sb, "job-1", SessionExecuteRequest{Command: "ls", SuppressInputEcho: true})
			},
			status: 200, respBody: `{"cmdId":"cmd-2","output":"\u0001\u0001\u0001a\n","stdout":"a\n","stderr":"","exitCode":0}`,
			method: "POST", path: "/toolbox/sb-1/process/session/job-1/exec",
			body: `{"command":"ls","suppressInputEcho":true}`,
			check: func(t *testing.T, got any) {
				r := got.(*SessionExecuteResponse)
				if r.CmdID != "cmd-2" || r.Stdout != "a\n" || r.ExitCode == nil || *r.ExitCode != 0 || r.Output != "\x01\x01\x01a\n" {
					t.Errorf("response = %+v", r)
				}
			},
		},
		{
			name: "session command running",
			run: func(ctx context.Context, c *Client) (any, error) {
				return c.GetSessionCommand(ctx, sb, "job-1", "cmd-1")
			},
			status: 200, respBody: `{"id":"cmd-1","command":"make test"}`,
			method: "GET", path: "/toolbox/sb-1/process/session/job-1/command/cmd-1",
			check: func(t *testing.T, got any) {
				if r := got.(*Command); r.ExitCode != nil || r.ID != "cmd-1" {
					t.Errorf("command = %+v", r)
				}
			},
		},
		{
			name: "session command finished",
			run: func(ctx context.Context, c *Client) (any, error) {
				return c.GetSessionCommand(ctx, sb, "job-1", "cmd-1")
			},
			status: 200, respBody: `{"id":"cmd-1","command":"make test","exitCode":2}`,
			method: "GET", path: "/toolbox/sb-1/process/session/job-1/command/cmd-1",
			check: func(t *testing.T, got any) {
				if r := got.(*Command); r.ExitCode == nil || *r.ExitCode != 2 {
					t.Errorf("command = %+v", r)
				}
			},
		},
		{
			name: "session logs json",
			run: func(ctx context.Context, c *Client) (any, error) {
				return c.GetSessionCommandLogs(ctx, sb, "job-1", "cmd-1")
			},
			status: 200, respBody: `{"output":"\u0001\u0001\u0001o\n\u0002\u0002\u0002e\n","stdout":"o\n","stderr":"e\n"}`,
			method: "GET", path: "/toolbox/sb-1/process/session/job-1/command/cmd-1/logs",
			check: func(t *testing.T, got any) {
				r := got.(*SessionCommandLogs)
				if r.Stdout != "o\n" || r.Stderr != "e\n" || r.Output != "\x01\x01\x01o\n\x02\x02\x02e\n" {
					t.Errorf("logs = %+v", r)
				}
			},
		},
		{
			name: "session logs plain text (old daemon)",
			run: func(ctx context.Context, c *Client) (any, error) {
				return c.GetSessionCommandLogs(ctx, sb, "job-1", "cmd-1")
			},
			status: 200, respType: "text/plain; charset=utf-8", respBody: "\x01\x01\x01out\n\x02\x02\x02err\n",
			method: "GET", path: "/toolbox/sb-1/process/session/job-1/command/cmd-1/logs",
			check: func(t *testing.T, got any) {
				r := got.(*SessionCommandLogs)
				if r.Stdout != "out\n" || r.Stderr != "err\n" {
					t.Errorf("logs = %+v", r)
				}
			},
		},
		{
			name:   "delete session",
			run:    func(ctx context.Context, c *Client) (any, error) { return nil, c.DeleteSession(ctx, sb, "job-1") },
			status: 204, method: "DELETE", path: "/toolbox/sb-1/process/session/job-1",
		},
		{
			name: "download",
			run: func(ctx context.Context, c *Client) (any, error) {
				var b bytes.Buffer
				n, err := c.DownloadFile(ctx, sb, "/work/out file.txt", &b)
				return fmt.Sprintf("%d:%s", n, b.String()), err
			},
			status: 200, respType: "application/octet-stream", respBody: "\x00bytes\xff",
			method: "GET", path: "/toolbox/sb-1/files/download", query: url.Values{"path": {"/work/out file.txt"}},
			check: func(t *testing.T, got any) {
				if got.(string) != "7:\x00bytes\xff" {
					t.Errorf("download = %q", got)
				}
			},
		},
		{
			name: "git clone",
			run: func(ctx context.Context, c *Client) (any, error) {
				return nil, c.GitClone(ctx, sb, GitCloneRequest{URL: "https://github.com/o/r.git", Path: "repo", Branch: "main", CommitID: "abc", Username: "x-access-token", Password: "tok"})
			},
			status: 200, method: "POST", path: "/toolbox/sb-1/git/clone",
			body: `{"url":"https://github.com/o/r.git","path":"repo","branch":"main","commit_id":"abc","username":"x-access-token","password":"tok"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				ct := tt.respType
				if ct == "" && tt.respBody != "" {
					ct = "application/json"
				}
				if ct != "" {
					w.Header().Set("Content-Type", ct)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.respBody)
			})
			c := toolboxClient(t, f, sb, func(cfg *Config) { cfg.Target = "eu" })
			got, err := tt.run(context.Background(), c)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1: %+v", len(reqs), reqs)
			}
			r := reqs[0]
			if r.Method != tt.method || r.Path != tt.path {
				t.Errorf("request = %s %s, want %s %s", r.Method, r.Path, tt.method, tt.path)
			}
			wantQuery := tt.query
			if wantQuery == nil {
				wantQuery = url.Values{}
			}
			if !reflect.DeepEqual(r.Query, wantQuery) {
				t.Errorf("query = %v, want %v", r.Query, wantQuery)
			}
			checkSDKHeaders(t, r.Header)
			if tt.body == "" {
				if len(r.Body) != 0 {
					t.Errorf("body = %q, want none", r.Body)
				}
			} else {
				if ct := r.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
				jsonEqual(t, r.Body, tt.body)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func checkSDKHeaders(t *testing.T, h http.Header) {
	t.Helper()
	want := map[string]string{
		"Authorization":         "Bearer " + testKey,
		"X-Daytona-Source":      "sdk-go",
		"X-Daytona-Sdk-Version": SDKVersion,
		"User-Agent":            "sdk-go/" + SDKVersion,
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func TestListAllSandboxesWalksPages(t *testing.T) {
	pages := map[string]string{
		"":   `{"items":[{"id":"a"},{"id":"b"}],"nextCursor":"c1"}`,
		"c1": `{"items":[{"id":"c"}],"nextCursor":"c2"}`,
		"c2": `{"items":[],"nextCursor":""}`,
	}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, pages[r.URL.Query().Get("cursor")])
	})
	c := newClient(t, f.URL)
	items, err := c.ListAllSandboxes(context.Background(), ListSandboxesOptions{Labels: map[string]string{"o": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	if strings.Join(ids, ",") != "a,b,c" {
		t.Errorf("ids = %v", ids)
	}
	for _, r := range f.requests() {
		if r.Query.Get("labels") != `{"o":"1"}` {
			t.Errorf("page request lost the labels filter: %v", r.Query)
		}
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestListAllSandboxesStopsOnRepeatedCursor(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"items":[{"id":"a"}],"nextCursor":"same"}`)
	})
	c := newClient(t, f.URL)
	_, err := c.ListAllSandboxes(context.Background(), ListSandboxesOptions{})
	if err == nil || !strings.Contains(err.Error(), "repeated") {
		t.Fatalf("err = %v, want repeated-cursor error", err)
	}
}

func TestToolboxProxyURLFetchedOnceAndCached(t *testing.T) {
	var f *fake
	f = newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		switch {
		case r.URL.Path == "/sandbox/sb-3/toolbox-proxy-url":
			writeJSON(w, 200, map[string]string{"url": f.URL + "/toolbox"})
		case r.URL.Path == "/toolbox/sb-3/process/execute":
			writeJSON(w, 200, map[string]any{"exitCode": 0, "result": "ok"})
		default:
			http.NotFound(w, r)
		}
	})
	c := newClient(t, f.URL)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.ExecuteCommand(context.Background(), "sb-3", ExecuteRequest{Command: "true"})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Concurrent first calls may each look it up; after that it is cached.
	before := f.count("GET", "/sandbox/sb-3/toolbox-proxy-url")
	if before < 1 {
		t.Fatalf("proxy URL never fetched")
	}
	if _, err := c.ExecuteCommand(context.Background(), "sb-3", ExecuteRequest{Command: "true"}); err != nil {
		t.Fatal(err)
	}
	if after := f.count("GET", "/sandbox/sb-3/toolbox-proxy-url"); after != before {
		t.Errorf("proxy URL fetched again: %d -> %d", before, after)
	}
	if n := f.count("POST", "/toolbox/sb-3/process/execute"); n != 17 {
		t.Errorf("%d executes, want 17", n)
	}
}

func TestToolboxRoutingFollowsRefreshedSandbox(t *testing.T) {
	var f *fake
	proxy := "/region-a"
	f = newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		switch {
		case r.URL.Path == "/sandbox/sb-4":
			writeJSON(w, 200, sandboxJSON("sb-4", "n", StateStarted, f.URL+proxy+"/"))
		case strings.HasSuffix(r.URL.Path, "/process/execute"):
			writeJSON(w, 200, map[string]any{"exitCode": 0, "result": r.URL.Path})
		default:
			http.NotFound(w, r)
		}
	})
	c := newClient(t, f.URL)
	ctx := context.Background()
	for _, region := range []string{"/region-a", "/region-b"} {
		proxy = region
		if _, err := c.GetSandbox(ctx, "sb-4"); err != nil {
			t.Fatal(err)
		}
		res, err := c.ExecuteCommand(ctx, "sb-4", ExecuteRequest{Command: "true"})
		if err != nil {
			t.Fatal(err)
		}
		if want := region + "/sb-4/process/execute"; res.Result != want {
			t.Errorf("executed at %q, want %q", res.Result, want)
		}
	}
}

func TestValidationBeforeAnyRequest(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { w.WriteHeader(500) })
	c := toolboxClient(t, f, "sb-1")
	ctx := context.Background()
	tests := []struct {
		name  string
		run   func() error
		field string
	}{
		{"empty id", func() error { _, err := c.GetSandbox(ctx, ""); return err }, "sandboxIdOrName"},
		{"slash", func() error { _, err := c.GetSandbox(ctx, "a/b"); return err }, "sandboxIdOrName"},
		{"dotdot", func() error { _, err := c.DeleteSandbox(ctx, ".."); return err }, "sandboxIdOrName"},
		{"dotdot inside", func() error { _, err := c.StartSandbox(ctx, "a..b"); return err }, "sandboxIdOrName"},
		{"dot", func() error { _, err := c.DeleteSandbox(ctx, "."); return err }, "sandboxIdOrName"},
		{"control char", func() error { return c.RefreshActivity(ctx, "a\nb") }, "sandboxID"},
		{"backslash", func() error { _, err := c.WaitUntilStarted(ctx, `a\b`); return err }, "sandboxID"},
		{"invalid utf8", func() error { _, err := c.GetSandbox(ctx, "a\xffb"); return err }, "sandboxIdOrName"},
		{"session id", func() error { return c.CreateSession(ctx, "sb-1", "../x") }, "sessionID"},
		{"command id", func() error { _, err := c.GetSessionCommand(ctx, "sb-1", "s", ""); return err }, "commandID"},
		{"toolbox sandbox id", func() error {
			_, err := c.ExecuteCommand(ctx, "sb/1", ExecuteRequest{Command: "x"})
			return err
		}, "sandboxID"},
		{"empty command", func() error { _, err := c.ExecuteCommand(ctx, "sb-1", ExecuteRequest{Command: " "}); return err }, "Command"},
		{"negative timeout", func() error {
			_, err := c.ExecuteCommand(ctx, "sb-1", ExecuteRequest{Command: "x", Timeout: -1})
			return err
		}, "Timeout"},
		{"empty session command", func() error {
			_, err := c.ExecuteSessionCommand(ctx, "sb-1", "s", SessionExecuteRequest{})
			return err
		}, "Command"},
		{"no files", func() error { return c.UploadFiles(ctx, "sb-1", nil) }, "files"},
		{"empty upload path", func() error {
			return c.UploadFiles(ctx, "sb-1", []UploadFile{{Path: "", Content: strings.NewReader("")}})
		}, "files[0].Path"},
		{"empty download path", func() error { _, err := c.DownloadFile(ctx, "sb-1", "", io.Discard); return err }, "path"},
		{"clone url", func() error { return c.GitClone(ctx, "sb-1", GitCloneRequest{Path: "x"}) }, "URL"},
		{"list limit", func() error { _, err := c.ListSandboxes(ctx, ListSandboxesOptions{Limit: 500}); return err }, "Limit"},
		{"snapshot and image", func() error {
			_, err := c.CreateSandbox(ctx, CreateSandboxParams{Snapshot: "s", Image: "i"})
			return err
		}, "Image"},
		{"resources with snapshot", func() error {
			_, err := c.CreateSandbox(ctx, CreateSandboxParams{Snapshot: "s", Resources: &Resources{CPU: 2}})
			return err
		}, "Resources"},
		{"image with newline", func() error {
			_, err := c.CreateSandbox(ctx, CreateSandboxParams{Image: "alpine\nRUN evil"})
			return err
		}, "Image"},
		{"bad name", func() error { _, err := c.CreateSandbox(ctx, CreateSandboxParams{Name: "a/b"}); return err }, "Name"},
		{"comma in a CIDR", func() error {
			_, err := c.CreateSandbox(ctx, CreateSandboxParams{NetworkAllowList: []string{"10.0.0.0/8", "1.2.3.0/24,5.6.7.0/24"}})
			return err
		}, "NetworkAllowList[1]"},
		{"empty domain", func() error {
			_, err := c.CreateSandbox(ctx, CreateSandboxParams{DomainAllowList: []string{""}})
			return err
		}, "DomainAllowList[0]"},
		{"space in a domain", func() error {
			_, err := c.CreateSandbox(ctx, CreateSandboxParams{DomainAllowList: []string{"a.com b.com"}})
			return err
		}, "DomainAllowList[0]"},
		{"negative interval", func() error {
			_, err := c.CreateSandbox(ctx, CreateSandboxParams{AutoStopInterval: intp(-5)})
			return err
		}, "AutoStopInterval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			if ve.Field != tt.field {
				t.Errorf("field = %q, want %q (%v)", ve.Field, tt.field, err)
			}
		})
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests were sent for invalid input", n)
	}
}

// A proxy URL a record kept spares the lookup; one the client has seen in
// a sandbox's own DTO is fresher and stays. A told URL that fails a call
// the sandbox cannot have seen is checked: a stale one is replaced and the
// call goes again through Daytona's; a genuine failure stands.
func TestKnowToolbox(t *testing.T) {
	tests := []struct {
		name      string
		seenFirst bool   // the client has read the sandbox's DTO before
		told      string // the proxy URL the client is told, under the fake's URL
		calls     int    // commands run one after another
		wantErr   bool   // the first command fails
		// wantLookups of the proxy URL; wantPaths: the commands' requests.
		wantLookups int
		wantPaths   map[string]int
	}{
		{name: "told, not seen", told: "/right", calls: 2,
			wantPaths: map[string]int{"/right/sb-4/process/execute": 2}},
		{name: "seen, then told", seenFirst: true, told: "/stale", calls: 1,
			wantPaths: map[string]int{"/right/sb-4/process/execute": 1}},
		{name: "told a stale URL", told: "/stale", calls: 2, wantLookups: 1,
			wantPaths: map[string]int{"/stale/sb-4/process/execute": 1, "/right/sb-4/process/execute": 2}},
		{name: "told the right URL, a genuine failure", told: "/broken", calls: 1, wantErr: true, wantLookups: 1,
			wantPaths: map[string]int{"/broken/sb-4/process/execute": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f *fake
			right := "/right"
			if tt.told == "/broken" {
				right = "/broken" // Daytona says the same: the failure is the sandbox's
			}
			f = newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				switch {
				case r.URL.Path == "/sandbox/sb-4":
					writeJSON(w, 200, sandboxJSON("sb-4", "n", StateStarted, f.URL+right))
				case r.URL.Path == "/sandbox/sb-4/toolbox-proxy-url":
					writeJSON(w, 200, map[string]string{"url": f.URL + right})
				case r.URL.Path == "/right/sb-4/process/execute":
					writeJSON(w, 200, map[string]any{"exitCode": 0, "result": "ok"})
				default:
					http.NotFound(w, r)
				}
			})
			c := newClient(t, f.URL, func(cfg *Config) { cfg.Retry.MaxAttempts = 1 })
			ctx := context.Background()
			if tt.seenFirst {
				if _, err := c.GetSandbox(ctx, "sb-4"); err != nil {
					t.Fatal(err)
				}
			}
			c.KnowToolbox("sb-4", f.URL+tt.told)
			for i := range tt.calls {
				_, err := c.ExecuteCommand(ctx, "sb-4", ExecuteRequest{Command: "true"})
				if i == 0 && tt.wantErr != (err != nil) {
					t.Fatalf("command %d: %v, want an error: %v", i, err, tt.wantErr)
				}
			}
			if n := f.count("GET", "/sandbox/sb-4/toolbox-proxy-url"); n != tt.wantLookups {
				t.Errorf("%d lookups of the proxy URL, want %d", n, tt.wantLookups)
			}
			got := map[string]int{}
			for _, r := range f.requests() {
				if strings.HasSuffix(r.Path, "/process/execute") {
					got[r.Path]++
				}
			}
			if !maps.Equal(got, tt.wantPaths) {
				t.Errorf("commands sent to %v, want %v", got, tt.wantPaths)
			}
		})
	}
}

// A told proxy URL never makes a call run twice: a call that may have
// reached the sandbox (a proxy timed out) is not sent again, and a
// streamed upload, which cannot go twice, goes through a checked URL.
func TestAToldToolboxSendsNothingTwice(t *testing.T) {
	tests := []struct {
		name string
		told string
		run  func(context.Context, *Client) error
		// wantSent: requests to each path; wantErr: the call fails.
		wantSent map[string]int
		wantErr  bool
	}{
		{name: "a command a proxy timed out", told: "/slow", wantErr: true,
			run: func(ctx context.Context, c *Client) error {
				_, err := c.ExecuteSessionCommand(ctx, "sb-5", "s1", SessionExecuteRequest{Command: "true"})
				return err
			},
			wantSent: map[string]int{"/slow/sb-5/process/session/s1/exec": 1}},
		{name: "a streamed upload through a stale URL", told: "/stale",
			run: func(ctx context.Context, c *Client) error {
				return c.UploadFiles(ctx, "sb-5", []UploadFile{{Path: "a.txt", Content: strings.NewReader("a")}})
			},
			wantSent: map[string]int{"/right/sb-5/files/bulk-upload": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f *fake
			f = newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				switch {
				case r.URL.Path == "/sandbox/sb-5/toolbox-proxy-url":
					writeJSON(w, 200, map[string]string{"url": f.URL + "/right"})
				case strings.HasPrefix(r.URL.Path, "/slow/"):
					w.WriteHeader(http.StatusGatewayTimeout)
				case strings.HasPrefix(r.URL.Path, "/right/"):
					writeJSON(w, 200, map[string]any{"exitCode": 0})
				default:
					http.NotFound(w, r)
				}
			})
			c := newClient(t, f.URL, func(cfg *Config) { cfg.Retry.MaxAttempts = 1 })
			c.KnowToolbox("sb-5", f.URL+tt.told)
			if err := tt.run(context.Background(), c); (err != nil) != tt.wantErr {
				t.Fatalf("call: %v, want an error: %v", err, tt.wantErr)
			}
			got := map[string]int{}
			for _, r := range f.requests() {
				if strings.Contains(r.Path, "/sb-5/") && !strings.HasPrefix(r.Path, "/sandbox/") {
					got[r.Path]++
				}
			}
			if !maps.Equal(got, tt.wantSent) {
				t.Errorf("sent %v, want %v", got, tt.wantSent)
			}
		})
	}
}
