package api

import (
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

func TestDecodeStrict(t *testing.T) {
	type inner struct {
		N int `json:"n"`
	}
	type target struct {
		S     string          `json:"s"`
		U     uint8           `json:"u,omitempty"`
		F     float64         `json:"f"`
		B     bool            `json:"b"`
		Raw   json.RawMessage `json:"raw"`
		Any   any             `json:"any"`
		Data  []byte          `json:"data"`
		In    *inner          `json:"in"`
		Skip  string          `json:"-"`
		NoTag string
	}
	tests := []struct {
		name    string
		in      string
		field   string // "" means success
		message string
	}{
		{"all kinds", `{"s":"x","u":255,"f":-1.5e3,"b":true,"raw":{"k":[1,{"x":2}]},"any":[{"A":1}],"data":"AQI=","in":{"n":-3},"NoTag":"y"}`, "", ""},
		{"nulls", `{"s":null,"in":null,"raw":null,"data":null}`, "", ""},
		{"empty object, whitespace", " \r\n{ }\n\t", "", ""},
		{"opaque values are not checked", `{"raw":{"Unknown":1},"any":{"Whatever":true}}`, "", ""},
		{"uint overflow", `{"u":256}`, "u", "must be a non-negative integer, not number 256"},
		{"negative uint", `{"u":-1}`, "u", "non-negative integer"},
		{"bool for float", `{"f":false}`, "f", "must be a number, not true or false"},
		{"number for bool", `{"b":1}`, "b", "must be true or false, not number 1"},
		{"array for struct", `{"in":[1]}`, "in", "must be an object, not an array"},
		{"nested unknown", `{"in":{"n":1,"m":2}}`, "in.m", "unknown field"},
		{"dash field is unknown", `{"Skip":"x"}`, "Skip", "unknown field"},
		{"empty key is named", `{"in":{"":1}}`, `in.""`, "unknown field"},
		{"untagged field needs its exact Go name", `{"notag":"x"}`, "notag", "unknown field"},
		{"number for bytes", `{"data":1}`, "data", "must be an array"},
		{"unterminated string", `{"s":"abc`, "body", "unexpected end of input"},
		{"empty", ``, "body", "JSON object is required"},
		{"bare literal", `true`, "body", "must be a JSON object"},
		{"garbage", `nope`, "body", "byte offset 2"},
		{"trailing object", `{}{}`, "body", "after the JSON object at byte offset 2"},
		{"trailing whitespace is fine", "{}\n\n", "", ""},
		{"long number not quoted back whole", `{"s":` + strings.Repeat("9", 100) + `}`, "s", "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v target
			err := decodeStrict([]byte(tt.in), &v)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("decodeStrict: %v", err)
				}
				return
			}
			var e *sandstep.Error
			if !errors.As(err, &e) || e.Code != sandstep.EINVALID || e.Field != tt.field || !strings.Contains(e.Message, tt.message) {
				t.Fatalf("err = %#v, want field %q message containing %q", err, tt.field, tt.message)
			}
		})
	}
}

func TestDecodeStrictFillsValues(t *testing.T) {
	var in DirectAgentExecuteInput
	body := `{"userId":"u","idempotencyKey":"k","command":"c","cwd":"d","keepSandbox":true,"resources":{"cpu":2},"autoStopMinutes":0,"git":{"url":"https://example.com/r.git","branch":"main"}}`
	if err := decodeStrict([]byte(body), &in); err != nil {
		t.Fatal(err)
	}
	zero := 0
	want := DirectAgentExecuteInput{
		Direct:     Direct{UserID: "u"},
		Idempotent: Idempotent{IdempotencyKey: "k"},
		AgentExecuteInput: service.AgentExecuteInput{
			CreateSandboxInput: service.CreateSandboxInput{
				Resources:       &sandstep.Resources{CPU: 2},
				AutoStopMinutes: &zero,
				Git:             &service.GitSource{URL: "https://example.com/r.git", Branch: "main"},
			},
			Command: "c", Cwd: "d", KeepSandbox: true,
		},
	}
	if !reflect.DeepEqual(in, want) {
		t.Fatalf("decoded %+v\nwant %+v", in, want)
	}
}

