package daytonaspec

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"
)

// sandboxBody is a Sandbox with every required field and a few optional
// ones; drop removes fields, set overrides them.
func sandboxBody(t testing.TB, set map[string]any, drop ...string) string {
	t.Helper()
	sb := map[string]any{
		"id":              "3f1c9a0e-sbx",
		"organizationId":  "org-1",
		"name":            "sbx-1",
		"user":            "daytona",
		"env":             map[string]string{"A": "1"},
		"labels":          map[string]string{"sandstep.io/id": "sbx-1"},
		"public":          false,
		"networkBlockAll": false,
		"target":          "us",
		"cpu":             1,
		"gpu":             0,
		"memory":          1,
		"disk":            3,
		"toolboxProxyUrl": "http://127.0.0.1:3003/toolbox",
		"state":           "started",
		"desiredState":    "started",
		"snapshot":        "daytonaio/sandbox:latest",
		"createdAt":       "2026-01-02T15:04:05.123Z",
	}
	maps.Copy(sb, set)
	for _, k := range drop {
		delete(sb, k)
	}
	return mustJSON(t, sb)
}

// listItem is a SandboxListItem (no env, still toolboxProxyUrl).
func listItem(t testing.TB) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(sandboxBody(t, nil, "env")), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// part is one multipart part.
type part struct {
	name, filename, contentType, body string
}

// multipartBody builds a multipart/form-data body with a fixed boundary.
func multipartBody(t testing.TB, parts ...part) (contentType, body string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.SetBoundary("DAYTONA-FILE-BOUNDARY"); err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		disp := `form-data; name="` + p.name + `"`
		if p.filename != "" {
			disp += `; filename="` + p.filename + `"`
		}
		h.Set("Content-Disposition", disp)
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(pw, p.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), buf.String()
}

// exchange is one request and the canned answer of the test server.
type exchange struct {
	method, target string            // target is path plus query
	header         map[string]string // request headers; "" deletes (e.g. Authorization)
	reqCT, reqBody string
	status         int
	respCT         string // "" sends no Content-Type header at all
	respBody       string
	opts           []Option
}

// want is one expected violation.
type want struct {
	phase    Phase
	status   int // expected Violation.Status
	contains string
}

type mode string

const (
	viaTransport  mode = "transport"
	viaMiddleware mode = "middleware"
)

// run sends ex through a validating client transport or a validating
// server middleware, checks that neither side saw altered bodies, and
// returns the recorded violations.
func run(t *testing.T, spec *Spec, m mode, ex exchange) []*Violation {
	t.Helper()
	rec := &Recorder{}
	opts := append(append([]Option{}, ex.opts...), RecordTo(rec))
	var gotReqBody []byte
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		if gotReqBody, err = io.ReadAll(r.Body); err != nil {
			t.Errorf("server reading body: %v", err)
		}
		if ex.respCT != "" {
			w.Header().Set("Content-Type", ex.respCT)
		} else {
			w.Header()["Content-Type"] = nil // no sniffing: send none
		}
		w.WriteHeader(ex.status)
		_, _ = io.WriteString(w, ex.respBody)
	})
	var srv *httptest.Server
	client := &http.Client{}
	switch m {
	case viaTransport:
		srv = httptest.NewServer(handler)
		client.Transport = spec.Transport(t, nil, opts...)
	case viaMiddleware:
		srv = httptest.NewServer(spec.Middleware(t, handler, opts...))
	}
	var body io.Reader
	if ex.reqBody != "" {
		body = strings.NewReader(ex.reqBody)
	}
	req, err := http.NewRequest(ex.method, srv.URL+ex.target, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer test-key")
	if ex.reqCT != "" {
		req.Header.Set("Content-Type", ex.reqCT)
	}
	for k, v := range ex.header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", ex.method, ex.target, err)
	}
	gotResp, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	srv.Close() // waits for the middleware to finish validating
	if string(gotResp) != ex.respBody {
		t.Errorf("client got response body %q, server sent %q", gotResp, ex.respBody)
	}
	if string(gotReqBody) != ex.reqBody {
		t.Errorf("server got request body %q, client sent %q", gotReqBody, ex.reqBody)
	}
	return rec.Violations()
}

