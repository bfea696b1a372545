package daytonalocal

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// sessionExec runs a command in a session and returns the decoded reply.
func (h *harness) sessionExec(id, sid, command string, async bool) (reply, map[string]any) {
	h.t.Helper()
	r := h.tb(id, "POST", "/process/session/"+sid+"/exec", map[string]any{"command": command, "runAsync": async})
	want := http.StatusOK
	if async {
		want = http.StatusAccepted
	}
	if r.status != want {
		h.t.Fatalf("session exec %q: status %d, want %d (%s)", command, r.status, want, r.body)
	}
	return r, r.json(h.t)
}

// waitExit polls a command's status until it has an exit code.
func (h *harness) waitExit(id, sid, cmdID string) int {
	h.t.Helper()
	var code float64
	eventually(h.t, "exit code of "+cmdID, func() bool {
		m := h.tb(id, "GET", "/process/session/"+sid+"/command/"+cmdID, nil).json(h.t)
		c, ok := m["exitCode"].(float64)
		code = c
		return ok
	})
	return int(code)
}

func TestSessionCRUD(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(nil)
	if r := h.tb(sb.ID, "POST", "/process/session", map[string]any{"sessionId": "s1"}); r.status != http.StatusCreated {
		t.Fatalf("create session: %d %s", r.status, r.body)
	}
	checkToolboxError(t, h.tb(sb.ID, "POST", "/process/session", map[string]any{"sessionId": "s1"}), 409, "CONFLICT")
	checkToolboxError(t, h.tb(sb.ID, "POST", "/process/session", map[string]any{}), 400, "BAD_REQUEST")

	_, m := h.sessionExec(sb.ID, "s1", "echo hi", false)
	for _, k := range []string{"cmdId", "output", "stdout", "stderr", "exitCode"} {
		if _, ok := m[k]; !ok {
			t.Errorf("sync exec reply lacks %q: %v", k, m)
		}
	}
	if m["stdout"] != "hi\n" || m["exitCode"] != 0.0 {
		t.Errorf("sync exec = %v", m)
	}

	r := h.tb(sb.ID, "GET", "/process/session", nil)
	var list []struct {
		SessionID string           `json:"sessionId"`
		Commands  []map[string]any `json:"commands"`
	}
	r.decode(t, &list)
	if r.status != 200 || len(list) != 1 || list[0].SessionID != "s1" || len(list[0].Commands) != 1 ||
		list[0].Commands[0]["command"] != "echo hi" || list[0].Commands[0]["exitCode"] != 0.0 {
		t.Errorf("list sessions: %d %s", r.status, r.body)
	}
	if r := h.tb(sb.ID, "GET", "/process/session/s1", nil); r.status != 200 || !strings.Contains(string(r.body), `"sessionId":"s1"`) {
		t.Errorf("get session: %d %s", r.status, r.body)
	}
	checkToolboxError(t, h.tb(sb.ID, "GET", "/process/session/nope", nil), 404, "NOT_FOUND")
	checkToolboxError(t, h.tb(sb.ID, "GET", "/process/session/s1/command/nope", nil), 404, "NOT_FOUND")
	checkToolboxError(t, h.tb(sb.ID, "POST", "/process/session/nope/exec", map[string]any{"command": "true"}), 404, "NOT_FOUND")

	if r := h.tb(sb.ID, "DELETE", "/process/session/s1", nil); r.status != http.StatusNoContent {
		t.Errorf("delete session: %d %s", r.status, r.body)
	}
	checkToolboxError(t, h.tb(sb.ID, "DELETE", "/process/session/s1", nil), 404, "NOT_FOUND")
	if r := h.tb(sb.ID, "GET", "/process/session", nil); string(bytes.TrimSpace(r.body)) != "[]" {
		t.Errorf("sessions after delete = %s, want []", r.body)
	}
}

func TestSessionRunsCommandsInOrder(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(nil)
	h.tb(sb.ID, "POST", "/process/session", map[string]any{"sessionId": "job"})

	_, first := h.sessionExec(sb.ID, "job", "sleep 0.5; echo one >> order.txt", true)
	_, second := h.sessionExec(sb.ID, "job", "echo two >> order.txt", true)
	id1, id2 := first["cmdId"].(string), second["cmdId"].(string)
	if id1 == "" || id2 == "" || id1 == id2 {
		t.Fatalf("cmdIds %q %q", id1, id2)
	}
	for _, k := range []string{"output", "exitCode"} {
		if _, ok := first[k]; ok {
			t.Errorf("async exec reply has %q: %v", k, first)
		}
	}
	// The first command sleeps, so right now neither has an exit code.
	for _, id := range []string{id1, id2} {
		r := h.tb(sb.ID, "GET", "/process/session/job/command/"+id, nil)
		m := r.json(t)
		if _, ok := m["exitCode"]; ok {
			t.Errorf("command %s has an exitCode before finishing: %s", id, r.body)
		}
		if m["id"] != id || m["command"] == "" {
			t.Errorf("command status = %s", r.body)
		}
	}
	if code := h.waitExit(sb.ID, "job", id2); code != 0 {
		t.Errorf("second exit = %d", code)
	}
	if got := string(h.download(sb.ID, "order.txt").body); got != "one\ntwo\n" {
		t.Errorf("order.txt = %q, want one then two", got)
	}
}

