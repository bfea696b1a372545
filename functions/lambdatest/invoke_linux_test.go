package lambdatest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sandstep/sandstep/infra/samtemplate"
	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

const (
	// canaryKey is the Daytona API key the functions get. The local
	// Daytona server accepts no other, and it must never be printed.
	canaryKey = "canary-daytona-key-5b1e9f07c3a2"
	tableName = "sandstep-lambdatest"
	// The fixtures' user (their JWT "sub" and direct "userId") and their
	// placeholder sandbox id.
	fixtureUser   = "8f3b2c1e-5d4a-4e6b-9c7d-2a1b0c9d8e7f"
	placeholderID = "sbx_exampleexampleexampleexamp"
	strangerUser  = "0d9c8b7a-another-user"
)

// stack is the local world the functions run in: minidyn, the local
// Daytona server and one emulator per function.
type stack struct {
	root       string
	tpl        *samtemplate.Template
	rieBin     string
	bootstraps *build
	dynamoURL  string
	daytonaURL string
	daytonaLog *lockedBuffer
	home       string
	fn         map[string]*rie
	// served adds up the time the stand-ins spent answering: a cold
	// start's first answer waits on them, as in AWS on DynamoDB and Daytona.
	served servedTime
}

// servedTime is the time a stand-in answered for: while any request was
// in one of its handlers (requests side by side count once).
type servedTime struct {
	now      func() time.Time // time.Now when nil
	mu       sync.Mutex
	inFlight int
	since    time.Time // the first of those in flight began
	busy     time.Duration
}

func (st *servedTime) clock() time.Time {
	if st.now != nil {
		return st.now()
	}
	return time.Now()
}

// wrap times h's answers into st, but for the checks a function's start
// opens its connections with (DynamoDB's GET /, Daytona's GET /health),
// which run in the background while the runtime fetches the event.
func (st *servedTime) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && (r.URL.Path == "/" || strings.HasSuffix(r.URL.Path, "/health")) {
			h.ServeHTTP(w, r)
			return
		}
		st.mu.Lock()
		if st.inFlight++; st.inFlight == 1 {
			st.since = st.clock()
		}
		st.mu.Unlock()
		defer func() {
			st.mu.Lock()
			if st.inFlight--; st.inFlight == 0 {
				st.busy += st.clock().Sub(st.since)
			}
			st.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	})
}

// total is the time so far.
func (st *servedTime) total() time.Duration {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.inFlight > 0 {
		return st.busy + st.clock().Sub(st.since)
	}
	return st.busy
}

