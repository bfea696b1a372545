package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/strictjson"
)

// The fuzz targets of the two edges. `go test` runs their seeds (the
// f.Add calls, and testdata/fuzz when a failure was kept there); `make
// fuzz` explores from them.

// loneSurrogate reports whether JSON text holds a \u escape of a surrogate
// that is not half of a pair. It is the test's own reading, independent of
// unquoteExact.
func loneSurrogate(b []byte) bool {
	hex := func(i int) (int, bool) {
		if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
		return int(n), err == nil
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		r, ok := hex(i)
		if !ok {
			i++ // a two-character escape, \\ included
			continue
		}
		switch {
		case r >= 0xd800 && r <= 0xdbff:
			if lo, ok := hex(i + 6); ok && lo >= 0xdc00 && lo <= 0xdfff {
				i += 11
				continue
			}
			return true
		case r >= 0xdc00 && r <= 0xdfff:
			return true
		}
		i += 5
	}
	return false
}

// invalidText reports whether JSON text would not decode to valid UTF-8.
func invalidText(b []byte) bool { return !utf8.Valid(b) || loneSurrogate(b) }

// checkStrings fails unless every string in v (keys, raw JSON included,
// lenient JSON excepted) is valid UTF-8.
func checkStrings(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	if !v.IsValid() {
		return
	}
	switch {
	case v.Type() == lenientType:
		return
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8:
		if invalidText(v.Bytes()) {
			t.Fatalf("%s: raw JSON %q is not valid UTF-8", path, v.Bytes())
		}
		return
	}
	switch v.Kind() {
	case reflect.String:
		if !utf8.ValidString(v.String()) {
			t.Fatalf("%s: %q is not valid UTF-8", path, v.String())
		}
	case reflect.Pointer, reflect.Interface:
		checkStrings(t, v.Elem(), path)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				checkStrings(t, v.Field(i), path+"."+v.Type().Field(i).Name)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			checkStrings(t, v.Index(i), path+"["+strconv.Itoa(i)+"]")
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			checkStrings(t, it.Key(), path+" key")
			checkStrings(t, it.Value(), path+"."+it.Key().String())
		}
	}
}

// addSamples adds to f, for each type, its sample document whole and with
// each of its strings (keys included) made invalid in each way;
// with(type, doc) says what to add.
func addSamples(types []any, with func(i int, doc []byte)) {
	for i, v := range types {
		rt := reflect.TypeOf(v)
		doc, spots := sample(rt, spot{}, "")
		with(i, doc)
		for _, at := range spots {
			for _, c := range corruptions {
				bad, _ := sample(rt, at, c.text)
				with(i, bad)
			}
		}
	}
}

// FuzzDecodeStrict: decoding never panics; what it refuses is
// invalid_input naming a field in valid UTF-8; what it accepts is valid
// UTF-8 everywhere and encodes to JSON that decodes to the same value.
func FuzzDecodeStrict(f *testing.F) {
	addSamples(inputTypes, func(i int, doc []byte) { f.Add(uint8(i), doc) })
	f.Add(uint8(0), []byte(`{"files":[{"path":"a","contentBase64":""}],"env":{"A":"\u00e9\ud83d\ude00"}}`))
	f.Add(uint8(1), []byte(`{"command":"x","Command":"y"}`))
	f.Add(uint8(1), []byte(`{"command":"\ufffd`+"\uFFFD"+`"}`))
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		rt := reflect.TypeOf(inputTypes[int(kind)%len(inputTypes)])
		v := reflect.New(rt)
		err := decodeStrict(data, v.Interface())
		if err != nil {
			var e *sandstep.Error
			if !errors.As(err, &e) || e.Code != sandstep.EINVALID || e.Field == "" {
				t.Fatalf("refusal %#v is not invalid_input naming a field", err)
			}
			if !utf8.ValidString(e.Field) || !utf8.ValidString(e.Message) {
				t.Fatalf("refusal %q: %q is not valid UTF-8", e.Field, e.Message)
			}
			return
		}
		if invalidText(data) && rt != reflect.TypeFor[EndedInput]() {
			t.Fatalf("%v accepted text that is not valid UTF-8: %q", rt, data)
		}
		checkStrings(t, v, rt.Name())
		out, err := json.Marshal(v.Interface())
		if err != nil {
			t.Fatalf("encode %+v: %v", v, err)
		}
		again := reflect.New(rt)
		if err := decodeStrict(out, again.Interface()); err != nil {
			t.Fatalf("its own encoding %s is refused: %v", out, err)
		}
		if out2, _ := json.Marshal(again.Interface()); !bytes.Equal(out, out2) {
			t.Fatalf("re-encoded differently:\n%s\n%s", out, out2)
		}
	})
}

// httpFuzzRoutes are the routes an HTTP event is fuzzed against: the JWT
// routes (the nudge and the webhook check their caller themselves).
var httpFuzzRoutes = []string{
	RouteCreateSandbox, RouteListSandboxes, RouteGetSandbox, RouteExec, RouteDeleteSandbox, RouteAgentExecute,
	RouteStartTask, RouteListTasks, RouteGetTask, RouteTaskLogs, RouteTaskArtifacts, RouteCancelTask,
}

