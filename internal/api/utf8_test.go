package api

import (
	"bytes"
	"context"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/strictjson"
)

func TestMayBeLossy(t *testing.T) {
	for in, want := range map[string]bool{
		`{"a":"b"}`:            false,
		`{"a":"\u00e9"}`:       false,
		`{"a":"\u003c"}`:       false,
		`{"a":"\ud83d\ude00"}`: true, // a pair is fine, but worth the exact look
		`{"a":"\uDC00"}`:       true,
		"{\"a\":\"\xff\"}":     true,
		`{"a":"\u"}`:           false,
		`\u`:                   false,
	} {
		if got := mayBeLossy([]byte(in)); got != want {
			t.Errorf("mayBeLossy(%q) = %v, want %v", in, got, want)
		}
	}
}

// A body whose strings are not valid UTF-8 is refused naming the field,
// before the service sees it; encoding/json alone would hand the service
// U+FFFD in their place.
func TestInvalidUTF8InBodies(t *testing.T) {
	tests := []struct {
		name  string
		route string
		body  string
		field string // "" accepts
	}{
		{"command, raw byte", RouteExec, "{\"command\":\"echo \xff\"}", "command"},
		{"command, lone surrogate", RouteExec, `{"command":"echo \ud800"}`, "command"},
		{"command, lone low surrogate", RouteExec, `{"command":"echo \udfff"}`, "command"},
		{"command, high surrogate then letter", RouteExec, `{"command":"\ud800\u0041"}`, "command"},
		{"command, surrogate pair", RouteExec, `{"command":"echo \ud83d\ude00"}`, ""},
		{"command, U+FFFD sent", RouteExec, `{"command":"echo \ufffd` + "\uFFFD" + `"}`, ""},
		{"cwd", RouteExec, "{\"command\":\"ls\",\"cwd\":\"d\xc3\"}", "cwd"},
		{"env value", RouteExec, "{\"command\":\"ls\",\"env\":{\"FOO\":\"\xfe\"}}", "env.FOO"},
		{"env key", RouteExec, "{\"command\":\"ls\",\"env\":{\"F\xffOO\":\"x\"}}", `env.F\xffOO`},
		{"env key, lone surrogate", RouteExec, `{"command":"ls","env":{"F\udc00":"x"}}`, `env.F\udc00`},
		{"file path", RouteCreateSandbox, "{\"files\":[{\"path\":\"a\"},{\"path\":\"b\"},{\"path\":\"c\xff\"}]}", "files[2].path"},
		{"label value", RouteCreateSandbox, "{\"labels\":{\"team\":\"\xffx\"}}", "labels.team"},
		{"label key", RouteCreateSandbox, "{\"labels\":{\"te\xffam\":\"x\"}}", `labels.te\xffam`},
		{"a top-level key", RouteCreateSandbox, "{\"ima\xffge\":\"x\"}", `ima\xffge`},
		{"metadata", RouteAgentExecute, "{\"command\":\"x\",\"metadata\":{\"repo\":\"o/\xff\"}}", "metadata.repo"},
		{"git url", RouteAgentExecute, `{"command":"x","git":{"url":"https://h/\ud800"}}`, "git.url"},
		{"network domain", RouteCreateSandbox, "{\"network\":{\"domainAllowList\":[\"a.com\",\"\xff.com\"]}}", "network.domainAllowList[1]"},
		{"task command", RouteStartTask, "{\"command\":\"\xff\"}", "command"},
		{"task sandbox label", RouteStartTask, "{\"command\":\"x\",\"sandbox\":{\"labels\":{\"k\":\"\xff\"}}}", "sandbox.labels.k"},
		{"task artifact", RouteStartTask, "{\"command\":\"x\",\"artifacts\":[\"out\xff\"]}", "artifacts[0]"},
	}
	for _, tt := range tests {
		for _, b64 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s base64=%v", tt.name, b64), func(t *testing.T) {
				svc := &fakeService{}
				a, _ := newTestAPI(svc, Options{})
				ev := apiEvent(tt.route, withBody(tt.body))
				if b64 {
					ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(tt.body)), true
				}
				res := a.ServeEvent(context.Background(), ev)
				if tt.field == "" {
					if res.StatusCode >= 300 || len(svc.recordedCalls()) != 1 {
						t.Fatalf("status %d %s, calls %v", res.StatusCode, res.Body, svc.recordedCalls())
					}
					return
				}
				if res.StatusCode != http.StatusBadRequest {
					t.Fatalf("status %d, want 400; body %s; calls %+v", res.StatusCode, res.Body, svc.recordedCalls())
				}
				if d := decodeErrorBody(t, res); d.Code != sandstep.EINVALID || d.Field != tt.field || !strings.Contains(d.Message, "UTF-8") {
					t.Errorf("error %+v, want field %q", d, tt.field)
				}
				if calls := svc.recordedCalls(); len(calls) != 0 {
					t.Errorf("service called: %+v", calls)
				}
			})
		}
	}
}

