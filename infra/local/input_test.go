package local

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// apiError is an API error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

func (r response) apiError(t *testing.T) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	return e
}

// Files that need one path to be a file and a directory are refused
// before anything is made, naming the file, with no host path anywhere.
func TestConflictingFilesEndToEnd(t *testing.T) {
	s := startStack(t, nil)
	for _, files := range [][]string{{"a", "a/b"}, {"a/b", "a"}} {
		var body []map[string]string
		for _, p := range files {
			body = append(body, map[string]string{"path": p, "contentBase64": b64("x")})
		}
		for _, route := range []string{"/sandboxes", "/api/agent/execute"} {
			req := map[string]any{"files": body}
			if route == "/api/agent/execute" {
				req["command"] = "true"
			}
			res := s.as("alice", http.MethodPost, route, req)
			e := res.apiError(t)
			if res.status != http.StatusBadRequest || e.Error.Code != "invalid_input" || e.Error.Field != "files[1].path" {
				t.Errorf("%s %v: %d %s, want 400 naming files[1].path", route, files, res.status, res.body)
			}
			if strings.Contains(string(res.body), s.root) || strings.Contains(string(res.body), os.TempDir()) {
				t.Errorf("%s %v: the answer names a host path: %s", route, files, res.body)
			}
		}
	}
	var page struct{ Items []sandboxJSON }
	s.as("alice", http.MethodGet, "/sandboxes?state=all", nil).decode(t, &page)
	if len(page.Items) != 0 {
		t.Errorf("sandboxes were made: %+v", page.Items)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.root, "daytona")); len(entries) != 0 {
		t.Errorf("the Daytona root holds %v", entries)
	}
}

// Files in the way of the clone are refused before anything is made,
// naming the file: at the local Daytona, git's own refusal named the
// host's path, with no field.
func TestFilesWhereGitClonesEndToEnd(t *testing.T) {
	s := startStack(t, nil)
	repo := "file://" + newGitRepo(t)
	tests := []struct {
		name, file, gitPath string
	}{
		{"a file inside git.path", "src/x", "src"},
		{"a file above git.path", "src", "src/in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := map[string]any{
				"files": []map[string]string{{"path": tt.file, "contentBase64": b64("x")}},
				"git":   map[string]string{"url": repo, "path": tt.gitPath},
			}
			res := s.as("alice", http.MethodPost, "/sandboxes", req)
			e := res.apiError(t)
			if res.status != http.StatusBadRequest || e.Error.Field != "files[0].path" {
				t.Errorf("%d %s, want 400 naming files[0].path", res.status, res.body)
			}
			if strings.Contains(string(res.body), s.root) || strings.Contains(string(res.body), os.TempDir()) {
				t.Errorf("the answer names a host path: %s", res.body)
			}
		})
	}
	if entries, _ := os.ReadDir(filepath.Join(s.root, "daytona")); len(entries) != 0 {
		t.Errorf("the Daytona root holds %v", entries)
	}
}

// A name longer than the file system takes is refused before anything is
// made, naming the field: at the local Daytona, the upload's or git's own
// refusal named the host's path, with no field.
func TestLongNamesEndToEnd(t *testing.T) {
	s := startStack(t, nil)
	repo := "file://" + newGitRepo(t)
	long := strings.Repeat("a", 256)
	tests := []struct {
		name  string
		req   map[string]any
		field string
	}{
		{"a file", map[string]any{"files": []map[string]string{{"path": "d/" + long, "contentBase64": b64("x")}}}, "files[0].path"},
		{"git.path", map[string]any{"git": map[string]string{"url": repo, "path": long}}, "git.path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s.as("alice", http.MethodPost, "/sandboxes", tt.req)
			e := res.apiError(t)
			if res.status != http.StatusBadRequest || e.Error.Field != tt.field {
				t.Errorf("%d %s, want 400 naming %s", res.status, res.body, tt.field)
			}
			if strings.Contains(string(res.body), s.root) || strings.Contains(string(res.body), os.TempDir()) {
				t.Errorf("the answer names a host path: %s", res.body)
			}
		})
	}
	if entries, _ := os.ReadDir(filepath.Join(s.root, "daytona")); len(entries) != 0 {
		t.Errorf("the Daytona root holds %v", entries)
	}
}