// newStack builds the host-architecture bootstraps and the emulator, and
// starts DynamoDB (with the table) and the Daytona server. The functions
// are started by startFunctions.
func newStack(t testing.TB) *stack {
	t.Helper()
	s := &stack{root: repoRoot(t), fn: map[string]*rie{}, home: t.TempDir()}
	s.bootstraps = bootstraps(t, runtime.GOARCH)
	s.rieBin = rieBinary(t)
	tpl, err := samtemplate.Load(filepath.Join(s.root, "template.yaml"))
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	s.tpl = tpl

	// Cleanups run last-registered first: the Daytona server (killing any
	// sandbox process) goes after the emulators, and the stray-process
	// check after both.
	reapStrays(t, workDir)

	s.daytonaLog = &lockedBuffer{}
	srv, err := daytonalocal.New(daytonalocal.Options{
		APIKey: canaryKey,
		Root:   t.TempDir(),
		Logger: slog.New(slog.NewJSONHandler(s.daytonaLog, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close the Daytona server: %v", err)
		}
	})
	hs := httptest.NewServer(s.served.wrap(srv))
	t.Cleanup(hs.Close)
	s.daytonaURL = hs.URL

	_, s.dynamoURL = storetest.Server(t, s.served.wrap)
	if err := store.CreateTable(context.Background(), storetest.DB(t, s.dynamoURL), tableName); err != nil {
		t.Fatalf("create table: %v", err)
	}
	return s
}

// logicalID is the template's resource for a function: create -> CreateFunction.
func logicalID(function string) string {
	return strings.ToUpper(function[:1]) + function[1:] + "Function"
}

// env returns a function's environment as `sam local invoke` would give
// it: template.yaml's variables (Globals merged), the Lambda variables the
// emulator reads (name, timeout, memory), AWS region and dummy credentials,
// with only the endpoints and the key made local. edit, if not nil,
// changes the result (a broken configuration).
func (s *stack) env(t testing.TB, function string, edit func(map[string]string)) []string {
	t.Helper()
	f, ok := s.tpl.Function(logicalID(function))
	if !ok {
		t.Fatalf("template.yaml has no %s", logicalID(function))
	}
	if want := "functions/" + function; strings.TrimSuffix(f.CodeURI, "/") != want {
		t.Fatalf("%s: CodeUri %q, want %q", f.LogicalID, f.CodeURI, want)
	}
	env := maps.Clone(f.Environment)
	delete(env, "DAYTONA_API_KEY_REF") // the key is given plainly, as SANDSTEP_ENV=local allows
	if _, ok := env["GITHUB_WEBHOOK_SECRET_REF"]; ok {
		// The fixtures are signed with make local's plain secret; no
		// repositories document: every repository is allowed locally.
		delete(env, "GITHUB_WEBHOOK_SECRET_REF")
		delete(env, "GITHUB_CONFIG_REF")
		delete(env, "GITHUB_APP_KEY_REF")
		env["GITHUB_WEBHOOK_SECRET"] = "local-webhook-secret"
	}
	maps.Copy(env, map[string]string{
		"SANDSTEP_ENV":      "local",
		"TABLE_NAME":        tableName,
		"DYNAMODB_ENDPOINT": s.dynamoURL,
		"DAYTONA_API_URL":   s.daytonaURL + "/api",
		"DAYTONA_API_KEY":   canaryKey,
		"LOG_FORMAT":        "json",
		// The most log lines, so the checks on them see the most.
		"LOG_LEVEL": "debug",

		"AWS_LAMBDA_FUNCTION_NAME":        f.LogicalID,
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     strconv.Itoa(f.Timeout),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(f.MemorySize),
		"AWS_REGION":                      "us-east-1",
		"AWS_DEFAULT_REGION":              "us-east-1",
		"AWS_ACCESS_KEY_ID":               "AKIDLAMBDATEST",
		"AWS_SECRET_ACCESS_KEY":           "lambdatest-dummy-secret",
		"AWS_EC2_METADATA_DISABLED":       "true",
		"AWS_SAM_LOCAL":                   "true",

		"PATH": os.Getenv("PATH"),
		"HOME": s.home, // no ~/.aws of the developer's
		"LANG": "C.UTF-8",
		"TZ":   "UTC",
	})
	if edit != nil {
		edit(env)
	}
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// startFunctions starts one emulator per function.
func (s *stack) startFunctions(t testing.TB) {
	t.Helper()
	for _, n := range slices.Sorted(maps.Keys(s.bootstraps.bootstrap)) {
		s.fn[n] = startRIE(t, n, s.rieBin, s.bootstraps.bootstrap[n], s.env(t, n, nil))
	}
}

// event reads events/<name>.json.
func (s *stack) event(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.root, "events", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eventFor reads events/<name>.json with the placeholder sandbox id
// replaced by id, everywhere (path, rawPath, pathParameters, sandboxId).
func (s *stack) eventFor(t testing.TB, name, id string) []byte {
	t.Helper()
	b := s.event(t, name)
	if !bytes.Contains(b, []byte(placeholderID)) {
		t.Fatalf("events/%s.json does not mention the placeholder id %s", name, placeholderID)
	}
	return bytes.ReplaceAll(b, []byte(placeholderID), []byte(id))
}

// withField returns the JSON object doc with the value at path (object keys)
// set to v.
func withField(t testing.TB, doc []byte, v any, path ...string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	cur := m
	for _, k := range path[:len(path)-1] {
		next, ok := cur[k].(map[string]any)
		if !ok {
			t.Fatalf("event has no object at %q", k)
		}
		cur = next
	}
	cur[path[len(path)-1]] = v
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// asStranger makes an event come from another user.
func asStranger(t testing.TB, doc []byte) []byte {
	t.Helper()
	if bytes.Contains(doc, []byte(`"requestContext"`)) {
		return withField(t, doc, strangerUser, "requestContext", "authorizer", "jwt", "claims", "sub")
	}
	return withField(t, doc, strangerUser, "userId")
}

// direct invokes function with a direct event and decodes its success into
// out.
func (s *stack) direct(t testing.TB, function string, payload []byte, out any) {
	t.Helper()
	inv := s.fn[function].invoke(t, payload)
	if e, ok := inv.functionError(); ok || inv.status != http.StatusOK {
		t.Fatalf("%s: direct invoke answered %d %s (%+v), want a result", function, inv.status, inv.body, e)
	}
	dec := json.NewDecoder(bytes.NewReader(inv.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		t.Fatalf("%s: decode %s: %v", function, inv.body, err)
	}
}

// directError invokes function with a direct event that must fail, and
// returns the error the runtime reports.
func (s *stack) directError(t testing.TB, function string, payload []byte) lambdaError {
	t.Helper()
	inv := s.fn[function].invoke(t, payload)
	e, ok := inv.functionError()
	if !ok || inv.status != http.StatusOK {
		t.Fatalf("%s: answered %d %s, want 200 with a function error", function, inv.status, inv.body)
	}
	return e
}

// viaAPI invokes function with an API Gateway event, checks the response
// has status want and a JSON body, and decodes the body into out (if not
// nil).
func (s *stack) viaAPI(t testing.TB, function string, payload []byte, want int, out any) events.APIGatewayV2HTTPResponse {
	t.Helper()
	inv := s.fn[function].invoke(t, payload)
	if e, ok := inv.functionError(); ok || inv.status != http.StatusOK {
		t.Fatalf("%s: API event answered %d %s (%+v), want an API Gateway response", function, inv.status, inv.body, e)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(inv.body, &resp); err != nil {
		t.Fatalf("%s: not an API Gateway v2 response: %v: %s", function, err, inv.body)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s: statusCode %d, want %d; body %s", function, resp.StatusCode, want, resp.Body)
	}
	var contentType string
	for k, v := range resp.Headers {
		if strings.EqualFold(k, "Content-Type") {
			contentType = v
		}
	}
	if !strings.HasPrefix(contentType, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", function, contentType)
	}
	if resp.IsBase64Encoded {
		t.Fatalf("%s: body is base64-encoded, want JSON text", function)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(resp.Body), out); err != nil {
			t.Fatalf("%s: body %q: %v", function, resp.Body, err)
		}
	}
	return resp
}

// apiError is the API's error body.
type apiError struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		Field     string `json:"field"`
		RequestID string `json:"requestId"`
	} `json:"error"`
}

// daytonaSandboxes lists what the Daytona server still holds.
func (s *stack) daytonaSandboxes(t testing.TB) []json.RawMessage {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.daytonaURL+"/api/sandbox", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+canaryKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &list) != nil {
		t.Fatalf("list Daytona sandboxes: %d %s", resp.StatusCode, body)
	}
	return list.Items
}

func checkSandbox(t testing.TB, what string, sb sandstep.Sandbox, wantState sandstep.State) {
	t.Helper()
	if !strings.HasPrefix(sb.ID, "sbx_") || sb.ID == placeholderID {
		t.Errorf("%s: id %q, want a new sbx_ id", what, sb.ID)
	}
	if sb.Owner != fixtureUser {
		t.Errorf("%s: owner %q, want %q", what, sb.Owner, fixtureUser)
	}
	if sb.State != wantState {
		t.Errorf("%s: state %q, want %q", what, sb.State, wantState)
	}
	if sb.Labels["project"] != "demo" || sb.Metadata.Repo != "example/demo" {
		t.Errorf("%s: labels %v, metadata %+v; want the fixture's project=demo and repo example/demo", what, sb.Labels, sb.Metadata)
	}
	if sb.DaytonaID == "" {
		t.Errorf("%s: no Daytona id", what)
	}
}

// checkHello checks the output of the fixtures' hello.sh, run with
// GREETING=greeting in the uploaded project.
func checkHello(t testing.TB, what string, res service.ExecResult, greeting string) {
	t.Helper()
	if res.ExitCode != 0 || res.Truncated {
		t.Errorf("%s: exitCode %d truncated %v, want 0 false (stderr %q)", what, res.ExitCode, res.Truncated, res.Stderr)
	}
	lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	if len(lines) == 0 || lines[0] != "hello from "+greeting {
		t.Errorf("%s: stdout %q, want it to start with %q", what, res.Stdout, "hello from "+greeting)
	}
	for _, f := range []string{"README.txt", "hello.sh"} {
		if !slices.Contains(lines, f) {
			t.Errorf("%s: stdout %q does not list the uploaded %s", what, res.Stdout, f)
		}
	}
}

// TestSAMLocalInvoke runs the four bootstraps under the Runtime Interface
// Emulator and drives the events/*.json fixtures through them, as
// `sam local invoke <Fn> --event events/<name>.json` would, against local
// DynamoDB and Daytona.
func TestSAMLocalInvoke(t *testing.T) {
	s := newStack(t)
	for _, n := range slices.Sorted(maps.Keys(s.bootstraps.bootstrap)) {
		t.Logf("functions/%s: linux/%s bootstrap %d bytes (the size budget applies to the deployed %s build)",
			n, s.bootstraps.arch, fileSize(t, s.bootstraps.bootstrap[n]), deployedArch)
	}
	s.startFunctions(t)

	// Create, from API Gateway and from the state machine.
	var sbAPI, sbDirect sandstep.Sandbox
	s.viaAPI(t, "create", s.event(t, "create-api"), http.StatusCreated, &sbAPI)
	checkSandbox(t, "create-api", sbAPI, sandstep.StateReady)
	s.direct(t, "create", s.event(t, "create-direct"), &sbDirect)
	checkSandbox(t, "create-direct", sbDirect, sandstep.StateReady)
	if sbAPI.ID == sbDirect.ID {
		t.Fatalf("both creates answered sandbox %s", sbAPI.ID)
	}
	// The same request again (same Idempotency-Key): the stored answer.
	var replay sandstep.Sandbox
	s.viaAPI(t, "create", s.event(t, "create-api"), http.StatusCreated, &replay)
	if replay.ID != sbAPI.ID {
		t.Errorf("create-api replayed with its Idempotency-Key made sandbox %s, want the first one, %s", replay.ID, sbAPI.ID)
	}
	if n := len(s.daytonaSandboxes(t)); n != 2 {
		t.Errorf("Daytona holds %d sandboxes after two creates and a replay, want 2", n)
	}

	// Exec the uploaded hello.sh in each.
	var execAPI, execDirect service.ExecResult
	s.viaAPI(t, "execute", s.eventFor(t, "execute-api", sbAPI.ID), http.StatusOK, &execAPI)
	checkHello(t, "execute-api", execAPI, "exec")
	s.direct(t, "execute", s.eventFor(t, "execute-direct", sbDirect.ID), &execDirect)
	checkHello(t, "execute-direct", execDirect, "exec")

	// Status of each, and the list of the user's sandboxes.
	var got sandstep.Sandbox
	s.viaAPI(t, "status", s.eventFor(t, "status-api", sbAPI.ID), http.StatusOK, &got)
	if got.ID != sbAPI.ID || got.State != sandstep.StateReady {
		t.Errorf("status-api: %s %s, want %s %s", got.ID, got.State, sbAPI.ID, sandstep.StateReady)
	}
	got = sandstep.Sandbox{}
	s.direct(t, "status", s.eventFor(t, "status-direct", sbDirect.ID), &got)
	if got.ID != sbDirect.ID || got.State != sandstep.StateReady {
		t.Errorf("status-direct: %s %s, want %s %s", got.ID, got.State, sbDirect.ID, sandstep.StateReady)
	}
	for _, name := range []string{"status-list-api", "status-list-direct"} {
		var list service.SandboxList
		if strings.HasSuffix(name, "-api") {
			s.viaAPI(t, "status", s.event(t, name), http.StatusOK, &list)
		} else {
			s.direct(t, "status", s.event(t, name), &list)
		}
		var ids []string
		for _, it := range list.Items {
			ids = append(ids, it.ID)
		}
		slices.Sort(ids)
		want := []string{sbAPI.ID, sbDirect.ID}
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Errorf("%s: items %q, want %q", name, ids, want)
		}
	}

	// Errors a state machine's Retry/Catch and an API client see.
	t.Run("errors", func(t *testing.T) {
		cases := []struct {
			name, function, wantType, wantIn string
			payload                          []byte
		}{
			{"unknown field", "create", "Sandbox.InvalidInput", "surpriseField",
				withField(t, s.event(t, "create-direct"), true, "surpriseField")},
			{"another user's sandbox", "status", "Sandbox.NotFound", "",
				asStranger(t, s.eventFor(t, "status-direct", sbDirect.ID))},
			{"another user's exec", "execute", "Sandbox.NotFound", "",
				asStranger(t, s.eventFor(t, "execute-direct", sbDirect.ID))},
			{"no user", "delete", "Sandbox.InvalidInput", "userId",
				withField(t, s.eventFor(t, "delete-direct", sbDirect.ID), "", "userId")},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := s.directError(t, tc.function, tc.payload)
				if e.ErrorType != tc.wantType || !strings.Contains(e.ErrorMessage, tc.wantIn) {
					t.Errorf("%s: errorType %q message %q, want %q naming %q", tc.function, e.ErrorType, e.ErrorMessage, tc.wantType, tc.wantIn)
				}
			})
		}
		apiCases := []struct {
			name, function, event string
		}{
			{"status of another user's sandbox", "status", "status-api"},
			{"exec in another user's sandbox", "execute", "execute-api"},
			{"delete of another user's sandbox", "delete", "delete-api"},
		}
		for _, tc := range apiCases {
			t.Run(tc.name, func(t *testing.T) {
				var body apiError
				s.viaAPI(t, tc.function, asStranger(t, s.eventFor(t, tc.event, sbAPI.ID)), http.StatusNotFound, &body)
				if body.Error.Code != string(sandstep.ENOTFOUND) || body.Error.RequestID == "" {
					t.Errorf("%s: error %+v, want code %s with a requestId", tc.function, body.Error, sandstep.ENOTFOUND)
				}
			})
		}
	})
	// The stranger's attempts changed nothing.
	got = sandstep.Sandbox{}
	s.direct(t, "status", s.eventFor(t, "status-direct", sbAPI.ID), &got)
	if got.State != sandstep.StateReady {
		t.Fatalf("after another user's delete attempt, %s is %s, want %s", sbAPI.ID, got.State, sandstep.StateReady)
	}

	// Warm invokes, for the timings.
	for range 20 {
		got = sandstep.Sandbox{}
		s.direct(t, "status", s.eventFor(t, "status-direct", sbDirect.ID), &got)
	}

	// Delete each; deleting again is no error.
	var del sandstep.Sandbox
	s.viaAPI(t, "delete", s.eventFor(t, "delete-api", sbAPI.ID), http.StatusOK, &del)
	if del.ID != sbAPI.ID || del.State != sandstep.StateDeleted {
		t.Errorf("delete-api: %s %s, want %s %s", del.ID, del.State, sbAPI.ID, sandstep.StateDeleted)
	}
	for i := range 2 {
		del = sandstep.Sandbox{}
		s.direct(t, "delete", s.eventFor(t, "delete-direct", sbDirect.ID), &del)
		if del.ID != sbDirect.ID || del.State != sandstep.StateDeleted {
			t.Errorf("delete-direct #%d: %s %s, want %s %s", i+1, del.ID, del.State, sbDirect.ID, sandstep.StateDeleted)
		}
	}
	got = sandstep.Sandbox{}
	s.direct(t, "status", s.eventFor(t, "status-direct", sbDirect.ID), &got)
	if got.State != sandstep.StateDeleted {
		t.Errorf("status after delete: %s, want %s", got.State, sandstep.StateDeleted)
	}
	if left := s.daytonaSandboxes(t); len(left) != 0 {
		t.Errorf("Daytona still holds %d sandboxes after both deletes: %s", len(left), left)
	}

	// The one-shot agent execute: create, upload, run, delete.
	var agentAPI, agentDirect service.AgentExecuteResult
	s.viaAPI(t, "execute", s.event(t, "agent-execute-api"), http.StatusOK, &agentAPI)
	s.direct(t, "execute", s.event(t, "agent-execute-direct"), &agentDirect)
	for name, res := range map[string]service.AgentExecuteResult{"agent-execute-api": agentAPI, "agent-execute-direct": agentDirect} {
		checkHello(t, name, res.ExecResult, "sandstep")
		if !res.Deleted {
			t.Errorf("%s: deleted false, want the sandbox deleted", name)
		}
		got = sandstep.Sandbox{}
		s.direct(t, "status", withField(t, s.event(t, "status-direct"), res.SandboxID, "sandboxId"), &got)
		if got.State != sandstep.StateDeleted {
			t.Errorf("%s: sandbox %s is %s afterwards, want %s", name, res.SandboxID, got.State, sandstep.StateDeleted)
		}
	}
	if agentAPI.SandboxID == agentDirect.SandboxID {
		t.Errorf("both agent executes used sandbox %s", agentAPI.SandboxID)
	}
	if left := s.daytonaSandboxes(t); len(left) != 0 {
		t.Errorf("Daytona still holds %d sandboxes after the agent executes: %s", len(left), left)
	}

	// GitHub's ping, signed as the fixture is.
	ping := s.event(t, "github-api")
	ping = bytes.Replace(ping, []byte(`"x-github-event": "issues"`), []byte(`"x-github-event": "ping"`), 1)
	var pong service.IssueOutcome
	s.viaAPI(t, "github", ping, http.StatusOK, &pong)
	if pong.Action != "pong" {
		t.Errorf("github ping: %+v, want pong", pong)
	}

	// The reaper, with the fixture's dry run: nothing is left to find.
	var reaped service.ReapReport
	s.direct(t, "reaper", s.event(t, "reaper-direct"), &reaped)
	if !reaped.DryRun || reaped.Findings() != 0 {
		t.Errorf("reaper-direct: %+v, want a dry run that finds nothing", reaped)
	}

	// Stop the emulators (their output is then complete) and read it.
	for _, n := range slices.Sorted(maps.Keys(s.fn)) {
		s.fn[n].stop(t)
		t.Logf("%s: %s", n, s.fn[n].timings())
	}
	for _, n := range slices.Sorted(maps.Keys(s.fn)) {
		checkFunctionLog(t, n, s.fn[n].stdout.String())
	}
	s.checkNoCanary(t)
}