// quoteRaw writes s as a JSON string as a sender that does not check
// UTF-8 would: invalid bytes raw, escapes as written when raw is set.
func quoteRaw(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// eventPayload is an API Gateway event for route as the Lambda runtime
// hands it over, with body, the query and the path id spliced in as JSON
// text exactly (so a test can send what encoding/json cannot write).
func eventPayload(t *testing.T, route, bodyLit, cursorLit, idLit, subLit string) []byte {
	t.Helper()
	ev := apiEvent(route)
	ev.Body = "BODY"
	ev.RequestContext.Authorizer.JWT.Claims["sub"] = "SUB"
	if cursorLit != "" {
		ev.QueryStringParameters = map[string]string{"cursor": "CURSOR"}
	}
	if ev.PathParameters != nil {
		ev.PathParameters["id"] = "PATHID"
	}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{`"BODY"`: bodyLit, `"SUB"`: subLit, `"CURSOR"`: cursorLit, `"PATHID"`: idLit} {
		if to != "" {
			out = bytes.Replace(out, []byte(from), []byte(to), 1)
		}
	}
	return out
}

// The same through the Lambda handler: the event is JSON too, and its
// own decoding must not turn invalid input into valid input first.
func TestInvalidUTF8InTheEvent(t *testing.T) {
	tests := []struct {
		name                  string
		route                 string
		body, cursor, id, sub string // JSON literals; "" keeps the default
		status                int
		field                 string
	}{
		{"valid", RouteExec, `"{\"command\":\"ls\"}"`, "", "", "", 200, ""},
		{"raw byte in the body string", RouteExec, "\"{\\\"command\\\":\\\"ls \xff\\\"}\"", "", "", "", 400, "command"},
		{"lone surrogate escaped at the event level", RouteExec, `"{\"command\":\"ls \ud800\"}"`, "", "", "", 400, "command"},
		{"lone surrogate escaped in the body", RouteExec, `"{\"command\":\"ls \\ud800\"}"`, "", "", "", 400, "command"},
		{"label key", RouteCreateSandbox, "\"{\\\"labels\\\":{\\\"t\xffm\\\":\\\"x\\\"}}\"", "", "", "", 400, `labels.t\xffm`},
		{"query parameter", RouteListTasks, "", "\"c\xff\"", "", "", 400, "cursor"},
		{"query parameter, lone surrogate", RouteListSandboxes, "", `"\udc00"`, "", "", 400, "cursor"},
		{"path parameter", RouteGetSandbox, "", "", "\"sbx_\xff\"", "", 400, "id"},
		{"path parameter, lone surrogate", RouteCancelTask, "", "", `"tsk_\ud800"`, "", 400, "id"},
		{"subject", RouteListSandboxes, "", "", "", "\"alice\xff\"", 401, ""},
		{"subject, lone surrogate", RouteListSandboxes, "", "", "", `"alice\ud800"`, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			a, _ := newTestAPI(svc, Options{})
			body, sub := tt.body, tt.sub
			if body == "" {
				body = `""`
			}
			if sub == "" {
				sub = `"user-1"`
			}
			payload := eventPayload(t, tt.route, body, tt.cursor, tt.id, sub)
			fn, _ := RouteFunction(tt.route)
			out, err := a.Handler(fn).Invoke(context.Background(), payload)
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			var res events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s; calls %+v", res.StatusCode, tt.status, res.Body, svc.recordedCalls())
			}
			if tt.status == 200 {
				return
			}
			if calls := svc.recordedCalls(); len(calls) != 0 {
				t.Errorf("service called: %+v", calls)
			}
			if d := decodeErrorBody(t, res); d.Field != tt.field || (tt.status == 400 && !strings.Contains(d.Message, "UTF-8")) {
				t.Errorf("error %+v, want field %q", d, tt.field)
			}
		})
	}
}

