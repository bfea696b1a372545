package strictjson

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Every string Decode reads must be valid UTF-8. encoding/json replaces an
// invalid byte, and a \u escape of a lone UTF-16 surrogate ("\ud800"),
// with U+FFFD, so the command that ran, a path written or a user id would
// differ from what was sent. Both are refused instead, naming the field;
// a U+FFFD the caller sent (raw or as "\ufffd") is an ordinary character.

// NotUTF8 is the message of the refusal, for callers that check strings
// Decode does not read.
const NotUTF8 = "must be valid UTF-8: invalid bytes and unpaired surrogate escapes (\\ud800) are refused, never replaced"

// UnquoteExact decodes a JSON string literal (with its quotes) byte for
// byte: escapes are decoded, bytes that are not valid UTF-8 are kept, and
// a lone surrogate escape becomes the three bytes UTF-8 would give the
// code unit, which are not valid UTF-8 either. ok is false if lit is not a
// JSON string literal.
func UnquoteExact(lit []byte) (s []byte, ok bool) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return nil, false
	}
	in := lit[1 : len(lit)-1]
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); {
		c := in[i]
		if c != '\\' {
			if c == '"' || c < 0x20 {
				return nil, false
			}
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(in) {
			return nil, false
		}
		switch e := in[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(in[i+2:])
			if !ok {
				return nil, false
			}
			i += 6
			if !utf16.IsSurrogate(r) {
				out = utf8.AppendRune(out, r)
				continue
			}
			if r < 0xdc00 && len(in) >= i+6 && in[i] == '\\' && in[i+1] == 'u' {
				if lo, ok := hex4(in[i+2:]); ok && lo >= 0xdc00 && lo <= 0xdfff {
					out = utf8.AppendRune(out, utf16.DecodeRune(r, lo))
					i += 6
					continue
				}
			}
			out = append(out, 0xe0|byte(r>>12), 0x80|byte(r>>6)&0x3f, 0x80|byte(r)&0x3f)
			continue
		default:
			return nil, false
		}
		i += 2
	}
	return out, true
}

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 16)
	return rune(n), err == nil
}

// ValidLiteral reports whether a JSON string literal decodes to valid
// UTF-8 without replacement.
func ValidLiteral(lit []byte) bool {
	if !bytes.Contains(lit, []byte(`\u`)) {
		return utf8.Valid(lit) // other escapes give ASCII
	}
	s, ok := UnquoteExact(lit)
	return ok && utf8.Valid(s)
}

// Printable shows a name that is not valid UTF-8 in an error: each
// invalid byte as \xNN (escapes as sent), so the answer, itself JSON,
// names the field exactly; cut after 64 bytes.
func Printable(name string) string {
	var b strings.Builder
	for i, r := range name {
		if b.Len() >= 64 {
			b.WriteString("…")
			break
		}
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(name[i:]); size == 1 {
				fmt.Fprintf(&b, `\x%02x`, name[i])
				continue
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}