func TestSessionKeepsCwdAndExports(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(nil)
	dir := h.workDir(sb.ID)
	h.tb(sb.ID, "POST", "/process/session", map[string]any{"sessionId": "sh"})
	h.sessionExec(sb.ID, "sh", "mkdir -p d && cd d && export FOO='it'\"'\"'s'", false)
	_, m := h.sessionExec(sb.ID, "sh", `pwd; echo "$FOO"; exit 4`, false)
	if m["stdout"] != dir+"/d\nit's\n" || m["exitCode"] != 4.0 {
		t.Errorf("second command = %v, want cwd %s/d, FOO kept, exit 4", m, dir)
	}
	// exit in the previous command did not lose the state.
	_, m = h.sessionExec(sb.ID, "sh", `pwd`, false)
	if m["stdout"] != dir+"/d\n" {
		t.Errorf("third command cwd = %v", m["stdout"])
	}
}

func TestSessionLogs(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(nil)
	h.tb(sb.ID, "POST", "/process/session", map[string]any{"sessionId": "logs"})
	_, m := h.sessionExec(sb.ID, "logs", "echo out; echo err >&2; printf partial", true)
	cmdID := m["cmdId"].(string)
	h.waitExit(sb.ID, "logs", cmdID)
	path := "/toolbox/" + sb.ID + "/process/session/logs/command/" + cmdID + "/logs"

	r := h.request("GET", path, nil, map[string]string{"X-Daytona-SDK-Version": sdkVersion})
	var logs struct{ Output, Stdout, Stderr string }
	r.decode(t, &logs)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content type %q, want JSON", ct)
	}
	if logs.Stdout != "out\npartial\n" || logs.Stderr != "err\n" {
		t.Errorf("split logs = %+v", logs)
	}
	for _, want := range []string{"\x01\x01\x01out\n", "\x02\x02\x02err\n", "\x01\x01\x01partial\n"} {
		if !strings.Contains(logs.Output, want) {
			t.Errorf("output %q lacks %q", logs.Output, want)
		}
	}

	tests := []struct {
		name    string
		hdr     map[string]string
		markers bool
	}{
		{"no SDK header: plain text without markers", nil, false},
		{"old SDK: plain text", map[string]string{"X-Daytona-SDK-Version": "0.166.9"}, false},
		{"split-output header: raw", map[string]string{"X-Daytona-Split-Output": "true"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.request("GET", path, nil, tt.hdr)
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("content type %q, want text/plain", ct)
			}
			if got := bytes.ContainsAny(r.body, "\x01\x02"); got != tt.markers {
				t.Errorf("markers present = %v, want %v: %q", got, tt.markers, r.body)
			}
			for _, want := range []string{"out\n", "err\n", "partial\n"} {
				if !strings.Contains(string(r.body), want) {
					t.Errorf("body %q lacks %q", r.body, want)
				}
			}
		})
	}
}

// follow reads a log-follow WebSocket to the end and returns the bytes and
// the close status (-1 if the connection ended without a close frame).
func (h *harness) follow(id, sid, cmdID string, hdr http.Header) ([]byte, websocket.StatusCode, error) {
	h.t.Helper()
	u := "ws" + strings.TrimPrefix(h.ts.URL, "http") + "/toolbox/" + id + "/process/session/" + sid +
		"/command/" + cmdID + "/logs?follow=true"
	if hdr == nil {
		hdr = http.Header{}
	}
	hdr.Set("Authorization", "Bearer "+testToken)
	ctx := ctxTimeout(h.t, 20*time.Second)
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, -1, errors.Join(err, errors.New("HTTP status "+http.StatusText(status)))
	}
	defer conn.CloseNow()
	var buf bytes.Buffer
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return buf.Bytes(), websocket.CloseStatus(err), nil
		}
		if typ != websocket.MessageBinary {
			h.t.Errorf("frame type %v, want binary", typ)
		}
		buf.Write(data)
	}
}