// quietAPI is an API over svc that logs nowhere.
func quietAPI(svc Service) *API {
	return New(svc, Options{MaxBodyBytes: 1 << 16, Logger: slog.New(slog.DiscardHandler)})
}

// FuzzHTTPEvent sends an API Gateway event, as the Lambda runtime hands
// it over, with the body (as text or base64), a query parameter's name
// and value, the path id and the token's subject as fuzzed bytes.
// Whatever they are: no panic, no 500, an answer in the contract's shape
// that replaced nothing; input that is not valid UTF-8 never reaches the
// service, a query name that is not is named as sent, and what reaches
// the service is valid UTF-8 everywhere.
func FuzzHTTPEvent(f *testing.F) {
	bodies := map[string]any{
		RouteCreateSandbox: service0(0), RouteExec: service0(1), RouteAgentExecute: service0(2), RouteStartTask: service0(3),
	}
	for ri, route := range httpFuzzRoutes {
		f.Add(uint8(ri), []byte(""), false, "cursor", "", "sbx_one", "user-1")
		f.Add(uint8(ri), []byte(""), false, "cursor", "c\xff", "sbx_\xff", "user-1")
		f.Add(uint8(ri), []byte(""), false, "cursor\xff", "c", "sbx_one", "user-1")
		f.Add(uint8(ri), []byte(""), false, "c\xed\xa0\x80", "c", "sbx_one", "user-1")
		f.Add(uint8(ri), []byte(""), false, "cursor", "", "", "alice\xed\xa0\x80")
		if v, ok := bodies[route]; ok {
			addSamples([]any{v}, func(_ int, doc []byte) {
				f.Add(uint8(ri), doc, false, "cursor", "", "sbx_one", "user-1")
				f.Add(uint8(ri), doc, true, "cursor", "", "sbx_one", "user-1")
			})
		}
	}
	f.Fuzz(func(t *testing.T, ri uint8, body []byte, b64 bool, qname, cursor, id, sub string) {
		route := httpFuzzRoutes[int(ri)%len(httpFuzzRoutes)]
		rt := routes[route]
		bodyLit := quoteRaw(string(body))
		if b64 {
			bodyLit = `"` + base64.StdEncoding.EncodeToString(body) + `"`
		}
		ev := apiEvent(route)
		ev.Body, ev.IsBase64Encoded = "BODY", b64
		ev.RequestContext.Authorizer.JWT.Claims["sub"] = "SUB"
		ev.QueryStringParameters = nil
		if slices.Contains(rt.query, "cursor") {
			ev.QueryStringParameters = map[string]string{"QNAME": "CURSOR"}
		}
		if rt.pathID {
			ev.PathParameters = map[string]string{"id": "PATHID"}
		}
		payload, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		for from, to := range map[string]string{`"BODY"`: bodyLit, `"SUB"`: quoteRaw(sub), `"QNAME"`: quoteRaw(qname), `"CURSOR"`: quoteRaw(cursor), `"PATHID"`: quoteRaw(id)} {
			payload = bytes.Replace(payload, []byte(from), []byte(to), 1)
		}

		svc := &fakeService{}
		out, err := quietAPI(svc).Handler(rt.function).Invoke(context.Background(), payload)
		if err != nil {
			t.Fatalf("Invoke: %v", err)
		}
		var res events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("answer %s: %v", out, err)
		}
		if res.StatusCode >= 500 || res.StatusCode < 200 {
			t.Fatalf("status %d: %s", res.StatusCode, res.Body)
		}
		if strings.Contains(res.Body, `\ufffd`) {
			t.Fatalf("the answer replaced invalid bytes: %s", res.Body)
		}
		calls := svc.recordedCalls()
		if res.StatusCode >= 300 {
			var e ErrorResponse
			dec := json.NewDecoder(strings.NewReader(res.Body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil || e.Error.Code == "" || e.Error.RequestID != "req-1" {
				t.Fatalf("error body %s: %v", res.Body, err)
			}
			if res.StatusCode == 400 && slices.Contains(rt.query, "cursor") && !utf8.ValidString(qname) && e.Error.Field != strictjson.Printable(qname) {
				t.Fatalf("query name %q named %q", qname, e.Error.Field)
			}
			if len(calls) != 0 {
				t.Fatalf("status %d, yet the service was called: %+v", res.StatusCode, calls)
			}
			return
		}
		if len(calls) != 1 {
			t.Fatalf("calls %+v", calls)
		}
		switch {
		case !utf8.ValidString(sub):
			t.Fatalf("subject %q accepted", sub)
		case rt.pathID && !utf8.ValidString(id):
			t.Fatalf("path id %q accepted", id)
		case slices.Contains(rt.query, "cursor") && !utf8.ValidString(cursor):
			t.Fatalf("cursor %q accepted", cursor)
		case rt.body != "" && len(bytes.TrimSpace(body)) > 0 && invalidText(body):
			t.Fatalf("body %q accepted", body)
		}
		c := calls[0]
		checkStrings(t, reflect.ValueOf(c.call), "call")
		checkStrings(t, reflect.ValueOf(c.id), "id")
		checkStrings(t, reflect.ValueOf(c.cursor), "cursor")
		checkStrings(t, reflect.ValueOf(c.in), "in")
	})
}

// service0 is one of the HTTP body types of inputTypes.
func service0(i int) any { return inputTypes[i] }

// directSeeds are the actions of every function with their input types.
var directSeeds = []struct {
	function, action string
	in               any
}{
	{FunctionCreate, ActionCreate, DirectCreateInput{}},
	{FunctionCreate, ActionTaskPrepare, PrepareInput{}},
	{FunctionCreate, ActionTaskSandbox, StepInput{}},
	{FunctionExecute, ActionExec, DirectExecInput{}},
	{FunctionExecute, ActionAgentExecute, DirectAgentExecuteInput{}},
	{FunctionExecute, ActionTaskStart, StepInput{}},
	{FunctionExecute, ActionTaskCollect, StepInput{}},
	{FunctionStatus, ActionGet, DirectGetInput{}},
	{FunctionStatus, ActionList, DirectListInput{}},
	{FunctionStatus, ActionTaskWait, WaitInput{}},
	{FunctionStatus, ActionTaskCheck, StepInput{}},
	{FunctionDelete, ActionDelete, DirectDeleteInput{}},
	{FunctionDelete, ActionTaskCleanUp, CleanUpInput{}},
	{FunctionDelete, ActionTaskEnded, EndedInput{}},
	{FunctionReaper, ActionReap, ReapInput{}},
}

// The seeds cover every direct action, so a new one is fuzzed too.
func TestDirectSeedsCoverEveryAction(t *testing.T) {
	for _, fn := range Functions() {
		var seeded []string
		for _, s := range directSeeds {
			if s.function == fn {
				seeded = append(seeded, s.action)
			}
		}
		if got := Actions(fn); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(seeded))) {
			t.Errorf("%s: actions %v, seeds %v", fn, got, seeded)
		}
	}
}

