package strictjson

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestUnquoteExact(t *testing.T) {
	tests := []struct {
		name  string
		lit   string
		want  string
		ok    bool
		valid bool
	}{
		{"plain", `"abc"`, "abc", true, true},
		{"escapes", `"a\"\\\/\b\f\n\r\t"`, "a\"\\/\b\f\n\r\t", true, true},
		{"BMP escape", `"\u00e9\u20AC"`, "é€", true, true},
		{"surrogate pair", `"\ud83d\ude00"`, "😀", true, true},
		{"U+FFFD sent is kept", `"\ufffd` + "\uFFFD" + `"`, "\uFFFD\uFFFD", true, true},
		{"raw invalid byte", "\"a\xffb\"", "a\xffb", true, false},
		{"truncated sequence", "\"\xe2\x82\"", "\xe2\x82", true, false},
		{"lone high surrogate", `"\ud800"`, "\xed\xa0\x80", true, false},
		{"lone low surrogate", `"\udc00x"`, "\xed\xb0\x80x", true, false},
		{"high then not low", `"\ud800\u0041"`, "\xed\xa0\x80A", true, false},
		{"high then high", `"\ud800\ud800"`, "\xed\xa0\x80\xed\xa0\x80", true, false},
		{"high at the end", `"x\uD83D"`, "x\xed\xa0\xbd", true, false},
		{"not a literal", `abc`, "", false, false},
		{"bad escape", `"\x"`, "", false, false},
		{"short escape", `"\u12"`, "", false, false},
		{"control character", "\"a\nb\"", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := UnquoteExact([]byte(tt.lit))
			if ok != tt.ok || (ok && string(got) != tt.want) {
				t.Fatalf("UnquoteExact(%q) = %q, %v; want %q, %v", tt.lit, got, ok, tt.want, tt.ok)
			}
			if tt.ok {
				if v := ValidLiteral([]byte(tt.lit)); v != tt.valid {
					t.Errorf("ValidLiteral = %v, want %v", v, tt.valid)
				}
				// Where encoding/json agrees (valid input), it agrees exactly.
				var s string
				if err := json.Unmarshal([]byte(tt.lit), &s); err != nil || (tt.valid && s != tt.want) {
					t.Errorf("encoding/json: %q, %v", s, err)
				}
			}
		})
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"team":                     "team",
		"te\xffam":                 `te\xffam`,
		`k\ud800`:                  `k\ud800`,
		"é\xc3":                    `é\xc3`,
		strings.Repeat("a", 70):    strings.Repeat("a", 64) + "…",
		strings.Repeat("\xff", 20): strings.Repeat(`\xff`, 16) + "…",
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}
