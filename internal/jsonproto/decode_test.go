package jsonproto

import (
	"errors"
	"testing"
)

func TestDecode(t *testing.T) {
	type Embedded struct{ Plain string }
	type input struct {
		Name    string `json:"name"`
		MaxKeys int    `json:"maxKeys,omitempty"`
		Embedded
	}
	tests := []struct {
		name   string
		body   string
		strict bool
		want   input
		err    string // the error type, "" for none
	}{
		{"exact names", `{"name":"a","maxKeys":2,"Plain":"p"}`, true, input{"a", 2, Embedded{"p"}}, ""},
		{"empty body", ``, true, input{}, ""},
		{"another case, lenient: ignored", `{"Name":"a"}`, false, input{}, ""},
		{"another case, strict: refused", `{"Name":"a"}`, true, input{}, "SerializationException"},
		{"unknown, lenient: ignored", `{"name":"a","extra":1}`, false, input{Name: "a"}, ""},
		{"unknown, strict: refused", `{"name":"a","extra":1}`, true, input{}, "SerializationException"},
		{"not an object", `[1]`, false, input{}, "SerializationException"},
		{"a member of the wrong type", `{"maxKeys":"two"}`, false, input{}, "SerializationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got input
			err := Decode([]byte(tt.body), &got, tt.strict)
			var e *Error
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.err != "" && (!errors.As(err, &e) || e.Type != tt.err):
				t.Fatalf("error %v, want %s", err, tt.err)
			case tt.err == "" && got != tt.want:
				t.Errorf("decoded %+v, want %+v", got, tt.want)
			}
		})
	}
}