// FuzzDirectInvocation invokes a function with a fuzzed payload, as the
// Lambda runtime hands it over. Whatever it is: no panic; either the
// action's one service call, with valid UTF-8 everywhere, or a function
// error of the contract's names whose message is valid UTF-8; a payload
// that is not valid UTF-8 is Sandbox.InvalidInput (but in task-ended's
// lenient detail).
func FuzzDirectInvocation(f *testing.F) {
	fns := Functions()
	for _, s := range directSeeds {
		fi := uint8(slices.Index(fns, s.function))
		addSamples([]any{s.in}, func(_ int, doc []byte) {
			f.Add(fi, bytes.Replace(doc, []byte(`"action":"s"`), []byte(`"action":"`+s.action+`"`), 1))
		})
	}
	f.Add(uint8(0), []byte("{\"action\":\"cr\xffeate\",\"userId\":\"u\"}"))
	f.Add(uint8(0), []byte(`{"action":"create","userId":"u","labels":{"a":"\udc00"}}`))
	names := map[string]bool{}
	for _, c := range sandstep.Codes() {
		names[StepFunctionsName(c)] = true
	}
	f.Fuzz(func(t *testing.T, fi uint8, payload []byte) {
		if !json.Valid(payload) {
			return // Lambda refuses a payload that is not JSON
		}
		function := fns[int(fi)%len(fns)]
		svc := &fakeService{outcomes: true}
		out, err := quietAPI(svc).Handler(function).Invoke(context.Background(), payload)
		calls := svc.recordedCalls()
		if err != nil {
			ive, ok := err.(messages.InvokeResponse_Error)
			if !ok {
				t.Fatalf("error %T %v is not a function error", err, err)
			}
			if !names[ive.Type] && ive.Type != "Task.Failed" && ive.Type != "Task.TimedOut" && ive.Type != "Task.Cancelled" {
				t.Fatalf("error type %q", ive.Type)
			}
			if !utf8.ValidString(ive.Message) {
				t.Fatalf("error message %q is not valid UTF-8", ive.Message)
			}
			if ive.Type == StepFunctionsName(sandstep.EINVALID) && len(calls) != 0 {
				t.Fatalf("refused, yet the service was called: %+v", calls)
			}
			return
		}
		if invalidText(payload) {
			var probe struct{ Action string }
			_ = json.Unmarshal(payload, &probe)
			if probe.Action != ActionTaskEnded {
				t.Fatalf("%s accepted %q: %s", function, payload, out)
			}
		}
		if len(calls) > 1 {
			t.Fatalf("calls %+v", calls)
		}
		for _, c := range calls {
			checkStrings(t, reflect.ValueOf(c.call), "call")
			checkStrings(t, reflect.ValueOf(c.id), "id")
			checkStrings(t, reflect.ValueOf(c.cursor), "cursor")
			checkStrings(t, reflect.ValueOf(c.in), "in")
		}
		if !json.Valid(out) {
			t.Fatalf("answer %q is not JSON", out)
		}
	})
}