func TestInvalidUTF8InDirectInvocations(t *testing.T) {
	tests := []struct {
		name, function, payload, message string
	}{
		{"userId", FunctionStatus, "{\"action\":\"list\",\"userId\":\"alice\xff\"}", "userId: must be valid UTF-8"},
		{"userId, lone surrogate", FunctionStatus, `{"action":"list","userId":"alice\ud800"}`, "userId: must be valid UTF-8"},
		{"two users that differ only in invalid bytes", FunctionStatus, "{\"action\":\"list\",\"userId\":\"alice\xfe\"}", "userId: must be valid UTF-8"},
		{"action", FunctionStatus, "{\"action\":\"li\xffst\",\"userId\":\"u\"}", "action: must be valid UTF-8"},
		{"command", FunctionExecute, "{\"action\":\"exec\",\"userId\":\"u\",\"sandboxId\":\"sbx_one\",\"command\":\"rm \xff\"}", "command: must be valid UTF-8"},
		{"file path", FunctionCreate, "{\"action\":\"create\",\"userId\":\"u\",\"files\":[{\"path\":\"a\xff\"}]}", "files[0].path: must be valid UTF-8"},
		{"label value", FunctionExecute, `{"action":"agent-execute","userId":"u","command":"x","labels":{"team":"\udbff"}}`, "labels.team: must be valid UTF-8"},
		{"requestId", FunctionDelete, "{\"action\":\"delete\",\"userId\":\"u\",\"sandboxId\":\"sbx_one\",\"requestId\":\"r\xff\"}", "requestId: must be valid UTF-8"},
		{"sandboxId", FunctionDelete, "{\"action\":\"delete\",\"userId\":\"u\",\"sandboxId\":\"sbx_\xff\"}", "sandboxId: must be valid UTF-8"},
		{"cursor", FunctionStatus, "{\"action\":\"list\",\"userId\":\"u\",\"cursor\":\"\xff\"}", "cursor: must be valid UTF-8"},
		{"a task step's ids", FunctionExecute, "{\"action\":\"task-start\",\"taskId\":\"tsk_\xff\",\"userId\":\"u\"}", "taskId: must be valid UTF-8"},
		{"a console start's inline spec", FunctionCreate, "{\"action\":\"task-prepare\",\"taskId\":\"" + testTaskID + "\",\"input\":{\"userId\":\"u\",\"task\":{\"command\":\"\xff\"}}}", "input.task.command: must be valid UTF-8"},
		{"an inline spec's key", FunctionCreate, `{"action":"task-prepare","taskId":"` + testTaskID + `","input":{"userId":"u","task":{"env":{"A\ud800":"1"}}}}`, `input.task.env.A\ud800: must be valid UTF-8`},
		{"inside an array of an inline spec", FunctionCreate, "{\"action\":\"task-prepare\",\"taskId\":\"" + testTaskID + "\",\"input\":{\"userId\":\"u\",\"task\":{\"artifacts\":[\"a\",\"\xff\"]}}}", "input.task.artifacts[1]: must be valid UTF-8"},
		{"a wait's token", FunctionStatus, "{\"action\":\"task-wait\",\"taskId\":\"" + testTaskID + "\",\"userId\":\"u\",\"token\":\"\xff\"}", "token: must be valid UTF-8"},
		{"a clean-up's failure", FunctionDelete, "{\"action\":\"task-cleanup\",\"taskId\":\"" + testTaskID + "\",\"failure\":{\"Error\":\"E\",\"Cause\":\"\xff\"}}", "failure.Cause: must be valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			a, _ := newTestAPI(svc, Options{})
			ive := invokeError(t, a, tt.function, tt.payload)
			if ive.Type != "Sandbox.InvalidInput" || !strings.HasPrefix(ive.Message, tt.message) {
				t.Errorf("error %+v, want Sandbox.InvalidInput %q...", ive, tt.message)
			}
			if calls := svc.recordedCalls(); len(calls) != 0 {
				t.Errorf("service called: %+v", calls)
			}
		})
	}
}