func checkViolations(t *testing.T, got []*Violation, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		for _, v := range got {
			t.Logf("got: %v", v)
		}
		t.Fatalf("got %d violations, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		v := got[i]
		if v.Phase != w.phase || v.Status != w.status || !strings.Contains(v.Error(), w.contains) {
			t.Errorf("violation %d = %v (phase %s, status %d); want phase %s, status %d, containing %q", i, v, v.Phase, v.Status, w.phase, w.status, w.contains)
		}
	}
}

func TestConformingExchangesPass(t *testing.T) {
	spec := Load(t)
	uploadCT, uploadBody := multipartBody(t,
		part{name: "files[0].path", body: "/home/daytona/a.txt"},
		part{name: "files[0].file", filename: "a.txt", contentType: "application/octet-stream", body: "hello\n"},
		part{name: "files[1].path", body: "src/b.bin"},
		part{name: "files[1].file", filename: "b.bin", contentType: "application/octet-stream", body: "\x00\x01\x02"},
	)
	uploadV2CT, uploadV2Body := multipartBody(t,
		part{name: "file", filename: "x.txt", contentType: "application/octet-stream", body: "data"},
	)
	downloadCT, downloadBody := multipartBody(t,
		part{name: "file", filename: "/home/daytona/a.txt", contentType: "application/octet-stream", body: "hello\n"},
		part{name: "error", filename: "/nope", contentType: "application/json", body: `{"message":"file not found","path":"/nope","statusCode":404,"timestamp":"2026-01-02T15:04:05Z","code":"FILE_NOT_FOUND"}`},
	)
	list := mustJSON(t, map[string]any{"items": []any{listItem(t)}, "nextCursor": nil})
	cases := []struct {
		name string
		ex   exchange
	}{
		{"create sandbox 200 Sandbox", exchange{
			method: "POST", target: "/api/sandbox", reqCT: "application/json",
			reqBody: `{"name":"sbx-1","snapshot":"daytonaio/sandbox:latest","labels":{"sandstep.io/id":"sbx-1"},"env":{"A":"1"},"autoStopInterval":15,"ttlMinutes":60}`,
			status:  200, respCT: "application/json", respBody: sandboxBody(t, nil),
		}},
		{"create sandbox with buildInfo and resources", exchange{
			method: "POST", target: "/api/sandbox", reqCT: "application/json",
			reqBody: `{"buildInfo":{"dockerfileContent":"FROM python:3.12\n"},"cpu":2,"memory":4,"disk":10}`,
			status:  200, respCT: "application/json; charset=utf-8", respBody: sandboxBody(t, map[string]any{"state": "pending_build"}),
		}},
		{"list sandboxes with filters", exchange{
			method: "GET", target: "/api/sandbox?labels=%7B%22sandstep.io%2Fid%22%3A%22sbx-1%22%7D&limit=50&states=started&states=stopped",
			status: 200, respCT: "application/json", respBody: list,
		}},
		{"list sandboxes next page", exchange{
			method: "GET", target: "/api/sandbox?cursor=abc",
			status: 200, respCT: "application/json", respBody: `{"items":[],"nextCursor":"next"}`,
		}},
		{"get sandbox by name", exchange{
			method: "GET", target: "/api/sandbox/sbx-1", status: 200, respCT: "application/json", respBody: sandboxBody(t, nil),
		}},
		{"delete sandbox named like a literal path", exchange{
			method: "DELETE", target: "/api/sandbox/paginated", status: 200, respCT: "application/json",
			respBody: sandboxBody(t, map[string]any{"desiredState": "destroyed", "name": "paginated"}),
		}},
		{"replace labels", exchange{
			method: "PUT", target: "/api/sandbox/sbx-1/labels", reqCT: "application/json", reqBody: `{"labels":{"a":"b"}}`,
			status: 200, respCT: "application/json", respBody: `{"labels":{"a":"b"}}`,
		}},
		{"ttl path parameter", exchange{
			method: "POST", target: "/api/sandbox/sbx-1/ttl/60", status: 200, respCT: "application/json", respBody: sandboxBody(t, nil),
		}},
		{"get secrets (conflicting template, GET)", exchange{
			method: "GET", target: "/api/sandbox/sbx-1/secrets", status: 200, respCT: "application/json", respBody: `[]`,
		}},
		{"keep-alive 201 without content", exchange{
			method: "POST", target: "/api/sandbox/sbx-1/last-activity", status: 201,
		}},
		{"main API 404 allowed explicitly", exchange{
			method: "GET", target: "/api/sandbox/gone", status: 404, respCT: "application/json",
			respBody: `{"statusCode":404,"message":"Sandbox not found","error":"Not Found"}`,
			opts:     []Option{AllowStatus(404)},
		}},
		{"execute 200", exchange{
			method: "POST", target: "/toolbox/sbx-1/process/execute", reqCT: "application/json",
			reqBody: `{"command":"echo hi","cwd":"/home/daytona","envs":{"A":"1"},"timeout":5}`,
			status:  200, respCT: "application/json", respBody: `{"exitCode":0,"result":"hi\n"}`,
		}},
		{"execute timeout 408 with daemon error code", exchange{
			method: "POST", target: "/toolbox/sbx-1/process/execute", reqCT: "application/json", reqBody: `{"command":"sleep 9","timeout":1}`,
			status: 408, respCT: "application/json",
			respBody: `{"statusCode":408,"message":"timed out","code":"PROCESS_EXECUTION_TIMEOUT","timestamp":"2026-01-02T15:04:05Z","path":"/process/execute","method":"POST","source":"DAYTONA_DAEMON"}`,
		}},
		{"create session 201", exchange{
			method: "POST", target: "/toolbox/sbx-1/process/session", reqCT: "application/json", reqBody: `{"sessionId":"job-1"}`, status: 201,
		}},
		{"session exec async 202", exchange{
			method: "POST", target: "/toolbox/sbx-1/process/session/job-1/exec", reqCT: "application/json",
			reqBody: `{"command":"make test","runAsync":true}`,
			status:  202, respCT: "application/json", respBody: `{"cmdId":"cmd-1"}`,
		}},
		{"session command status", exchange{
			method: "GET", target: "/toolbox/sbx-1/process/session/job-1/command/cmd-1",
			status: 200, respCT: "application/json", respBody: `{"id":"cmd-1","command":"make test","exitCode":2}`,
		}},
		{"session command logs JSON", exchange{
			method: "GET", target: "/toolbox/sbx-1/process/session/job-1/command/cmd-1/logs", header: map[string]string{"X-Daytona-SDK-Version": "0.218.0"},
			status: 200, respCT: "application/json", respBody: `{"output":"\u0001\u0001\u0001ok\n","stdout":"ok\n","stderr":""}`,
		}},
		{"send input 204", exchange{
			method: "POST", target: "/toolbox/sbx-1/process/session/job-1/command/cmd-1/input", reqCT: "application/json", reqBody: `{"data":"y\n"}`, status: 204,
		}},
		{"delete session 204", exchange{
			method: "DELETE", target: "/toolbox/sbx-1/process/session/job-1", status: 204,
		}},
		{"multipart bulk upload", exchange{
			method: "POST", target: "/toolbox/sbx-1/files/bulk-upload", reqCT: uploadCT, reqBody: uploadBody, status: 200,
		}},
		{"multipart upload-v2", exchange{
			method: "POST", target: "/toolbox/sbx-1/files/upload-v2?path=%2Ftmp%2Fx.txt", reqCT: uploadV2CT, reqBody: uploadV2Body,
			status: 200, respCT: "application/json", respBody: `{"name":"x.txt","path":"/tmp/x.txt","type":"file"}`,
		}},
		{"download file bytes", exchange{
			method: "GET", target: "/toolbox/sbx-1/files/download?path=%2Fetc%2Fhostname",
			status: 200, respCT: "application/octet-stream", respBody: "sbx\x00\xff",
		}},
		{"download missing file 404 as JSON", exchange{
			method: "GET", target: "/toolbox/sbx-1/files/download?path=%2Fnope",
			status: 404, respCT: "application/json", respBody: `{"statusCode":404,"message":"not found","path":"/files/download","timestamp":"2026-01-02T15:04:05Z","code":"FILE_NOT_FOUND"}`,
		}},
		{"bulk download multipart file and error parts", exchange{
			method: "POST", target: "/toolbox/sbx-1/files/bulk-download", reqCT: "application/json", reqBody: `{"paths":["/home/daytona/a.txt","/nope"]}`,
			status: 200, respCT: downloadCT, respBody: downloadBody,
		}},
		{"create folder 201", exchange{
			method: "POST", target: "/toolbox/sbx-1/files/folder?path=%2Fwork&mode=755", status: 201,
		}},
		{"proxy auth key in query instead of header", exchange{
			method: "GET", target: "/toolbox/sbx-1/process/session?DAYTONA_SANDBOX_AUTH_KEY=tok", header: map[string]string{"Authorization": ""},
			status: 200, respCT: "application/json", respBody: `[{"sessionId":"job-1","commands":[]}]`,
		}},
		{"fault-injected empty 502 allowed", exchange{
			method: "POST", target: "/toolbox/sbx-1/git/clone", reqCT: "application/json", reqBody: `{"url":"https://github.com/a/b","path":"b"}`,
			status: 502, opts: []Option{AllowStatus(502)},
		}},
		{"custom routes at root", exchange{
			method: "GET", target: "/sandbox/sbx-1", status: 200, respCT: "application/json", respBody: sandboxBody(t, nil),
			opts: []Option{WithRoutes(Routes{APIPrefix: "", ToolboxPrefix: "/tb"})},
		}},
		{"custom routes toolbox", exchange{
			method: "POST", target: "/tb/sbx-1/process/execute", reqCT: "application/json", reqBody: `{"command":"true"}`,
			status: 200, respCT: "application/json", respBody: `{"exitCode":0,"result":""}`,
			opts: []Option{WithRoutes(Routes{APIPrefix: "", ToolboxPrefix: "/tb"})},
		}},
	}
	for _, m := range []mode{viaTransport, viaMiddleware} {
		for _, tc := range cases {
			t.Run(string(m)+"/"+tc.name, func(t *testing.T) {
				checkViolations(t, run(t, spec, m, tc.ex), nil)
			})
		}
	}
}

