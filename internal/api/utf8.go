package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Every string of a request must be valid UTF-8. encoding/json replaces an
// invalid byte, and a \u escape of a lone UTF-16 surrogate ("\ud800"),
// with U+FFFD, so the command that ran, a path written or a user id would
// differ from what was sent. Both are refused instead, naming the field;
// a U+FFFD the caller sent (raw or as "\ufffd") is an ordinary character.

// notUTF8 is the message of the refusal.
const notUTF8 = "must be valid UTF-8: invalid bytes and unpaired surrogate escapes (\\ud800) are refused, never replaced"

// unquoteExact decodes a JSON string literal (with its quotes) byte for
// byte: escapes are decoded, bytes that are not valid UTF-8 are kept, and
// a lone surrogate escape becomes the three bytes UTF-8 would give the
// code unit, which are not valid UTF-8 either. ok is false if lit is not a
// JSON string literal.
func unquoteExact(lit []byte) (s []byte, ok bool) {
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

// validLiteral reports whether a JSON string literal decodes to valid
// UTF-8 without replacement.
func validLiteral(lit []byte) bool {
	if !bytes.Contains(lit, []byte(`\u`)) {
		return utf8.Valid(lit) // other escapes give ASCII
	}
	s, ok := unquoteExact(lit)
	return ok && utf8.Valid(s)
}

// mayBeLossy reports whether encoding/json could replace something in
// payload: it holds invalid UTF-8 or a \u escape of a surrogate. Most
// payloads hold neither, and are decoded once.
func mayBeLossy(payload []byte) bool {
	if !utf8.Valid(payload) {
		return true
	}
	for rest := payload; ; {
		i := bytes.Index(rest, []byte(`\u`))
		if i < 0 || i+2 >= len(rest) {
			return false
		}
		if d := rest[i+2]; d == 'd' || d == 'D' {
			return true
		}
		rest = rest[i+2:]
	}
}

// printable shows a name that is not valid UTF-8 in an error: each
// invalid byte as \xNN (escapes as sent), so the answer, itself JSON,
// names the field exactly; cut after 64 bytes.
func printable(name string) string {
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

// exactString is a JSON string decoded byte for byte (unquoteExact).
type exactString string

func (s *exactString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = ""
		return nil
	}
	v, ok := unquoteExact(b)
	if !ok {
		return errors.New("not a JSON string")
	}
	*s = exactString(v)
	return nil
}

// exactMap is a JSON object of strings decoded byte for byte, keys
// included (encoding/json decodes a map's keys before any method of ours
// could see them).
type exactMap map[string]string

func (m *exactMap) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*m = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	out := exactMap{}
	for dec.More() {
		k, err := exactToken(dec, b)
		if err != nil {
			return err
		}
		v, err := exactToken(dec, b)
		if err != nil {
			return err
		}
		out[k] = v
	}
	*m = out
	return nil
}

// exactToken reads the next token of dec, which reads b: a string,
// decoded byte for byte, or null (""), as encoding/json takes it.
func exactToken(dec *json.Decoder, b []byte) (string, error) {
	start := dec.InputOffset()
	tok, err := dec.Token()
	switch {
	case err != nil:
		return "", err
	case tok == nil:
		return "", nil
	}
	if _, ok := tok.(string); !ok {
		return "", errors.New("not a JSON string")
	}
	seg := b[start:dec.InputOffset()]
	s, ok := unquoteExact(seg[bytes.IndexByte(seg, '"'):])
	if !ok {
		return "", errors.New("not a JSON string")
	}
	return string(s), nil
}

// exactEvent is the part of an API Gateway event whose strings the
// handler reads as the caller's input.
type exactEvent struct {
	Body                  exactString `json:"body"`
	QueryStringParameters exactMap    `json:"queryStringParameters"`
	PathParameters        exactMap    `json:"pathParameters"`
	RequestContext        struct {
		Authorizer *struct {
			JWT *struct {
				Claims exactMap `json:"claims"`
			} `json:"jwt"`
		} `json:"authorizer"`
	} `json:"requestContext"`
}

// exactInput puts back into ev, decoded from payload, the strings that
// encoding/json may have changed, keys included, so the checks of the
// request see what was sent.
func exactInput(payload []byte, ev *events.APIGatewayV2HTTPRequest) {
	if !mayBeLossy(payload) {
		return
	}
	var x exactEvent
	if json.Unmarshal(payload, &x) != nil {
		return // ev was decoded from the same payload: not reached
	}
	ev.Body = string(x.Body)
	ev.QueryStringParameters = x.QueryStringParameters
	ev.PathParameters = x.PathParameters
	if az := x.RequestContext.Authorizer; az != nil && az.JWT != nil && ev.RequestContext.Authorizer != nil && ev.RequestContext.Authorizer.JWT != nil {
		ev.RequestContext.Authorizer.JWT.Claims = az.JWT.Claims
	}
}