// A task's end is cleaned up whatever else the status change carries:
// its detail is read leniently, and what is not read is not checked.
func TestTaskEndedIgnoresWhatItDoesNotRead(t *testing.T) {
	svc := &fakeService{outcomes: true}
	a, _ := newTestAPI(svc, Options{})
	payload := "{\"action\":\"task-ended\",\"detail\":{\"name\":\"" + testTaskID + "\",\"status\":\"ABORTED\",\"input\":\"\xff\",\"output\":\"\\ud800\"}}"
	if _, err := a.Handler(FunctionDelete).Invoke(context.Background(), []byte(payload)); err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if calls := svc.recordedCalls(); len(calls) != 1 || calls[0].id != testTaskID {
		t.Fatalf("calls %+v", calls)
	}
}

// inputTypes are the types decodeStrict decodes: the HTTP bodies and
// every direct action's input.
var inputTypes = []any{
	service.CreateSandboxInput{}, service.ExecInput{}, service.AgentExecuteInput{}, service.TaskInput{},
	DirectCreateInput{}, DirectExecInput{}, DirectAgentExecuteInput{}, DirectGetInput{}, DirectListInput{}, DirectDeleteInput{},
	PrepareInput{}, StepInput{}, WaitInput{}, CleanUpInput{}, EndedInput{}, ReapInput{},
}

// spot is a string of a sample document: a value at path, or the key
// that ends path.
type spot struct {
	path string
	key  bool
}

var lenientType = reflect.TypeFor[strictjson.Lenient]()

// opaque reports whether t decodes itself or takes any JSON.
func opaque(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t.Kind() == reflect.Interface || pt.Implements(reflect.TypeFor[json.Unmarshaler]()) ||
		pt.Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
}

// jsonFields are the JSON names of struct t's fields, promoted ones
// included, as encoding/json reads them (found independently of
// strictjson, which they check).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for _, f := range reflect.VisibleFields(t) {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		embedded := f.Anonymous && name == "" && (f.Type.Kind() == reflect.Struct || f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct)
		if name == "-" || embedded || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	return m
}

// sample writes a JSON document of type t with every field present (one
// map entry "k", one array element), every string "s" or, at bad, s
// followed by corrupt. It returns the spots a string could be corrupted
// at. Opaque values get a small object; lenient ones are left alone.
func sample(t reflect.Type, bad spot, corrupt string) ([]byte, []spot) {
	var b bytes.Buffer
	var spots []spot
	str := func(s string, at spot) {
		spots = append(spots, at)
		if at == bad {
			b.WriteString(`"` + s + corrupt + `"`)
			return
		}
		b.WriteString(`"` + s + `"`)
	}
	join := func(path, key string) string {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	var write func(t reflect.Type, path string)
	write = func(t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case t == lenientType:
			b.WriteString(`{"name":"x"}`)
			return
		case opaque(t):
			b.WriteByte('{')
			str("k", spot{join(path, "k"), true})
			b.WriteByte(':')
			str("s", spot{path: join(path, "k")})
			b.WriteByte('}')
			return
		}
		switch t.Kind() {
		case reflect.Struct:
			fields := jsonFields(t)
			b.WriteByte('{')
			for i, name := range slices.Sorted(maps.Keys(fields)) {
				if i > 0 {
					b.WriteByte(',')
				}
				str(name, spot{join(path, name), true})
				b.WriteByte(':')
				write(fields[name], join(path, name))
			}
			b.WriteByte('}')
		case reflect.Map:
			b.WriteByte('{')
			str("k", spot{join(path, "k"), true})
			b.WriteByte(':')
			write(t.Elem(), join(path, "k"))
			b.WriteByte('}')
		case reflect.Slice:
			b.WriteByte('[')
			write(t.Elem(), path+"[0]")
			b.WriteByte(']')
		case reflect.String:
			str("s", spot{path: path})
		case reflect.Bool:
			b.WriteString("true")
		default:
			b.WriteString("1")
		}
	}
	write(t, "")
	return b.Bytes(), spots
}