// TestColdStartConfigError starts functions with a broken configuration:
// the cold start fails, nothing is answered, and what the function prints
// names the variable (and never the key).
func TestColdStartConfigError(t *testing.T) {
	s := newStack(t)
	cases := []struct {
		name     string
		function string
		edit     func(map[string]string)
		want     []string
	}{
		{"quota not a number", "create", func(e map[string]string) { e["DEFAULT_USER_QUOTA"] = "abc" },
			[]string{"DEFAULT_USER_QUOTA", `"abc"`}},
		{"table name missing", "status", func(e map[string]string) { delete(e, "TABLE_NAME") },
			[]string{"TABLE_NAME: required"}},
		{"two bad variables", "execute", func(e map[string]string) {
			delete(e, "TABLE_NAME")
			e["MAX_OUTPUT_BYTES"] = "lots"
		}, []string{"TABLE_NAME", "MAX_OUTPUT_BYTES"}},
		{"plain key outside local", "delete", func(e map[string]string) { e["SANDSTEP_ENV"] = "aws" },
			[]string{"DAYTONA_API_KEY", "DAYTONA_API_KEY_REF"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := startRIE(t, tc.function, s.rieBin, s.bootstraps.bootstrap[tc.function], s.env(t, tc.function, tc.edit))
			s.fn[tc.name] = r
			inv := r.invoke(t, s.event(t, tc.function+"-direct"))
			r.stop(t)
			out := r.stdout.String()
			t.Logf("emulator answered %d %q; function printed %q", inv.status, inv.body, out)
			// Lambda answers an init failure with errorType
			// Runtime.ExitError; this emulator with 502 and no body.
			if e, isErr := inv.functionError(); inv.status == http.StatusOK && !(isErr && strings.HasPrefix(e.ErrorType, "Runtime.")) {
				t.Errorf("a function that cannot start answered %d %s", inv.status, inv.body)
			}
			if !strings.Contains(out, "sandstep "+tc.function+": configuration:") {
				t.Errorf("the function printed no configuration error: %q", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out+string(inv.body), w) {
					t.Errorf("neither the answer nor the output mentions %q:\n%s", w, out)
				}
			}
		})
	}
	s.checkNoCanary(t)
}

