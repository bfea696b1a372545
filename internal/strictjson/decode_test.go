package strictjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

type inner struct {
	N int `json:"n"`
}

type Base struct {
	ID string `json:"id"`
}

type target struct {
	Base
	S     string            `json:"s"`
	U     uint8             `json:"u,omitempty"`
	F     float64           `json:"f"`
	B     bool              `json:"b"`
	P     *float64          `json:"p"`
	Raw   json.RawMessage   `json:"raw"`
	Any   any               `json:"any"`
	Data  []byte            `json:"data"`
	In    *inner            `json:"in"`
	M     map[string]inner  `json:"m"`
	L     []inner           `json:"l"`
	Tags  map[string]string `json:"tags"`
	Lax   Lenient           `json:"lax"`
	Skip  string            `json:"-"`
	NoTag string
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		field   string // with message "": success
		message string
	}{
		{"all kinds", `{"id":"i","s":"x","u":255,"f":-1.5e3,"b":true,"p":0.5,"raw":{"k":[1,{"x":2}]},"any":[{"A":1}],"data":"AQI=","in":{"n":-3},` +
			`"m":{"Key":{"n":1}},"l":[{"n":2}],"tags":{"T":"v"},"lax":{"Any":"\ud800"},"NoTag":"y"}`, "", ""},
		{"nulls", `{"s":null,"p":null,"in":null,"raw":null,"data":null,"m":null,"lax":null}`, "", ""},
		{"empty object, white space", " \r\n{ }\n\t", "", ""},
		{"opaque values are not checked", `{"raw":{"Unknown":1},"any":{"Whatever":true}}`, "", ""},
		{"uint overflow", `{"u":256}`, "u", "must be a non-negative integer, not number 256"},
		{"negative uint", `{"u":-1}`, "u", "non-negative integer"},
		{"bool for float", `{"f":false}`, "f", "must be a number, not true or false"},
		{"string for a pointer to a number", `{"p":"0.5"}`, "p", "must be a number, not a string"},
		{"number for bool", `{"b":1}`, "b", "must be true or false, not number 1"},
		{"array for struct", `{"in":[1]}`, "in", "must be an object, not an array"},
		{"nested unknown", `{"in":{"n":1,"m":2}}`, "in.m", "unknown field"},
		{"unknown in a map's value", `{"m":{"Key":{"n":1,"x":2}}}`, "m.Key.x", "unknown field"},
		{"unknown in a list", `{"l":[{"n":1},{"N":2}]}`, "l[1].N", "unknown field"},
		{"a name in another case", `{"S":"x"}`, "S", "unknown field"},
		{"an embedded struct's field in another case", `{"ID":"x"}`, "ID", "unknown field"},
		{"an embedded struct's Go name", `{"Base":{}}`, "Base", "unknown field"},
		{"duplicate", `{"s":"x","s":"y"}`, "s", "duplicate field"},
		{"dash field is unknown", `{"Skip":"x"}`, "Skip", "unknown field"},
		{"empty key is named", `{"in":{"":1}}`, `in.""`, "unknown field"},
		{"untagged field needs its exact Go name", `{"notag":"x"}`, "notag", "unknown field"},
		{"number for bytes", `{"data":1}`, "data", "must be an array"},
		{"invalid UTF-8 in a value", "{\"l\":[{\"n\":1}],\"tags\":{\"a\":\"x\xff\"}}", "tags.a", NotUTF8},
		{"a lone surrogate in a key", `{"tags":{"k\ud800":"v"}}`, `tags.k\ud800`, NotUTF8},
		{"a lone surrogate inside raw JSON", `{"raw":{"k":"\udc00"}}`, "raw.k", NotUTF8},
		{"unterminated string", `{"s":"abc`, "", "unexpected end of input"},
		{"empty", ``, "", "JSON object is required"},
		{"white space only", " \n", "", "JSON object is required"},
		{"bare literal", `true`, "", "must be a JSON object"},
		{"null", `null`, "", "must be a JSON object"},
		{"an array", `[{}]`, "", "must be a JSON object"},
		{"garbage", `nope`, "", "byte offset 1: invalid character 'o'"},
		{"trailing object", `{}{}`, "", "after the JSON object at byte offset 2"},
		{"a stray bracket after it", `{} ]`, "", "after the JSON object"},
		{"a no-break space after it", "{}\u00a0", "", "after the JSON object"}, // JSON's white space only
		{"a form feed after it", "{}\f", "", "after the JSON object"},
		{"trailing white space is fine", "{}\n\t\r ", "", ""},
		{"long number not quoted back whole", `{"s":` + strings.Repeat("9", 100) + `}`, "s", "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v target
			err := Decode([]byte(tt.in), &v)
			if tt.message == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
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

func TestDecodeFillsValues(t *testing.T) {
	var v target
	body := `{"id":"i","s":"x","p":0.25,"in":{"n":-3},"m":{"Key":{"n":1}},"tags":{"T":"\u00e9"},"lax":{"A": 1}}`
	if err := Decode([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	p := 0.25
	want := target{Base: Base{ID: "i"}, S: "x", P: &p, In: &inner{N: -3}, M: map[string]inner{"Key": {N: 1}},
		Tags: map[string]string{"T": "é"}, Lax: Lenient(`{"A": 1}`)}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("decoded %+v\nwant %+v", v, want)
	}
}

// Named names a refusal of the whole document, and leaves a field's.
func TestNamed(t *testing.T) {
	tests := []struct{ name, doc, field string }{
		{"the whole", `[]`, "body"},
		{"data after it", `{} {}`, "body"},
		{"a field", `{"s": 1}`, "s"},
		{"accepted", `{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Named("body", Decode([]byte(tt.doc), new(target)))
			if sandstep.ErrorField(err) != tt.field || (tt.field == "") != (err == nil) {
				t.Errorf("Named(Decode(%s)) = %v (field %q), want field %q", tt.doc, err, sandstep.ErrorField(err), tt.field)
			}
		})
	}
}

// TestDecodeErrorFallback covers the mapping of encoding/json's own errors,
// which the token walk normally pre-empts.
func TestDecodeErrorFallback(t *testing.T) {
	typeErr := json.Unmarshal([]byte(`{"in":{"n":"x"}}`), new(target))
	syntaxErr := json.Unmarshal([]byte(`{"a":1,}`), new(any))
	tests := []struct {
		name    string
		err     error
		field   string
		message string
		cause   bool // kept for the log: the message does not say it all
	}{
		{"type error", typeErr, "in.n", "must be an integer, not string", true},
		{"syntax error", syntaxErr, "", "byte offset 7: invalid character '}'", false},
		{"unexpected EOF", io.ErrUnexpectedEOF, "", "byte offset 10", false},
		{"unknown field", errors.New(`json: unknown field "zap"`), "zap", "unknown field", true},
		{"anything else", errors.New("json: something new"), "", "malformed JSON", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := decodeError(tt.err, reflect.TypeFor[*target](), 10)
			var e *sandstep.Error
			if !errors.As(err, &e) || e.Code != sandstep.EINVALID || e.Field != tt.field || !strings.Contains(e.Message, tt.message) {
				t.Fatalf("decodeError = %#v, want field %q message containing %q", err, tt.field, tt.message)
			}
			if errors.Is(err, tt.err) != tt.cause {
				t.Errorf("the cause in the chain: %v, want %v", errors.Is(err, tt.err), tt.cause)
			}
		})
	}
}

func TestJSONPath(t *testing.T) {
	type Deep struct {
		Base
		Q int `json:"q"`
	}
	type outer struct {
		*Deep
		Named Base            `json:"Named"`
		Items []Deep          `json:"items"`
		ByKey map[string]Deep `json:"byKey"`
		Upper int             `json:"Upper"`
	}
	tests := []struct{ in, want string }{
		{"", ""},
		{"q", "q"},
		{"Deep.q", "q"},
		{"Deep.Base.id", "id"},
		{"Named.id", "Named.id"}, // a tagged struct field is a name, not an embedding
		{"items.Base.id", "items.id"},
		{"byKey.q", "byKey.q"},
		{"Upper", "Upper"},
		{"unknown.x", "unknown.x"},
	}
	for _, tt := range tests {
		if got := jsonPath(reflect.TypeFor[*outer](), tt.in); got != tt.want {
			t.Errorf("jsonPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// The walker sees the fields encoding/json does: what encoding/json writes
// decodes back.
func TestDecodeReadsWhatEncodingJSONWrites(t *testing.T) {
	p := 1.5
	in := target{Base: Base{ID: "i"}, S: "s", U: 1, F: 2, B: true, P: &p, Raw: json.RawMessage(`{}`), Any: "a", Data: []byte{1},
		In: &inner{N: 1}, M: map[string]inner{"k": {N: 2}}, L: []inner{{N: 3}}, Tags: map[string]string{"t": "v"}, Lax: Lenient(`[]`), NoTag: "n"}
	out, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var back target
	if err := Decode(out, &back); err != nil {
		t.Fatalf("Decode(%s): %v", out, err)
	}
	if !reflect.DeepEqual(back, in) {
		t.Errorf("decoded %+v\nwant %+v", back, in)
	}
}

func ExampleDecode() {
	var task struct {
		Command   string `json:"command"`
		Resources struct {
			CPU int `json:"cpu"`
		} `json:"resources"`
	}
	for _, doc := range []string{
		`{"command": "make test", "resources": {"cpu": 2}}`,
		`{"command": "make test", "resources": {"CPU": 2}}`,
		`{"command": "make test", "resources": {"cpu": "2"}}`,
		`{"command": "make test"} {"command": "rm -rf /"}`,
	} {
		fmt.Println(Decode([]byte(doc), &task))
	}
	// Output:
	// <nil>
	// invalid_input: resources.CPU: unknown field
	// invalid_input: resources.cpu: must be an integer, not a string
	// invalid_input: unexpected data after the JSON object at byte offset 24
}

// Malformed JSON is refused naming the offset of the byte at fault in the
// document, wherever it is (json.Decoder.Token counts from its last token).
func TestMalformedJSONNamesTheOffsetInTheDocument(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want int64 // the bad byte's index
	}{
		{"a bad value after a key", `{"s3": x}`, 7},
		{"a bad value deep in an array", `{"a": {"b": {"c": [1, 2, x]}}}`, 25},
		{"a literal cut short", `{"a": tru}`, 9},
		{"a missing colon", `{"a" 1}`, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v struct {
				A  any `json:"a"`
				S3 any `json:"s3"`
			}
			err := Decode([]byte(tt.doc), &v)
			want := fmt.Sprintf("malformed JSON at byte offset %d: invalid character '%c'", tt.want, tt.doc[tt.want])
			if sandstep.ErrorCode(err) != sandstep.EINVALID || !strings.HasPrefix(sandstep.ErrorMessage(err), want) {
				t.Errorf("Decode(%s) = %q, want a message starting %q", tt.doc, sandstep.ErrorMessage(err), want)
			}
		})
	}
}

type Emb struct {
	F float64 `json:"f"`
}

type embeddedWithOptions struct {
	Emb `json:",omitempty"` // still embedded: encoding/json and structFields promote f
}

type embeddedPointerWithOptions struct {
	*Emb `json:",omitempty"`
}

// encoding/json's path of a type error names an embedded struct by its Go
// name whether or not its tag has options; jsonPath must drop it as
// structFields promotes its fields, so the refusal names "f", as the walker
// would, not "Emb.f", a field no document has.
func TestFallbackPathDropsEmbeddedStructsWithTagOptions(t *testing.T) {
	tests := []struct {
		name string
		v    any
	}{
		{"embedded struct", new(embeddedWithOptions)},
		{"embedded pointer", new(embeddedPointerWithOptions)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// 1e400 passes the token walk (a number for a float64) and
			// overflows in encoding/json: the fallback names the field.
			err := Decode([]byte(`{"f": 1e400}`), tt.v)
			if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != "f" {
				t.Errorf("Decode = %v (field %q), want invalid_input naming %q", err, sandstep.ErrorField(err), "f")
			}
		})
	}
}

type withBytes struct {
	Data []byte `json:"data"`
	In   struct {
		Blob []byte `json:"blob"`
	} `json:"in"`
}

// A []byte field takes a base64 string (the walker accepts any string for
// it); a string that is not base64 is a bad value of that field, to be
// named by its path, not "malformed JSON" about a document that is valid
// JSON, naming nothing.
func TestABadBase64ValueNamesItsField(t *testing.T) {
	tests := []struct{ name, doc, field string }{
		{"top level", `{"data": "!!"}`, "data"},
		{"nested", `{"in": {"blob": "not base64"}}`, "in.blob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Decode([]byte(tt.doc), new(withBytes))
			if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != tt.field || strings.Contains(sandstep.ErrorMessage(err), "malformed JSON") {
				t.Errorf("Decode(%s) = %#v, want invalid_input naming %q, not malformed JSON", tt.doc, err, tt.field)
			}
		})
	}
}