// corruptions are the ways a string fails to be UTF-8, as JSON text.
var corruptions = []struct{ name, text, shown string }{
	{"raw byte", "\xff", `\xff`},
	{"cut sequence", "\xe2\x82", `\xe2\x82`},
	{"lone high surrogate", `\ud800`, `\ud800`},
	{"lone low surrogate", `\uDFFF`, `\uDFFF`},
}

// Every string of every input, value or key, is checked: the refusal
// names it.
func TestInvalidUTF8InEveryField(t *testing.T) {
	for _, v := range inputTypes {
		rt := reflect.TypeOf(v)
		doc, spots := sample(rt, spot{}, "")
		if err := decodeStrict(doc, reflect.New(rt).Interface()); err != nil {
			t.Fatalf("%v: the sample %s does not decode: %v", rt, doc, err)
		}
		for _, at := range spots {
			for _, c := range corruptions {
				doc, _ := sample(rt, at, c.text)
				want := at.path
				if at.key {
					want += c.shown
				}
				err := decodeStrict(doc, reflect.New(rt).Interface())
				if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != want || !strings.Contains(sandstep.ErrorMessage(err), "UTF-8") {
					t.Errorf("%v, %s at %+v: err %v, want field %q", rt, c.name, at, err, want)
				}
			}
		}
	}
}

// A query parameter's name that is not valid UTF-8 is named as sent, as a
// body key is: the event's own decoding turned its bytes into U+FFFD, and
// two names that differed only in them into one.
func TestInvalidQueryNamesInTheEvent(t *testing.T) {
	tests := []struct {
		name, query, field string // query: the queryStringParameters JSON text
	}{
		{"raw byte", "{\"cursor\xff\":\"x\"}", `cursor\xff`},
		{"lone surrogate escaped", `{"cursor\ud800":"x"}`, `cursor\xed\xa0\x80`},
		{"two names one once decoded", "{\"c\xff\":\"x\",\"c\xfe\":\"y\"}", `c\xfe`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			a, _ := newTestAPI(svc, Options{})
			payload := eventPayload(t, RouteListSandboxes, `""`, `"CURSOR"`, "", `"user-1"`)
			payload = bytes.Replace(payload, []byte(`{"cursor":"CURSOR"}`), []byte(tt.query), 1)
			out, err := a.Handler(FunctionStatus).Invoke(context.Background(), payload)
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			var res events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			if d := decodeErrorBody(t, res); res.StatusCode != 400 || d.Field != tt.field {
				t.Errorf("%d %+v, want 400 naming %q", res.StatusCode, d, tt.field)
			}
			if calls := svc.recordedCalls(); len(calls) != 0 {
				t.Errorf("service called: %+v", calls)
			}
		})
	}
}

// exactMap takes what encoding/json takes into a map of strings, and
// keeps every byte.
func TestExactMap(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]string
		ok       bool
	}{
		{"null", `null`, nil, true},
		{"empty", `{}`, map[string]string{}, true},
		{"a null value", `{"a":null,"b":"x"}`, map[string]string{"a": "", "b": "x"}, true},
		{"raw bytes", "{\"a\xff\":\"\xfe\"}", map[string]string{"a\xff": "\xfe"}, true},
		{"escapes", `{"\u00e9\ud800":"\n"}`, map[string]string{"é\xed\xa0\x80": "\n"}, true},
		{"white space", " { \"a\" : \"b\" , \"c\":\"d\" } ", map[string]string{"a": "b", "c": "d"}, true},
		{"a number", `{"a":1}`, nil, false},
		{"an array", `["a"]`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m exactMap
			err := json.Unmarshal([]byte(tt.in), &m)
			if (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && !reflect.DeepEqual(map[string]string(m), tt.want) {
				t.Errorf("got %q, want %q", m, tt.want)
			}
		})
	}
}