// A cwd missing in the sandbox is a 400 naming cwd, through the local
// Daytona's real shell; a command's own exit code 126 stays a result.
func TestMissingCwdEndToEnd(t *testing.T) {
	s := startStack(t, nil)
	sb := s.create("alice", nil)
	res := s.as("alice", http.MethodPost, "/sandboxes/"+sb.ID+"/exec", map[string]any{"command": "true", "cwd": "nope"})
	if e := res.apiError(t); res.status != http.StatusBadRequest || e.Error.Field != "cwd" || !strings.Contains(e.Error.Message, "does not exist in the sandbox") {
		t.Errorf("exec in a missing cwd: %d %s, want 400 naming cwd", res.status, res.body)
	}
	res = s.as("alice", http.MethodPost, "/api/agent/execute", map[string]any{"command": "true", "cwd": "/nonexistent/dir"})
	if e := res.apiError(t); res.status != http.StatusBadRequest || e.Error.Field != "cwd" {
		t.Errorf("agent execute in a missing cwd: %d %s, want 400 naming cwd", res.status, res.body)
	}
	res = s.as("alice", http.MethodPost, "/sandboxes/"+sb.ID+"/exec", map[string]any{"command": "mkdir -p d && exit 126"})
	var out struct {
		ExitCode int `json:"exitCode"`
	}
	res.decode(t, &out)
	if res.status != http.StatusOK || out.ExitCode != 126 {
		t.Errorf("a command exiting 126: %d %s", res.status, res.body)
	}
	res = s.as("alice", http.MethodPost, "/sandboxes/"+sb.ID+"/exec", map[string]any{"command": "pwd", "cwd": "d"})
	if res.status != http.StatusOK || !strings.Contains(string(res.body), `/d\n`) {
		t.Errorf("exec in an existing cwd: %d %s", res.status, res.body)
	}
}

// A sandbox whose env sets CDPATH still takes cwd relative to its working
// directory: before, cwd "tmp" ran in /tmp, with "//tmp" added to stdout.
func TestCwdIgnoresCDPATHEndToEnd(t *testing.T) {
	s := startStack(t, nil)
	sb := s.create("alice", map[string]any{"env": map[string]string{"CDPATH": "/"}})
	res := s.as("alice", http.MethodPost, "/sandboxes/"+sb.ID+"/exec", map[string]any{"command": "pwd", "cwd": "tmp"})
	if e := res.apiError(t); res.status != http.StatusBadRequest || e.Error.Field != "cwd" {
		t.Errorf("exec in cwd tmp with CDPATH=/: %d %s, want 400 naming cwd", res.status, res.body)
	}
}

// Invalid UTF-8 is refused at every door of the stack, naming the field:
// a body (which the gateway hands on base64-encoded, as it is not text),
// a direct invocation, a bearer token; never rewritten into another value.
func TestInvalidUTF8EndToEnd(t *testing.T) {
	s := startStack(t, nil)
	sb := s.create("alice", nil)

	res := s.as("alice", http.MethodPost, "/sandboxes/"+sb.ID+"/exec", []byte("{\"command\":\"echo caf\xe9\"}"), "Content-Type: application/json")
	if e := res.apiError(t); res.status != http.StatusBadRequest || e.Error.Field != "command" || !strings.Contains(e.Error.Message, "UTF-8") {
		t.Errorf("exec with a Latin-1 command: %d %s, want 400 naming command", res.status, res.body)
	}
	res = s.as("alice", http.MethodPost, "/sandboxes", []byte(`{"labels":{"team":"x\udc00"}}`), "Content-Type: application/json")
	if e := res.apiError(t); res.status != http.StatusBadRequest || e.Error.Field != "labels.team" {
		t.Errorf("create with a lone surrogate: %d %s, want 400 naming labels.team", res.status, res.body)
	}

	res = do(t, http.MethodPost, s.LambdaURL+"/2015-03-31/functions/status/invocations", []byte("{\"action\":\"list\",\"userId\":\"alice\xff\"}"))
	if res.status != http.StatusOK || res.header.Get("X-Amz-Function-Error") == "" ||
		!strings.Contains(string(res.body), `"errorType":"Sandbox.InvalidInput"`) || !strings.Contains(string(res.body), "userId: must be valid UTF-8") {
		t.Errorf("direct list as alice\\xff: %d %v %s", res.status, res.header, res.body)
	}

	for _, token := range []string{"alice\xff", "alice\xfe"} {
		if res := s.as(token, http.MethodGet, "/sandboxes", nil); res.status != http.StatusUnauthorized {
			t.Errorf("token %q: %d %s, want 401", token, res.status, res.body)
		}
	}
	// Parameters reach the function as sent, which names them.
	for _, tt := range []struct{ path, field string }{
		{"/sandboxes?cursor=%ff", "cursor"},
		{"/sandboxes?cursor%fe=x", `cursor\xfe`},
		{"/sandboxes/sbx_%ed%a0%80", "id"},
	} {
		res := s.as("alice", http.MethodGet, tt.path, nil)
		if e := res.apiError(t); res.status != http.StatusBadRequest || e.Error.Field != tt.field {
			t.Errorf("%s: %d %s, want 400 naming %s", tt.path, res.status, res.body, tt.field)
		}
	}

	// Nothing ran in alice's sandbox, and nobody else got one.
	var page struct{ Items []sandboxJSON }
	s.as("alice", http.MethodGet, "/sandboxes?state=all", nil).decode(t, &page)
	if len(page.Items) != 1 {
		t.Errorf("alice has %+v", page.Items)
	}
}