// TestDecodeErrorFallback covers the mapping of encoding/json's own errors,
// which the token walk normally pre-empts.
func TestDecodeErrorFallback(t *testing.T) {
	var v struct {
		A struct {
			B int `json:"b"`
		} `json:"a"`
	}
	typeErr := json.Unmarshal([]byte(`{"a":{"b":"x"}}`), &v)
	var syntaxErr error = &json.SyntaxError{Offset: 7}
	{
		var x any
		syntaxErr = json.Unmarshal([]byte(`{"a":1,}`), &x)
	}
	tests := []struct {
		name    string
		err     error
		field   string
		message string
	}{
		{"type error", typeErr, "a.b", "must be an integer, not string"},
		{"syntax error", syntaxErr, "body", "byte offset 8"},
		{"unexpected EOF", io.ErrUnexpectedEOF, "body", "byte offset 10"},
		{"unknown field", errors.New(`json: unknown field "zap"`), "zap", "unknown field"},
		{"anything else", errors.New("json: something new"), "body", "malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := decodeError(tt.err, 10)
			var e *sandstep.Error
			if !errors.As(err, &e) || e.Code != sandstep.EINVALID || e.Field != tt.field || !strings.Contains(e.Message, tt.message) {
				t.Fatalf("decodeError = %#v, want field %q message containing %q", err, tt.field, tt.message)
			}
			if !errors.Is(err, tt.err) {
				t.Error("the cause must stay in the chain for the log")
			}
		})
	}
}

func TestJSONPath(t *testing.T) {
	tests := map[string]string{
		"":                          "",
		"command":                   "command",
		"AgentExecuteInput.command": "command",
		"AgentExecuteInput.CreateSandboxInput.resources.cpu": "resources.cpu",
		"Caller.userId": "userId",
		"files.path":    "files.path",
	}
	for in, want := range tests {
		if got := jsonPath(in); got != want {
			t.Errorf("jsonPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestInputJSONNamesAreLowerCase guards jsonPath's assumption: every JSON
// name in the types this package decodes starts with a lower-case letter,
// so a path segment that starts with an upper-case one is an embedded Go
// struct. It also checks the walker sees the same fields encoding/json does.
func TestInputJSONNamesAreLowerCase(t *testing.T) {
	types := []any{
		service.CreateSandboxInput{}, service.ExecInput{}, service.AgentExecuteInput{},
		DirectCreateInput{}, DirectExecInput{}, DirectAgentExecuteInput{}, DirectGetInput{}, DirectListInput{}, DirectDeleteInput{},
	}
	seen := map[reflect.Type]bool{}
	var walk func(rt reflect.Type)
	walk = func(rt reflect.Type) {
		for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice || rt.Kind() == reflect.Map {
			rt = rt.Elem()
		}
		if rt.Kind() != reflect.Struct || seen[rt] || opaque(rt) {
			return
		}
		seen[rt] = true
		for name, ft := range structFields(rt) {
			if name == "" || name[0] < 'a' || name[0] > 'z' {
				t.Errorf("%v: JSON name %q does not start with a lower-case letter", rt, name)
			}
			walk(ft)
		}
	}
	for _, v := range types {
		rt := reflect.TypeOf(v)
		walk(rt)
		// Round trip: every name the walker knows is one encoding/json writes.
		out, err := json.Marshal(fill(rt))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		for name := range structFields(rt) {
			if _, ok := m[name]; !ok {
				t.Errorf("%v: walker field %q is not among encoding/json's %s", rt, name, out)
			}
		}
		if len(m) != len(structFields(rt)) {
			t.Errorf("%v: encoding/json writes %d fields, walker knows %d", rt, len(m), len(structFields(rt)))
		}
	}
}

// fill returns a value of t with every top-level field non-zero, so that
// omitempty does not hide it.
func fill(t reflect.Type) any {
	v := reflect.New(t).Elem()
	var set func(v reflect.Value)
	set = func(v reflect.Value) {
		for i := range v.NumField() {
			f := v.Field(i)
			if !f.CanSet() {
				continue
			}
			switch f.Kind() {
			case reflect.Struct:
				if v.Type().Field(i).Anonymous {
					set(f)
				}
			case reflect.String:
				f.SetString("x")
			case reflect.Int:
				f.SetInt(1)
			case reflect.Bool:
				f.SetBool(true)
			case reflect.Pointer:
				f.Set(reflect.New(f.Type().Elem()))
			case reflect.Map:
				f.Set(reflect.MakeMap(f.Type()))
				f.SetMapIndex(reflect.ValueOf("k"), reflect.Zero(f.Type().Elem()))
			case reflect.Slice:
				f.Set(reflect.MakeSlice(f.Type(), 1, 1))
			}
		}
	}
	set(v)
	return v.Interface()
}

func BenchmarkDecodeCreate(b *testing.B) {
	body := []byte(`{"image":"python:3.12","env":{"A":"1","B":"2"},"labels":{"team":"x"},"resources":{"cpu":2,"memoryGiB":4},` +
		`"ttlMinutes":60,"files":[{"path":"main.py","contentBase64":"cHJpbnQoMSkK"},{"path":"req.txt","contentBase64":"cmVxdWVzdHMK"}],` +
		`"git":{"url":"https://github.com/o/r.git","branch":"main"},"metadata":{"repo":"o/r","issueId":"7"}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var in service.CreateSandboxInput
		if err := decodeStrict(body, &in); err != nil {
			b.Fatal(err)
		}
	}
}
