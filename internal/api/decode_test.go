package api

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// Errors about the body as a whole name it; the rest name their field.
func TestDecodeStrictNamesTheBody(t *testing.T) {
	tests := []struct{ name, in, field string }{
		{"empty", ``, bodyField},
		{"not an object", `[]`, bodyField},
		{"malformed", `{"command":`, bodyField},
		{"data after it", `{} {}`, bodyField},
		{"a field", `{"command":1}`, "command"},
		{"a field in another case", `{"Command":"x"}`, "Command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := decodeStrict([]byte(tt.in), new(service.ExecInput))
			if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != tt.field {
				t.Errorf("decodeStrict(%s) = %v, want invalid_input naming %q", tt.in, err, tt.field)
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
	zero, key := 0, "k"
	want := DirectAgentExecuteInput{
		Direct:     Direct{UserID: "u"},
		Idempotent: Idempotent{IdempotencyKey: &key},
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

// Every input type reads back what encoding/json writes of it, each
// top-level field set: the strict reading knows every field's name.
func TestInputTypesReadWhatEncodingJSONWrites(t *testing.T) {
	for _, v := range inputTypes {
		rt := reflect.TypeOf(v)
		out, err := json.Marshal(fill(rt))
		if err != nil {
			t.Fatal(err)
		}
		if err := decodeStrict(out, reflect.New(rt).Interface()); err != nil {
			t.Errorf("%v: %s: %v", rt, out, err)
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
				if f.Type().Elem().Kind() == reflect.Uint8 { // bytes, or raw JSON
					f.SetBytes([]byte("{}"))
					continue
				}
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