// stdLogLine matches a line of the standard log package's default format.
var stdLogLine = regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d `)

// checkFunctionLog checks an emulator's stdout: the platform's
// START/END/REPORT lines and the function's own output, every line of
// which must be a JSON log record or an EMF metrics document (at least one
// per invoke: its Requests). Records logged while an invoke runs carry its
// Lambda request id; only the cold start record, logged before any invoke,
// has none.
func checkFunctionLog(t testing.TB, function, out string) {
	t.Helper()
	invokes := map[string]bool{}
	var records []map[string]any
	emf := 0
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "START RequestId: "):
			id, _, _ := strings.Cut(strings.TrimPrefix(line, "START RequestId: "), " ")
			invokes[id] = true
			continue
		case strings.HasPrefix(line, "END RequestId: "), strings.HasPrefix(line, "REPORT RequestId: "):
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("%s: a log line that is not JSON: %q", function, line)
			if stdLogLine.MatchString(line) {
				t.Errorf("%s: that line comes from the standard log package; aws-lambda-go logs every "+
					"function error with log.Printf, outside the JSON logger and its redaction", function)
			}
			continue
		}
		if aws, ok := rec["_aws"].(map[string]any); ok {
			if _, ok := aws["CloudWatchMetrics"].([]any); !ok {
				t.Errorf("%s: an EMF line without CloudWatchMetrics: %q", function, line)
			}
			emf++
			continue
		}
		records = append(records, rec)
	}
	if emf < len(invokes) {
		t.Errorf("%s: %d EMF lines for %d invokes; each invoke writes its metrics", function, emf, len(invokes))
	}
	coldStarts, withID := 0, 0
	for _, rec := range records {
		for _, k := range []string{"timestamp", "level", "message"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("%s: log record without %q: %v", function, k, rec)
			}
		}
		id, _ := rec["requestId"].(string)
		switch {
		case id != "":
			withID++
			if !invokes[id] {
				t.Errorf("%s: record's requestId %q is no invoke's (%v): %v", function, id, slices.Collect(maps.Keys(invokes)), rec)
			}
		case rec["message"] == "cold start":
			coldStarts++
		default:
			t.Errorf("%s: log record without requestId: %v", function, rec)
		}
	}
	if coldStarts != 1 {
		t.Errorf("%s: %d cold start records, want 1 (one process, clients built once)", function, coldStarts)
	}
	if len(invokes) == 0 || withID == 0 {
		t.Errorf("%s: %d invokes, %d records with a requestId; the check saw nothing", function, len(invokes), withID)
	}
	t.Logf("%s: %d invokes, %d JSON log records (%d with requestId)", function, len(invokes), len(records), withID)
}

// checkNoCanary fails if the Daytona key appears in anything the functions,
// the emulators or the Daytona server wrote or answered.
func (s *stack) checkNoCanary(t testing.TB) {
	t.Helper()
	checked := 0
	look := func(what, text string) {
		checked++
		if strings.Contains(text, canaryKey) {
			t.Errorf("the Daytona API key appears in %s", what)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(s.fn)) {
		r := s.fn[n]
		look(n+" stdout (function output)", r.stdout.String())
		look(n+" stderr (emulator log)", r.stderr.String())
		r.mu.Lock()
		for i, inv := range r.invokes {
			look(n+" answer #"+strconv.Itoa(i+1), string(inv.body))
		}
		r.mu.Unlock()
	}
	look("the Daytona server's log", s.daytonaLog.String())
	t.Logf("the Daytona API key appears in none of %d outputs and answers", checked)
}