func TestMismatchesAreDetected(t *testing.T) {
	spec := Load(t)
	execErr := func(code string) string {
		return `{"statusCode":400,"message":"bad","path":"/process/execute","timestamp":"2026-01-02T15:04:05Z","code":"` + code + `"}`
	}
	badUploadCT, badUploadBody := multipartBody(t,
		part{name: "file", filename: "a.txt", body: "hello"},
	)
	unpairedCT, unpairedBody := multipartBody(t,
		part{name: "files[0].path", body: "/a"},
		part{name: "files[0].file", filename: "a", body: "x"},
		part{name: "files[1].path", body: "/b"},
	)
	extraPartCT, extraPartBody := multipartBody(t,
		part{name: "file", filename: "x", contentType: "application/octet-stream", body: "x"},
		part{name: "mode", body: "0644"},
	)
	execOK := `{"exitCode":0,"result":""}`
	cases := []struct {
		name  string
		ex    exchange
		wants []want
	}{
		{"Sandbox missing required toolboxProxyUrl", exchange{
			method: "POST", target: "/api/sandbox", reqCT: "application/json", reqBody: `{}`,
			status: 200, respCT: "application/json", respBody: sandboxBody(t, nil, "toolboxProxyUrl"),
		}, []want{{PhaseResponse, 200, `property "toolboxProxyUrl" is missing`}}},
		{"Sandbox with null optional field", exchange{
			method: "GET", target: "/api/sandbox/sbx-1",
			status: 200, respCT: "application/json", respBody: sandboxBody(t, map[string]any{"errorReason": nil}),
		}, []want{{PhaseResponse, 200, `/errorReason": Value is not nullable`}}},
		{"Sandbox with unknown state", exchange{
			method: "GET", target: "/api/sandbox/sbx-1",
			status: 200, respCT: "application/json", respBody: sandboxBody(t, map[string]any{"state": "running"}),
		}, []want{{PhaseResponse, 200, `/state": doesn't match schema due to: value is not one of the allowed values`}}},
		{"list without nextCursor", exchange{
			method: "GET", target: "/api/sandbox",
			status: 200, respCT: "application/json", respBody: `{"items":[]}`,
		}, []want{{PhaseResponse, 200, `property "nextCursor" is missing`}}},
		{"exitCode of the wrong type", exchange{
			method: "POST", target: "/toolbox/sbx-1/process/execute", reqCT: "application/json", reqBody: `{"command":"true"}`,
			status: 200, respCT: "application/json", respBody: `{"exitCode":"0","result":""}`,
		}, []want{{PhaseResponse, 200, `/exitCode": value must be an integer`}}},
		{"session exec 202 without cmdId", exchange{
			method: "POST", target: "/toolbox/sbx-1/process/session/s/exec", reqCT: "application/json", reqBody: `{"command":"x","runAsync":true}`,
			status: 202, respCT: "application/json", respBody: `{}`,
		}, []want{{PhaseResponse, 202, `property "cmdId" is missing`}}},
		{"JSON body sent as text/plain", exchange{
			method: "POST", target: "/toolbox/sbx-1/process/execute", reqCT: "application/json", reqBody: `{"command":"true"}`,
			status: 200, respCT: "text/plain; charset=utf-8", respBody: execOK,
		}, []want{{PhaseResponse, 200, `Content-Type`}}},
		{"empty 200 where a body is declared", exchange{
			method: "POST", target: "/toolbox/sbx-1/process/execute", reqCT: "application/json", reqBody: `{"command":"true"}`,
			status: 200, respCT: "application/json",
		}, []want{{PhaseResponse, 200, `failed to decode response body`}}},
		{"undeclared status", exchange{
			method: "POST", target: "/toolbox/sbx-1/process/execute", reqCT: "application/json", reqBody: `{"command":"true"}`,
			status: 500, respCT: "application/json", respBody: execErr("INTERNAL_SERVER_ERROR"),
		}, []want{{PhaseResponse, 500, `status is not supported`}}},
		{"main API error status not allowed", exchange{
			method: "GET", target: "/api/sandbox/gone",
			status: 404, respCT: "application/json", respBody: `{"statusCode":404,"message":"Sandbox not found"}`,
		}, []want{{PhaseResponse, 404, `status is not supported`}}},
		{"allowing one status does not allow another", exchange{
			method: "POST", target: "/toolbox/sbx-1/git/clone", reqCT: "application/json", reqBody: `{"url":"u","path":"p"}`,
			status: 504, opts: []Option{AllowStatus(502)},
		}, []want{{PhaseResponse, 504, `status is not supported`}}},
		{"daemon error code outside the enum", exchange{
			method: "POST", target: "/toolbox/sbx-1/process/execute", reqCT: "application/json", reqBody: `{"command":"true"}`,
			status: 400, respCT: "application/json", respBody: execErr("TEAPOT"),
		}, []want{{PhaseResponse, 400, `/code": doesn't match schema due to: value is not one of the allowed values`}}},
		{"error body missing required fields", exchange{
			method: "POST", target: "/toolbox/sbx-1/process/execute", reqCT: "application/json", reqBody: `{"command":"true"}`,
			status: 400, respCT: "application/json", respBody: `{"message":"bad"}`,
		}, []want{{PhaseResponse, 400, `"/path": property "path" is missing | Error at "/statusCode": property "statusCode" is missing | Error at "/timestamp": property "timestamp" is missing`}}},
		{"download error sent as octet-stream", exchange{
			method: "GET", target: "/toolbox/sbx-1/files/download?path=x",
			status: 404, respCT: "application/octet-stream", respBody: `{"statusCode":404,"message":"nf","path":"p","timestamp":"t"}`,
		}, []want{{PhaseResponse, 404, `value must be an object`}}},
		{"logs as text/plain", exchange{
			method: "GET", target: "/toolbox/sbx-1/process/session/s/command/c/logs",
			status: 200, respCT: "text/plain", respBody: "ok\n",
		}, []want{{PhaseResponse, 200, `value must be an object`}}},
		{"bulk download with an unnamed part", exchange{
			method: "POST", target: "/toolbox/sbx-1/files/bulk-download", reqCT: "application/json", reqBody: `{"paths":["a"]}`,
			status: 200, respCT: badUploadCT, respBody: strings.Replace(badUploadBody, `name="file"`, `name="blob"`, 1),
		}, []want{{PhaseResponse, 200, `part blob: undefined`}}},
		{"request body field of the wrong type", exchange{
			method: "POST", target: "/api/sandbox", reqCT: "application/json", reqBody: `{"name":"x","cpu":"2"}`,
			status: 200, respCT: "application/json", respBody: sandboxBody(t, nil),
		}, []want{{PhaseRequest, 200, `/cpu": value must be an integer`}}},
		{"request body missing a required field", exchange{
			method: "POST", target: "/toolbox/sbx-1/process/execute", reqCT: "application/json", reqBody: `{"cmd":"true"}`,
			status: 200, respCT: "application/json", respBody: execOK,
		}, []want{
			{PhaseRequest, 200, `property "command" is missing`},
			{PhaseRequest, 200, `request body field "/cmd" is not declared`},
		}},
		{"request body field Daytona does not have", exchange{
			method: "POST", target: "/api/sandbox", reqCT: "application/json", reqBody: `{"image":"python:3.12","labels":{"a":"b"},"volumes":[{"volumeId":"v","mountPath":"/m","readonly":true}]}`,
			status: 200, respCT: "application/json", respBody: sandboxBody(t, nil),
		}, []want{
			{PhaseRequest, 200, `request body field "/image" is not declared`},
			{PhaseRequest, 200, `request body field "/volumes/0/readonly" is not declared`},
		}},
		{"unknown fields allowed with SpecOnly", exchange{
			method: "POST", target: "/api/sandbox", reqCT: "application/json", reqBody: `{"image":"python:3.12"}`,
			status: 200, respCT: "application/json", respBody: sandboxBody(t, nil), opts: []Option{SpecOnly()},
		}, nil},
		{"request body sent without JSON content type", exchange{
			method: "POST", target: "/toolbox/sbx-1/process/execute", reqCT: "text/plain", reqBody: `{"command":"true"}`,
			status: 200, respCT: "application/json", respBody: execOK,
		}, []want{{PhaseRequest, 200, `header Content-Type has unexpected value`}}},
		{"missing required request body", exchange{
			method: "POST", target: "/toolbox/sbx-1/process/execute",
			status: 400, respCT: "application/json", respBody: execErr("BAD_REQUEST"),
		}, []want{{PhaseRequest, 400, `value is required but missing`}}},
		{"missing Authorization on the main API", exchange{
			method: "GET", target: "/api/sandbox/sbx-1", header: map[string]string{"Authorization": ""},
			status: 200, respCT: "application/json", respBody: sandboxBody(t, nil),
		}, []want{{PhaseRequest, 200, `security requirements failed`}}},
		{"missing credential on the toolbox", exchange{
			method: "POST", target: "/toolbox/sbx-1/process/execute", header: map[string]string{"Authorization": ""}, reqCT: "application/json", reqBody: `{"command":"true"}`,
			status: 200, respCT: "application/json", respBody: execOK,
		}, []want{{PhaseRequest, 200, `toolbox request carries no credential`}}},
		{"query parameter of the wrong type", exchange{
			method: "GET", target: "/api/sandbox?limit=many",
			status: 200, respCT: "application/json", respBody: `{"items":[],"nextCursor":null}`,
		}, []want{{PhaseRequest, 200, `parameter "limit" in query has an error`}}},
		{"query enum violated", exchange{
			method: "GET", target: "/api/sandbox?states=running",
			status: 200, respCT: "application/json", respBody: `{"items":[],"nextCursor":null}`,
		}, []want{{PhaseRequest, 200, `parameter "states" in query has an error`}}},
		{"undeclared query parameter", exchange{
			method: "GET", target: "/api/sandbox?state=started",
			status: 200, respCT: "application/json", respBody: `{"items":[],"nextCursor":null}`,
		}, []want{{PhaseRequest, 200, `query parameter "state" is not declared`}}},
		{"missing required query parameter", exchange{
			method: "POST", target: "/toolbox/sbx-1/files/folder?path=%2Fw", status: 201,
		}, []want{{PhaseRequest, 201, `parameter "mode" in query has an error: value is required but missing`}}},
		{"path parameter of the wrong type", exchange{
			method: "POST", target: "/api/sandbox/sbx-1/autostop/soon",
			status: 200, respCT: "application/json", respBody: sandboxBody(t, nil),
		}, []want{{PhaseRequest, 200, `parameter "interval" in path has an error`}}},
		{"unknown toolbox path", exchange{
			method: "POST", target: "/toolbox/sbx-1/process/run", reqCT: "application/json", reqBody: `{"command":"true"}`,
			status: 200, respCT: "application/json", respBody: execOK,
		}, []want{{PhaseRequest, 200, `POST /process/run: no operation in the toolbox spec matches this path`}}},
		{"unknown main API path", exchange{
			method: "GET", target: "/api/sandboxes", status: 200, respCT: "application/json", respBody: `[]`,
		}, []want{{PhaseRequest, 200, `no operation in the api spec matches this path`}}},
		{"legacy toolbox route on the main API", exchange{
			method: "POST", target: "/api/toolbox/sbx-1/toolbox/process/execute", reqCT: "application/json", reqBody: `{"command":"true"}`,
			status: 200, respCT: "application/json", respBody: execOK,
		}, []want{{PhaseRequest, 200, `no operation in the api spec matches this path`}}},
		{"undeclared method", exchange{
			method: "PATCH", target: "/api/sandbox/sbx-1", reqCT: "application/json", reqBody: `{}`,
			status: 200, respCT: "application/json", respBody: sandboxBody(t, nil),
		}, []want{{PhaseRequest, 200, `method PATCH is not declared for this path in the api spec (declared: [DELETE GET])`}}},
		{"path outside both prefixes", exchange{
			method: "GET", target: "/v1/sandbox", status: 200, respCT: "application/json", respBody: `{}`,
		}, []want{{PhaseRequest, 200, `under neither the API prefix "/api" nor the toolbox prefix "/toolbox/{sandboxId}"`}}},
		{"toolbox prefix without sandbox id", exchange{
			method: "GET", target: "/toolbox", status: 200, respCT: "application/json", respBody: `{}`,
		}, []want{{PhaseRequest, 200, `toolbox path has no sandbox id`}}},
		{"bulk upload with a bare file part", exchange{
			method: "POST", target: "/toolbox/sbx-1/files/bulk-upload", reqCT: badUploadCT, reqBody: badUploadBody, status: 200,
		}, []want{{PhaseRequest, 200, `bulk-upload part "file" is not files[N].path or files[N].file`}}},
		{"bulk upload with an unpaired path", exchange{
			method: "POST", target: "/toolbox/sbx-1/files/bulk-upload", reqCT: unpairedCT, reqBody: unpairedBody, status: 200,
		}, []want{{PhaseRequest, 200, `files[1] needs exactly one .path and one .file part, got 1 and 0`}}},
		{"bulk upload as JSON", exchange{
			method: "POST", target: "/toolbox/sbx-1/files/bulk-upload", reqCT: "application/json", reqBody: `{"files":[]}`, status: 200,
		}, []want{{PhaseRequest, 200, `bulk-upload body must be multipart/form-data`}}},
		{"upload-v2 with an undeclared part", exchange{
			method: "POST", target: "/toolbox/sbx-1/files/upload-v2?path=x", reqCT: extraPartCT, reqBody: extraPartBody,
			status: 200, respCT: "application/json", respBody: `{"name":"x","path":"x","type":"file"}`,
		}, []want{{PhaseRequest, 200, `part mode: undefined`}}},
		{"request and response both wrong", exchange{
			method: "POST", target: "/toolbox/sbx-1/process/session", reqCT: "application/json", reqBody: `{"sessionId":7}`,
			status: 200, respCT: "application/json", respBody: `{}`,
		}, []want{
			{PhaseRequest, 200, `/sessionId": value must be a string`},
			{PhaseResponse, 200, `status is not supported`},
		}},
	}
	for _, m := range []mode{viaTransport, viaMiddleware} {
		for _, tc := range cases {
			t.Run(string(m)+"/"+tc.name, func(t *testing.T) {
				checkViolations(t, run(t, spec, m, tc.ex), tc.wants)
			})
		}
	}
}
