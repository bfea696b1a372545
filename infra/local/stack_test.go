package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/testutil"
)

func TestLifecycleOverHTTP(t *testing.T) {
	s := startStack(t, nil)
	const user = "alice"

	sb := s.create(user, map[string]any{
		"labels": map[string]string{"project": "lifecycle"},
		"files": []map[string]string{
			{"path": "app/run.sh", "contentBase64": b64("#!/bin/sh\necho \"sum=$(( $(cat app/n.txt) + 1 ))\"\necho warn >&2\n")},
			{"path": "app/n.txt", "contentBase64": b64("41\n")},
		},
	})
	if sb.Owner != user || sb.State != "ready" || !strings.HasPrefix(sb.ID, "sbx_") {
		t.Fatalf("created %+v, want owner %s, state ready, an sbx_ id", sb, user)
	}

	exec := s.as(user, http.MethodPost, "/sandboxes/"+sb.ID+"/exec", map[string]any{"command": "sh app/run.sh"})
	if exec.status != http.StatusOK {
		t.Fatalf("exec: %d %s", exec.status, exec.body)
	}
	var res struct {
		ExitCode int    `json:"exitCode"`
		Stdout   string `json:"stdout"`
		Stderr   string `json:"stderr"`
	}
	exec.decode(t, &res)
	if res.ExitCode != 0 || res.Stdout != "sum=42\n" || res.Stderr != "warn\n" {
		t.Errorf("exec = %+v, want exit 0, stdout %q, stderr %q", res, "sum=42\n", "warn\n")
	}
	if exec.header.Get("Apigw-Requestid") == "" {
		t.Error("no Apigw-Requestid header")
	}

	get := s.as(user, http.MethodGet, "/sandboxes/"+sb.ID, nil)
	var got sandboxJSON
	get.decode(t, &got)
	if get.status != http.StatusOK || got.ID != sb.ID || got.State != "ready" {
		t.Errorf("GET /sandboxes/{id} = %d %+v", get.status, got)
	}

	list := s.as(user, http.MethodGet, "/sandboxes?limit=10", nil)
	var page struct {
		Items []sandboxJSON `json:"items"`
	}
	list.decode(t, &page)
	if list.status != http.StatusOK || len(page.Items) != 1 || page.Items[0].ID != sb.ID {
		t.Errorf("GET /sandboxes = %d %s, want just %s", list.status, list.body, sb.ID)
	}

	del := s.as(user, http.MethodDelete, "/sandboxes/"+sb.ID, nil)
	var deleted sandboxJSON
	del.decode(t, &deleted)
	if del.status != http.StatusOK || deleted.State != "deleted" {
		t.Errorf("DELETE = %d %s, want 200 and state deleted", del.status, del.body)
	}
	again := s.as(user, http.MethodGet, "/sandboxes/"+sb.ID, nil)
	again.decode(t, &got)
	if again.status != http.StatusOK || got.State != "deleted" {
		t.Errorf("GET after delete = %d %s, want the deleted record", again.status, again.body)
	}
	if entries, err := os.ReadDir(filepath.Join(s.root, "daytona")); err != nil || len(entries) != 0 {
		t.Errorf("the Daytona root still holds %v (err %v) after the delete", entries, err)
	}
}

func TestUnauthenticatedRequestsNeverReachAFunction(t *testing.T) {
	s := startStack(t, nil)
	cases := []struct {
		name    string
		headers []string
	}{
		{"no Authorization header", nil},
		{"empty bearer token", []string{"Authorization: Bearer "}},
		{"another scheme", []string{"Authorization: Basic YWxpY2U6cHc="}},
		{"a bare token with a space", []string{"Authorization: al ice"}},
		{"a token with a space", []string{"Authorization: Bearer al ice"}},
		{"two Authorization headers", []string{"Authorization: Bearer alice", "Authorization: Bearer bob"}},
	}
	for _, r := range s.Routes() {
		if r.Authorizer == "" {
			continue // it checks its caller itself (the task's nudge)
		}
		path := strings.ReplaceAll(r.Path, "{id}", "sbx_aaaaaaaaaaaaaaaaaaaaaaaaaa")
		for _, c := range cases {
			t.Run(r.Key()+"/"+c.name, func(t *testing.T) {
				res := do(t, r.Method, s.APIURL+path, map[string]any{"command": "true"}, c.headers...)
				if res.status != http.StatusUnauthorized || string(res.body) != `{"message":"Unauthorized"}` {
					t.Errorf("got %d %s, want API Gateway's 401 {\"message\":\"Unauthorized\"}", res.status, res.body)
				}
			})
		}
	}
	// Nothing was created on anyone's behalf.
	for _, user := range []string{"alice", "bob", "al"} {
		var page struct{ Items []sandboxJSON }
		s.as(user, http.MethodGet, "/sandboxes", nil).decode(t, &page)
		if len(page.Items) != 0 {
			t.Errorf("%s has sandboxes %+v", user, page.Items)
		}
	}
}