func TestSessionFollow(t *testing.T) {
	h := newHarness(t, Options{FollowIdleClose: 100 * time.Millisecond})
	sb := h.create(nil)
	h.tb(sb.ID, "POST", "/process/session", map[string]any{"sessionId": "f"})
	_, m := h.sessionExec(sb.ID, "f", "echo a; sleep 0.3; echo b >&2; sleep 0.2; printf c", true)
	cmdID := m["cmdId"].(string)

	tests := []struct {
		name string
		hdr  http.Header
		want string
	}{
		{"SDK header: raw log with markers", http.Header{"X-Daytona-Sdk-Version": {sdkVersion}}, "\x01\x01\x01a\n\x02\x02\x02b\n\x01\x01\x01c\n"},
		{"no SDK header: combined without markers", nil, "a\nb\nc\n"},
	}
	type result struct {
		data   []byte
		status websocket.StatusCode
		err    error
	}
	results := make([]chan result, len(tests))
	for i, tt := range tests { // both follow while the command runs
		results[i] = make(chan result, 1)
		go func() {
			data, status, err := h.follow(sb.ID, "f", cmdID, tt.hdr)
			results[i] <- result{data, status, err}
		}()
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := <-results[i]
			if res.err != nil {
				t.Fatal(res.err)
			}
			if string(res.data) != tt.want || res.status != websocket.StatusNormalClosure {
				t.Errorf("follow = %q close %v, want %q close 1000", res.data, res.status, tt.want)
			}
		})
	}
	// Following a finished command replays it and closes.
	data, status, err := h.follow(sb.ID, "f", cmdID, http.Header{"X-Daytona-Sdk-Version": {sdkVersion}})
	if err != nil || string(data) != tests[0].want || status != websocket.StatusNormalClosure {
		t.Errorf("replay = %q %v %v", data, status, err)
	}
	checkToolboxError(t, h.tb(sb.ID, "GET", "/process/session/f/command/"+cmdID+"/logs?follow=true", nil), 400, "BAD_REQUEST")
}

func TestDeleteSessionKillsRunningCommand(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(nil)
	h.tb(sb.ID, "POST", "/process/session", map[string]any{"sessionId": "k"})
	// An earlier, finished command that left a process in the background.
	_, left := h.sessionExec(sb.ID, "k", "sh -c 'echo $$ > left.pid; exec sleep 60' &", true)
	h.waitExit(sb.ID, "k", left["cmdId"].(string))
	leftPID := h.readPID(sb.ID, "left.pid")
	_, m := h.sessionExec(sb.ID, "k", "echo $$ > k.pid; sleep 60 & sleep 60", true)
	_, queued := h.sessionExec(sb.ID, "k", "echo never > never.txt", true)
	pgid := h.readPID(sb.ID, "k.pid")
	if groupGone(pgid) {
		t.Fatalf("group %d not running before delete", pgid)
	}
	if r := h.tb(sb.ID, "DELETE", "/process/session/k", nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	eventually(t, "session's process group to be gone", func() bool { return groupGone(pgid) })
	eventually(t, "background process of an earlier command to be gone", func() bool { return processGone(leftPID) })
	checkToolboxError(t, h.tb(sb.ID, "GET", "/process/session/k/command/"+m["cmdId"].(string), nil), 404, "NOT_FOUND")
	_ = queued
	if r := h.download(sb.ID, "never.txt"); r.status != http.StatusNotFound {
		t.Errorf("queued command ran after delete: %d %s", r.status, r.body)
	}
}

func TestSessionInput(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(nil)
	h.tb(sb.ID, "POST", "/process/session", map[string]any{"sessionId": "in"})
	_, m := h.sessionExec(sb.ID, "in", `read line; echo "got $line"`, true)
	cmdID := m["cmdId"].(string)
	base := "/process/session/in/command/" + cmdID
	if r := h.tb(sb.ID, "POST", base+"/input", map[string]any{"data": "hello\n"}); r.status != http.StatusNoContent {
		t.Fatalf("input: %d %s", r.status, r.body)
	}
	h.waitExit(sb.ID, "in", cmdID)
	var logs struct{ Stdout string }
	h.tb(sb.ID, "GET", base+"/logs", nil).decode(t, &logs)
	if logs.Stdout != "got hello\n" {
		t.Errorf("stdout = %q", logs.Stdout)
	}
	checkToolboxError(t, h.tb(sb.ID, "POST", base+"/input", map[string]any{"data": "late"}), 410, "COMMAND_ALREADY_COMPLETED")
}
