package store

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// sign makes the text of a cursor whose payload is payload, as the store
// would if it had written that payload: the fuzzer gets past the checksum
// and reaches the payload's decoding.
func sign(s *Store, payload []byte) string {
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(s.cursorSum(payload))
}

// checkCursor: text decodes for the list (kind, scope) to a cursor that
// encodes back to text exactly, or is refused with invalid_input naming
// cursor. One spelling per cursor: no other text reaches the same page.
func checkCursor(t *testing.T, s *Store, text, kind, scope string) {
	t.Helper()
	c, err := s.decodeCursor(text, kind, scope)
	if err != nil {
		var e *sandstep.Error
		if !errors.As(err, &e) || e.Code != sandstep.EINVALID || e.Field != "cursor" {
			t.Fatalf("decodeCursor(%q): %#v, want invalid_input naming cursor", text, err)
		}
		return
	}
	if text == "" {
		if c != nil {
			t.Fatalf("the empty cursor decoded to %+v", c)
		}
		return
	}
	if again := s.encodeCursor(*c); again != text {
		t.Fatalf("decodeCursor(%q) = %+v, which encodes to %q", text, *c, again)
	}
}

// FuzzCursor decodes fuzzed cursor text, and a fuzzed payload signed as
// the store signs its own, for the list the payload names.
func FuzzCursor(f *testing.F) {
	s := &Store{table: "SandboxTable"}
	good := s.encodeCursor(cursor{Kind: cursorSandboxes, Scope: "alice", Pos: "2026-01-02T03:04:05Z#sbx_aaaaaaaaaaaaaaaaaaaaaaaaaa"})
	f.Add(good, []byte(`{"v":1,"k":"sbx","s":"alice","p":"x"}`))
	f.Add("", []byte(`{"v":1,"k":"evt","s":"SBX#sbx_a","p":"EVT#1","n":7}`))
	f.Add(good+"x", []byte(`{"v":1, "k":"sbx","s":"alice"}`))               // white space
	f.Add("QQ.AA", []byte(`{"s":"alice","v":1,"k":"sbx"}`))                 // another order
	f.Add(good[:len(good)-1], []byte(`{"v":1,"k":"sbx","s":"al\u0069ce"}`)) // an escape
	f.Add("e30.", []byte(`{"v":1,"k":"sbx","s":"alice","p":""}`))           // an empty member
	f.Add("\xff.\xfe", []byte("{\"v\":1,\"k\":\"sbx\",\"s\":\"alice\",\"p\":\"\xff\"}"))
	f.Add("a.b.c", []byte(`{"v":1,"k":"sbx","s":"alice\ud800"}`))
	f.Add("x", []byte(`{"v":1,"k":"task","s":"\udc00","n":-1}`))
	f.Fuzz(func(t *testing.T, text string, payload []byte) {
		checkCursor(t, s, text, cursorSandboxes, "alice")
		var named cursor
		_ = json.Unmarshal(payload, &named)
		checkCursor(t, s, sign(s, payload), named.Kind, named.Scope)
		if p, _, ok := strings.Cut(text, "."); ok {
			if raw, err := base64.RawURLEncoding.DecodeString(p); err == nil {
				// The payload of the text, signed: past the checksum.
				_ = json.Unmarshal(raw, &named)
				checkCursor(t, s, p+"."+base64.RawURLEncoding.EncodeToString(s.cursorSum(raw)), named.Kind, named.Scope)
			}
		}
	})
}