func TestOtherUsersSandboxIsNotFound(t *testing.T) {
	s := startStack(t, nil)
	sb := s.create("alice", nil)

	cases := []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, "/sandboxes/" + sb.ID, nil},
		{http.MethodPost, "/sandboxes/" + sb.ID + "/exec", map[string]any{"command": "echo hi"}},
		{http.MethodDelete, "/sandboxes/" + sb.ID, nil},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			res := s.as("bob", c.method, c.path, c.body)
			if res.status != http.StatusNotFound || res.errorCode() != "not_found" {
				t.Errorf("bob: %d %s, want 404 not_found", res.status, res.body)
			}
		})
	}
	t.Run("GET /sandboxes", func(t *testing.T) {
		var page struct{ Items []sandboxJSON }
		res := s.as("bob", http.MethodGet, "/sandboxes", nil)
		res.decode(t, &page)
		if res.status != http.StatusOK || len(page.Items) != 0 {
			t.Errorf("bob's list: %d %s, want empty", res.status, res.body)
		}
	})
	t.Run("direct invocation for another user", func(t *testing.T) {
		res := do(t, http.MethodPost, s.LambdaURL+"/2015-03-31/functions/status/invocations",
			map[string]any{"action": "get", "userId": "bob", "sandboxId": sb.ID})
		if res.header.Get("X-Amz-Function-Error") != "Unhandled" || !strings.Contains(string(res.body), `"errorType":"Sandbox.NotFound"`) {
			t.Errorf("got %d %v %s, want a Sandbox.NotFound function error", res.status, res.header, res.body)
		}
	})

	// Bob's attempts changed nothing.
	var got sandboxJSON
	s.as("alice", http.MethodGet, "/sandboxes/"+sb.ID, nil).decode(t, &got)
	if got.State != "ready" {
		t.Errorf("alice's sandbox is %q after bob's attempts, want ready", got.State)
	}
}

func TestQuotaFromTheEnvironment(t *testing.T) {
	s := startStack(t, map[string]string{"DEFAULT_USER_QUOTA": "2"})
	if s.Config.DefaultUserQuota != 2 {
		t.Fatalf("DefaultUserQuota = %d, want 2 from the environment", s.Config.DefaultUserQuota)
	}
	first := s.create("alice", nil)
	s.create("alice", nil)

	over := s.as("alice", http.MethodPost, "/sandboxes", map[string]any{})
	if over.status != http.StatusTooManyRequests || over.errorCode() != "quota_exceeded" {
		t.Fatalf("third create: %d %s, want 429 quota_exceeded", over.status, over.body)
	}
	// The quota is per user.
	s.create("bob", nil)
	// A delete frees a slot.
	if res := s.as("alice", http.MethodDelete, "/sandboxes/"+first.ID, nil); res.status != http.StatusOK {
		t.Fatalf("delete: %d %s", res.status, res.body)
	}
	s.create("alice", nil)
}

