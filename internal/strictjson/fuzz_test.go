package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/sandstep/sandstep/internal/sandstep"
)

type fuzzInner struct {
	Mode  *int8             `json:"mode"`
	Path  string            `json:"path"`
	Flags []bool            `json:"flags"`
	Tags  map[string]string `json:"tags"`
}

type DocEmbedded struct {
	Deep uint16 `json:"deep"`
}

type fuzzDoc struct {
	DocEmbedded
	Name    string               `json:"name"`
	Count   int                  `json:"count"`
	Small   int8                 `json:"small"`
	Big     uint64               `json:"big"`
	Ratio   float64              `json:"ratio"`
	Ratio32 float32              `json:"ratio32"`
	On      *bool                `json:"on"`
	Data    []byte               `json:"data"`
	Env     map[string]string    `json:"env"`
	Counts  map[string]int       `json:"counts"`
	Files   []fuzzInner          `json:"files"`
	One     *fuzzInner           `json:"one"`
	Pair    [2]string            `json:"pair"`
	Nested  map[string]fuzzInner `json:"nested"`
	Skipped string               `json:"-"`
	Untag   string
}

// FuzzDecodeAgreesWithEncodingJSON: Decode never panics; a refusal is invalid_input with a
// field path in valid UTF-8; what it accepts, encoding/json accepts too and
// decodes to the same value; and any value's canonical encoding (what
// encoding/json writes, exact names, no duplicates, valid UTF-8) is
// accepted and decodes to that value.
func FuzzDecodeAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"name":"a","count":1,"small":-128,"big":18446744073709551615,"ratio":1e308,"ratio32":1e38}`,
		`{"deep":1,"Untag":"x","data":"AAEC","env":{"A":"b"},"counts":{"x":1}}`,
		`{"files":[{"mode":7,"path":"p","flags":[true],"tags":{"":"v"}}],"one":null,"pair":["a","b"]}`,
		`{"nested":{"k":{"mode":1}}}`, `{"ratio32":1e39}`, `{"small":128}`, `{"count":1.0}`, `{"data":"AA=\n="}`,
		`{"pair":["a","b","c"]}`, `{"name":"\u2028\ud83d\ude00"}`, `{"-":"x"}`, `{"Skipped":"x"}`,
		`{"data":[1,2]}`, `{"count":-0}`, `{"big":-1}`, `{"ratio":-0.0e-0}`, `{"name":"a"} `, `{"name":"a"}{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v fuzzDoc
		err := Decode(data, &v)
		if err != nil {
			var e *sandstep.Error
			if !errors.As(err, &e) || e.Code != sandstep.EINVALID {
				t.Fatalf("refusal %#v is not invalid_input", err)
			}
			if !utf8.ValidString(e.Field) || !utf8.ValidString(e.Message) {
				t.Fatalf("refusal field %q message %q not UTF-8", e.Field, e.Message)
			}
		} else {
			var std fuzzDoc
			if serr := json.Unmarshal(data, &std); serr != nil {
				t.Fatalf("strict accepted what encoding/json refuses (%v): %q", serr, data)
			}
			if !reflect.DeepEqual(std, v) {
				t.Fatalf("strict decoded %+v, encoding/json %+v", v, std)
			}
		}
		// Completeness: the canonical encoding of whatever encoding/json
		// makes of data.
		var std fuzzDoc
		dec := json.NewDecoder(bytes.NewReader(data))
		if dec.Decode(&std) != nil {
			return
		}
		canon, merr := json.Marshal(std)
		if merr != nil {
			return
		}
		var again, want fuzzDoc
		if err := json.Unmarshal(canon, &want); err != nil {
			t.Fatalf("canonical %s: %v", canon, err)
		}
		if err := Decode(canon, &again); err != nil {
			t.Fatalf("canonical document %s refused: %v", canon, err)
		}
		if !reflect.DeepEqual(again, want) {
			t.Fatalf("canonical document %s decoded to %+v, want %+v", canon, again, want)
		}
	})
}