func TestGatewayAnswers(t *testing.T) {
	s := startStack(t, nil)
	cases := []struct {
		name       string
		method     string
		path       string
		body       any
		wantStatus int
		wantBody   string
	}{
		{"unknown path", http.MethodGet, "/nope", nil, 404, `{"message":"Not Found"}`},
		{"unknown method on a known path", http.MethodPut, "/sandboxes", nil, 404, `{"message":"Not Found"}`},
		{"a path one segment too long", http.MethodGet, "/sandboxes/a/b/c", nil, 404, `{"message":"Not Found"}`},
		{"a body over 10 MB", http.MethodPost, "/sandboxes", make([]byte, MaxAPIBody+1), 413, `{"message":"Request Entity Too Large"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := s.as("alice", c.method, c.path, c.body)
			if res.status != c.wantStatus || string(res.body) != c.wantBody {
				t.Errorf("got %d %s, want %d %s", res.status, res.body, c.wantStatus, c.wantBody)
			}
		})
	}
	t.Run("the function's own errors pass through", func(t *testing.T) {
		res := s.as("alice", http.MethodPost, "/sandboxes", `{"nope": 1}`)
		if res.status != http.StatusBadRequest || res.errorCode() != "invalid_input" {
			t.Errorf("got %d %s, want the API's 400 invalid_input", res.status, res.body)
		}
	})
}

func TestInvokeAPI(t *testing.T) {
	s := startStack(t, nil)
	// rawName may end in ?Qualifier=...
	invoke := func(t *testing.T, rawName string, payload any, headers ...string) response {
		t.Helper()
		name, query, _ := strings.Cut(rawName, "?")
		u := s.LambdaURL + "/2015-03-31/functions/" + name + "/invocations"
		if query != "" {
			u += "?" + query
		}
		return do(t, http.MethodPost, u, payload, headers...)
	}

	arn := "arn:aws:lambda:us-east-1:123456789012:function:create"
	names := []struct{ name, raw string }{
		{"logical id", "CreateFunction"},
		{"function name", "create"},
		{"ARN", arn},
		{"URL-encoded ARN, as aws-local-stepfunctions sends it", url.PathEscape(arn)},
		{"ARN of the logical id with $LATEST", url.PathEscape("arn:aws:lambda:us-east-1:123456789012:function:CreateFunction:$LATEST")},
		{"partial ARN", url.PathEscape("123456789012:function:create")},
		// template.yaml's AutoPublishAlias: what the API, the rules and
		// the schedule invoke in AWS (README, "Versions").
		{"the alias live as Qualifier", "create?Qualifier=live"},
		{"the alias live in the name", url.PathEscape("CreateFunction:live")},
		{"ARN with the alias live", url.PathEscape(arn + ":live")},
		{"$LATEST as Qualifier", "create?Qualifier=%24LATEST"},
	}
	for i, n := range names {
		t.Run(n.name, func(t *testing.T) {
			user := "invoker" + strconv.Itoa(i)
			res := invoke(t, n.raw, map[string]any{"action": "create", "userId": user, "labels": map[string]string{"via": "invoke"}})
			var sb sandboxJSON
			res.decode(t, &sb)
			if res.status != http.StatusOK || res.header.Get("X-Amz-Function-Error") != "" || sb.Owner != user || sb.State != "ready" {
				t.Fatalf("got %d %v %s, want 200 and a ready sandbox of %s", res.status, res.header, res.body, user)
			}
			if v := res.header.Get("X-Amz-Executed-Version"); v != "$LATEST" {
				t.Errorf("X-Amz-Executed-Version = %q", v)
			}
			// The same sandbox, seen through the API.
			var got sandboxJSON
			if g := s.as(user, http.MethodGet, "/sandboxes/"+sb.ID, nil); g.status != http.StatusOK {
				t.Errorf("GET through the API: %d %s", g.status, g.body)
			} else if g.decode(t, &got); got.ID != sb.ID {
				t.Errorf("GET through the API gave %+v", got)
			}
		})
	}

	errs := []struct {
		name       string
		fn         string
		payload    any
		headers    []string
		wantStatus int
		wantHeader string // X-Amz-Function-Error or X-Amzn-ErrorType value
		wantBody   string // substring
	}{
		{"function error", "status", map[string]any{"action": "get", "userId": "x", "sandboxId": "nope"}, nil,
			200, "Unhandled", `"errorType":"Sandbox.InvalidInput"`},
		{"function error for a missing user", "DeleteFunction", map[string]any{"sandboxId": "sbx_aaaaaaaaaaaaaaaaaaaaaaaaaa"}, nil,
			200, "Unhandled", `"errorType":"Sandbox.InvalidInput"`},
		{"unknown function", "nope", map[string]any{}, nil,
			404, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope"},
		{"unknown qualifier", url.PathEscape(arn + ":other"), map[string]any{}, nil,
			404, "ResourceNotFoundException", "Function not found: " + arn + ":other"},
		{"unknown qualifier as Qualifier", "create?Qualifier=7", map[string]any{}, nil,
			404, "ResourceNotFoundException", "Function not found: " + arn + ":7"},
		{"qualifiers that disagree", url.PathEscape(arn+":live") + "?Qualifier=%24LATEST", map[string]any{}, nil,
			404, "ResourceNotFoundException", "Function not found"},
		{"payload that is not JSON", "create", "{not json", nil,
			400, "InvalidRequestContentException", "Could not parse request body into json"},
		{"two JSON values", "create", `{} {}`, nil,
			400, "InvalidRequestContentException", "Could not parse request body into json"},
		{"unknown invocation type", "create", map[string]any{}, []string{"X-Amz-Invocation-Type: Sometimes"},
			400, "InvalidParameterValueException", "Sometimes"},
	}
	for _, c := range errs {
		t.Run(c.name, func(t *testing.T) {
			res := invoke(t, c.fn, c.payload, c.headers...)
			header := res.header.Get("X-Amz-Function-Error")
			if c.wantStatus != 200 {
				header = res.header.Get("X-Amzn-ErrorType")
			}
			if res.status != c.wantStatus || header != c.wantHeader || !strings.Contains(string(res.body), c.wantBody) {
				t.Errorf("got %d %v %s, want %d, %s, body with %q", res.status, res.header, res.body, c.wantStatus, c.wantHeader, c.wantBody)
			}
		})
	}

	t.Run("DryRun", func(t *testing.T) {
		res := invoke(t, "create", map[string]any{"action": "create", "userId": "dry"}, "X-Amz-Invocation-Type: DryRun")
		if res.status != http.StatusNoContent {
			t.Errorf("got %d %s, want 204", res.status, res.body)
		}
	})
	t.Run("Event", func(t *testing.T) {
		res := invoke(t, "create", map[string]any{"action": "create", "userId": "async"}, "X-Amz-Invocation-Type: Event")
		if res.status != http.StatusAccepted {
			t.Fatalf("got %d %s, want 202", res.status, res.body)
		}
		// The invocation runs after the answer: wait for its sandbox.
		deadline := time.Now().Add(20 * time.Second)
		for {
			var page struct{ Items []sandboxJSON }
			s.as("async", http.MethodGet, "/sandboxes", nil).decode(t, &page)
			if len(page.Items) == 1 && page.Items[0].State == "ready" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no ready sandbox from the Event invocation: %+v", page.Items)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("other operations", func(t *testing.T) {
		res := do(t, http.MethodGet, s.LambdaURL+"/2015-03-31/functions/", nil)
		if res.status != http.StatusNotFound || res.header.Get("X-Amzn-ErrorType") != "UnknownOperationException" {
			t.Errorf("got %d %v %s", res.status, res.header, res.body)
		}
	})
}

// freePort returns a port nothing listens on (at the time of the call).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return p
}

// othersInUse says whether err names, among the ports in use, one other
// than busy.
func othersInUse(err error, busy int) bool {
	var inUse *PortInUseError
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			if errors.As(e, &inUse) && inUse.Port != busy {
				return true
			}
		}
		return false
	}
	return errors.As(err, &inUse) && inUse.Port != busy
}

// listensHere says whether this process has a socket listening on port
// (on any address, IPv4 or IPv6), from Linux's /proc; known is false where
// it cannot tell.
func listensHere(port int) (held, known bool) {
	table, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false, false
	}
	if v6, err := os.ReadFile("/proc/net/tcp6"); err == nil {
		table = append(table, v6...)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return false, false
	}
	mine := map[string]bool{}
	for _, fd := range fds {
		if link, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil {
			mine[link] = true
		}
	}
	suffix := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(table), "\n") {
		f := strings.Fields(line)
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) >= 10 && strings.HasSuffix(f[1], suffix) && f[3] == "0A" && mine["socket:["+f[9]+"]"] {
			return true, true
		}
	}
	return false, true
}

// portsFreed fails t for each of the stack's ports, but busy, that this
// process still listens on after a failed Start. A port another process
// took since (another package's test) is not the stack's.
func portsFreed(t *testing.T, ports Ports, busy int) {
	t.Helper()
	for _, p := range []int{ports.API, ports.Lambda, ports.DynamoDB, ports.AWS, ports.Daytona, ports.GitHub} {
		if p == busy {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			_ = ln.Close()
			continue
		}
		if held, known := listensHere(p); known && !held {
			t.Logf("port %d: %v, by another process", p, err)
			continue
		}
		t.Errorf("port %d is still held after the failed Start: %v", p, err)
	}
}

func TestPortInUse(t *testing.T) {
	needRunner(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	roles := []struct {
		role string
		set  func(*Ports, int)
	}{
		{RoleAPI, func(p *Ports, n int) { p.API = n }},
		{RoleLambda, func(p *Ports, n int) { p.Lambda = n }},
		{RoleDynamoDB, func(p *Ports, n int) { p.DynamoDB = n }},
		{RoleAWS, func(p *Ports, n int) { p.AWS = n }},
		{RoleDaytona, func(p *Ports, n int) { p.Daytona = n }},
		{RoleGitHub, func(p *Ports, n int) { p.GitHub = n }},
	}
	for _, r := range roles {
		t.Run(r.role, func(t *testing.T) {
			// Every other port is a fixed free one, so that we can check
			// afterwards that it was let go. A port free a moment ago may
			// be taken by another test's listener before Start binds it
			// (packages run side by side): then Start names that port,
			// and the check is made again on other ones.
			var (
				ports Ports
				root  string
				err   error
				inUse *PortInUseError
			)
			for attempt := 1; ; attempt++ {
				ports = Ports{API: freePort(t), Lambda: freePort(t), DynamoDB: freePort(t), AWS: freePort(t), Daytona: freePort(t), GitHub: freePort(t)}
				r.set(&ports, busyPort)
				root = t.TempDir()
				var s *Stack
				s, err = Start(context.Background(), Options{Ports: ports, Getenv: envMap(nil), LogWriter: &logBuffer{},
					TemplatePath: templatePath, DataDir: root})
				if err == nil {
					_ = s.Close()
					t.Fatal("Start succeeded with a port in use")
				}
				if attempt < 3 && othersInUse(err, busyPort) {
					t.Logf("attempt %d: %v (taken meanwhile); again", attempt, err)
					continue
				}
				break
			}
			want := fmt.Sprintf("port %d (%s) is already in use", busyPort, r.role)
			if !errors.As(err, &inUse) || inUse.Port != busyPort || inUse.Role != r.role || err.Error() != want {
				t.Fatalf("err = %v, want %q", err, want)
			}
			portsFreed(t, ports, busyPort)
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("the data directory was used: %v", entries)
			}
		})
	}
}

func TestCloseLeavesNoSandboxProcess(t *testing.T) {
	logs := &logBuffer{}
	root := t.TempDir()
	needRunner(t)
	st, err := Start(context.Background(), Options{Getenv: envMap(nil), LogWriter: logs, TemplatePath: templatePath, DataDir: root})
	if err != nil {
		t.Fatal(err)
	}
	s := &testStack{Stack: st, t: t, logs: logs, root: root}
	closed := false
	defer func() {
		if !closed {
			_ = st.Close()
		}
	}()

	// Long commands, running when the stack is closed: one in the
	// foreground, one left in the background of another.
	type answer struct {
		res response
		err error
	}
	answers := make(chan answer, 2)
	for _, user := range []string{"alice", "bob"} {
		sb := s.create(user, nil)
		go func() {
			// Not s.as: t.Fatal must not be called from this goroutine.
			req, _ := http.NewRequest(http.MethodPost, s.APIURL+"/sandboxes/"+sb.ID+"/exec",
				strings.NewReader(`{"command":"sleep 300 & echo $! > bg.pid; echo $$ > fg.pid; exec sleep 301"}`))
			req.Header.Set("Authorization", "Bearer "+user)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			_ = res.Body.Close()
			answers <- answer{res: response{status: res.StatusCode}}
		}()
	}
	var pids []int
	deadline := time.Now().Add(20 * time.Second)
	for len(pids) < 4 && time.Now().Before(deadline) {
		pids = pids[:0]
		files, _ := filepath.Glob(filepath.Join(root, "daytona", "*", "*", "*.pid"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && alive(pid) {
				pids = append(pids, pid)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(pids) != 4 {
		t.Fatalf("found %d running sandbox processes, want 4 (2 sandboxes x foreground and background)", len(pids))
	}

	if err := st.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	closed = true
	for range 2 {
		// The commands' callers get an answer, not a hang.
		if a := <-answers; a.err == nil && a.res.status == http.StatusOK {
			t.Errorf("a command killed by Close answered 200")
		}
	}

	for _, pid := range pids {
		// SIGKILL is delivered asynchronously; give the kernel a moment.
		deadline := time.Now().Add(5 * time.Second)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("sandbox process %d is still running after Close", pid)
		}
	}
	// The sandboxes are kept, stopped, for the next run on the data
	// directory: each one's directory and, beside it, its record.
	records, _ := filepath.Glob(filepath.Join(root, "daytona", "*.json"))
	if len(records) != 2 {
		t.Errorf("the Daytona root holds %d sandbox records after Close, want 2", len(records))
	}
	for _, r := range records {
		if b, _ := os.ReadFile(r); !strings.Contains(string(b), `"state": "stopped"`) {
			t.Errorf("record %s does not say stopped: %s", r, b)
		}
	}
	if kids := children(t); len(kids) != 0 {
		t.Errorf("child processes left after Close: %v", kids)
	}
	// Every port is closed.
	for _, u := range []string{s.APIURL, s.LambdaURL, s.DynamoDBURL} {
		if _, err := net.DialTimeout("tcp", strings.TrimPrefix(u, "http://"), time.Second); err == nil {
			t.Errorf("%s still accepts connections after Close", u)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", logs.String())
	}
}

// alive reports whether pid runs (a zombie does not count).
func alive(pid int) bool {
	for _, p := range testutil.Processes() {
		if p.PID == pid {
			return p.Live()
		}
	}
	return false
}

// children lists this process's live child processes.
func children(t *testing.T) []string {
	t.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var out []string
	for _, p := range testutil.LiveChildren(os.Getpid()) {
		out = append(out, strconv.Itoa(p.PID)+" ("+p.Comm+")")
	}
	return out
}

func TestRealDaytonaKeyIsUsedAndNeverShown(t *testing.T) {
	const canary = "dtn_canary_5f0e9a7c3b1d48e2a6c4"
	// A stand-in for the real Daytona that accepts only the canary key.
	remote, err := daytonalocal.New(daytonalocal.Options{APIKey: canary})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: remote}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = remote.Close(); _ = srv.Close() })
	remoteURL := "http://" + ln.Addr().String() + "/api"

	s := startStack(t, map[string]string{
		"DAYTONA_API_KEY": canary,
		"DAYTONA_API_URL": remoteURL,
		"DAYTONA_TARGET":  "eu",
		"LOG_LEVEL":       "debug",
	})
	if s.DaytonaURL != "" || s.Ports.Daytona != 0 {
		t.Errorf("the local Daytona server runs (%q, port %d) although DAYTONA_API_KEY is set", s.DaytonaURL, s.Ports.Daytona)
	}
	if s.Config.DaytonaAPIURL != remoteURL || s.Config.DaytonaTarget != "eu" {
		t.Errorf("Daytona %s target %s, want %s eu", s.Config.DaytonaAPIURL, s.Config.DaytonaTarget, remoteURL)
	}

	// The key works: a sandbox is made on the "real" Daytona.
	sb := s.create("alice", nil)
	if res := s.as("alice", http.MethodPost, "/sandboxes/"+sb.ID+"/exec", map[string]any{"command": "echo $DAYTONA_SANDBOX_ID"}); res.status != http.StatusOK {
		t.Errorf("exec: %d %s", res.status, res.body)
	}
	if res := s.as("alice", http.MethodDelete, "/sandboxes/"+sb.ID, nil); res.status != http.StatusOK {
		t.Errorf("delete: %d %s", res.status, res.body)
	}

	var banner strings.Builder
	if err := s.WriteBanner(&banner); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"banner": banner.String(), "log": s.logs.String()} {
		if strings.Contains(out, canary) || strings.Contains(out, canary[4:20]) {
			t.Errorf("the %s shows the Daytona key:\n%s", name, out)
		}
	}
	for _, want := range []string{remoteURL, "real Daytona (target eu)", "daytonaKey", "[set]", "defaultUserQuota"} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("the banner lacks %q:\n%s", want, banner.String())
		}
	}
}

func TestBannerNamesEveryEndpointAndRoute(t *testing.T) {
	s := startStack(t, nil)
	var b strings.Builder
	if err := s.WriteBanner(&b); err != nil {
		t.Fatal(err)
	}
	want := []string{s.APIURL, s.LambdaURL, s.DynamoDBURL, s.AWSURL, s.DataDir, s.DaytonaURL, s.GitHubURL, "GITHUB_API_URL",
		"demo repository " + DemoGitHubRepo, s.GitHubDemo.KeyPath, "table SandboxTable", "logFormat", "text",
		`no GITHUB_CONFIG_REF: every repository's issues run "cat sandstep-issue.json"`}
	for _, r := range s.Routes() {
		want = append(want, r.Method+" "+r.Path)
	}
	for _, f := range s.Functions() {
		want = append(want, f.LogicalID)
	}
	for _, w := range want {
		if !strings.Contains(b.String(), w) {
			t.Errorf("banner lacks %q:\n%s", w, b.String())
		}
	}
	if strings.Contains(b.String(), LocalDaytonaKey) {
		t.Errorf("banner shows the local Daytona key:\n%s", b.String())
	}
}

func TestBadConfigurationIsReportedAndNothingRuns(t *testing.T) {
	ports := Ports{API: freePort(t), Lambda: freePort(t), DynamoDB: freePort(t), AWS: freePort(t), Daytona: freePort(t), GitHub: freePort(t)}
	needRunner(t)
	_, err := Start(context.Background(), Options{Ports: ports, Getenv: envMap(map[string]string{"DEFAULT_USER_QUOTA": "lots"}),
		LogWriter: &logBuffer{}, TemplatePath: templatePath, DataDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "DEFAULT_USER_QUOTA") {
		t.Fatalf("err = %v, want one naming DEFAULT_USER_QUOTA", err)
	}
	portsFreed(t, ports, 0)
}

// A stack on a DynamoDB served elsewhere creates its table there, keeps its
// records there, and leaves it running when it stops.
func TestDynamoDBServedElsewhere(t *testing.T) {
	ddb := httptest.NewServer(DynamoDBServer())
	t.Cleanup(ddb.Close)
	s := startStack(t, nil, func(o *Options) { o.DynamoDBURL = ddb.URL })
	if s.DynamoDBURL != ddb.URL || s.Ports.DynamoDB != 0 {
		t.Errorf("DynamoDB at %s (port %d), want %s and no port of the stack's", s.DynamoDBURL, s.Ports.DynamoDB, ddb.URL)
	}
	sb := s.create("alice", nil)
	rs, err := ReadStore(ddb.URL, s.Config.TableName)
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := rs.GetSandbox(context.Background(), sb.ID); err != nil || rec.Owner != "alice" {
		t.Fatalf("the record in the DynamoDB elsewhere: %+v, %v", rec, err)
	}
	if res := s.as("alice", http.MethodDelete, "/sandboxes/"+sb.ID, nil); res.status != http.StatusOK {
		t.Fatalf("delete: %d %s", res.status, res.body)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.root, "dynamodb")); !os.IsNotExist(err) {
		t.Errorf("the stack kept a table of its own (%v)", err)
	}
	if _, err := rs.GetSandbox(context.Background(), sb.ID); err != nil {
		t.Errorf("the DynamoDB elsewhere after the stack stopped: %v", err)
	}
}

// listensHere tells this process's listener from another's.
func TestListensHere(t *testing.T) {
	if _, known := listensHere(1); !known {
		t.Skip("no /proc here to tell")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if held, _ := listensHere(port); !held {
		t.Errorf("port %d: not found listening here", port)
	}
	_ = ln.Close()
	if held, _ := listensHere(port); held {
		t.Errorf("port %d: still found listening here after Close", port)
	}
}
