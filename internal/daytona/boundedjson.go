package daytona

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// This file decodes the toolbox's output-carrying JSON objects
// ({"exitCode":0,"result":"..."} and friends) in one streaming pass with
// bounded memory: each output string keeps at most its limit of decoded
// bytes and the rest is scanned and dropped, so a command that printed a
// gigabyte costs a gigabyte of reading but not of memory, and the exit code
// is still found wherever it sits in the object. For the values it keeps,
// the result is what encoding/json.Unmarshal gives (FuzzBoundedJSON checks).

// jsonField is one top-level member to capture. Exactly one of str, num,
// optNum is set.
type jsonField struct {
	name   string
	str    *string
	limit  int64 // str: decoded bytes kept
	strict bool  // str: exceeding limit is an error instead of a cut
	trunc  *bool // str: set when the value was cut (may be nil)
	num    *int  // integer, null leaves it unchanged
	optNum **int // integer or null (nil)
}

// maxJSONDepth matches encoding/json's nesting limit.
const maxJSONDepth = 10000

var errJSONSyntax = errors.New("invalid JSON")

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}

type jsonScanner struct {
	r *bufio.Reader
}

// decodeBoundedObject reads one JSON object from r, storing the listed
// members (matched case-insensitively, the last duplicate winning, as
// encoding/json does) and skipping all others. Trailing non-space input is
// an error.
func decodeBoundedObject(r io.Reader, fields []jsonField) error {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
	}()
	s := &jsonScanner{r: br}
	truncs := make([]bool, len(fields))
	c, err := s.nonSpace()
	if err != nil {
		return err
	}
	switch c {
	case 'n':
		if err := s.literal("ull"); err != nil {
			return err
		}
		return s.end()
	case '{':
	default:
		return fmt.Errorf("%w: expected an object, found %q", errJSONSyntax, c)
	}
	c, err = s.nonSpace()
	if err != nil {
		return err
	}
	if c == '}' {
		return s.end()
	}
	for {
		key, keyCut, v, err := s.member(c, 256)
		if err != nil {
			return err
		}
		idx := -1
		if !keyCut {
			for i := range fields {
				if strings.EqualFold(fields[i].name, key) {
					idx = i
					break
				}
			}
		}
		if idx < 0 {
			if err := s.skip(v, 0); err != nil {
				return err
			}
		} else if err := s.field(v, &fields[idx], &truncs[idx]); err != nil {
			return err
		}
		if c, err = s.nonSpace(); err != nil {
			return err
		}
		if c == '}' {
			break
		}
		if c != ',' {
			return fmt.Errorf("%w: expected ',' or '}' after a member", errJSONSyntax)
		}
		if c, err = s.nonSpace(); err != nil {
			return err
		}
	}
	for i, f := range fields {
		if f.trunc != nil && truncs[i] {
			*f.trunc = true
		}
	}
	return s.end()
}

// field decodes the value starting with c into f.
func (s *jsonScanner) field(c byte, f *jsonField, trunc *bool) error {
	if c == 'n' {
		if err := s.literal("ull"); err != nil {
			return err
		}
		if f.optNum != nil {
			*f.optNum = nil
		}
		return nil
	}
	switch {
	case f.str != nil:
		if c != '"' {
			return fmt.Errorf("json: member %q: expected a string", f.name)
		}
		v, cut, err := s.str(f.limit)
		if err != nil {
			return err
		}
		if cut && f.strict {
			return fmt.Errorf("json: member %q is longer than %d bytes", f.name, f.limit)
		}
		*f.str, *trunc = v, cut
		return nil
	case f.num != nil || f.optNum != nil:
		if c != '-' && (c < '0' || c > '9') {
			if err := s.skip(c, 0); err != nil {
				return err
			}
			return fmt.Errorf("json: member %q: expected an integer", f.name)
		}
		lit, err := s.number(c)
		if err != nil {
			return err
		}
		n, err := strconv.ParseInt(lit, 10, strconv.IntSize)
		if err != nil {
			return fmt.Errorf("json: member %q: %q is not an integer", f.name, snippet(lit, 32, nil))
		}
		v := int(n)
		if f.num != nil {
			*f.num = v
		} else {
			*f.optNum = &v
		}
		return nil
	}
	return s.skip(c, 0)
}

func (s *jsonScanner) next() (byte, error) {
	c, err := s.r.ReadByte()
	if err == io.EOF {
		return 0, fmt.Errorf("%w: unexpected end of input", errJSONSyntax)
	}
	return c, err
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// nonSpace returns the next byte that is not JSON whitespace.
func (s *jsonScanner) nonSpace() (byte, error) {
	for {
		c, err := s.next()
		if err != nil || !isSpace(c) {
			return c, err
		}
	}
}

// end checks that only whitespace follows.
func (s *jsonScanner) end() error {
	for {
		c, err := s.r.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !isSpace(c) {
			return fmt.Errorf("%w: data after the top-level value", errJSONSyntax)
		}
	}
}

func (s *jsonScanner) literal(rest string) error {
	for i := 0; i < len(rest); i++ {
		c, err := s.next()
		if err != nil {
			return err
		}
		if c != rest[i] {
			return fmt.Errorf("%w: bad literal", errJSONSyntax)
		}
	}
	return nil
}

// number reads a number literal whose first byte c was consumed, checking
// JSON's grammar, and returns it (cut at 64 bytes: longer ones are not
// integers anyone sends).
func (s *jsonScanner) number(c byte) (string, error) {
	var b []byte
	add := func(c byte) {
		if len(b) < 64 {
			b = append(b, c)
		}
	}
	peekDigit := func() (byte, bool) {
		p, err := s.r.Peek(1)
		if err != nil || p[0] < '0' || p[0] > '9' {
			return 0, false
		}
		return p[0], true
	}
	digits := func() error { // one or more
		d, ok := peekDigit()
		if !ok {
			return fmt.Errorf("%w: bad number", errJSONSyntax)
		}
		for ok {
			add(d)
			s.r.ReadByte()
			d, ok = peekDigit()
		}
		return nil
	}
	add(c)
	if c == '-' {
		d, ok := peekDigit()
		if !ok {
			return "", fmt.Errorf("%w: bad number", errJSONSyntax)
		}
		add(d)
		s.r.ReadByte()
		c = d
	}
	if c != '0' {
		for d, ok := peekDigit(); ok; d, ok = peekDigit() {
			add(d)
			s.r.ReadByte()
		}
	}
	if p, err := s.r.Peek(1); err == nil && p[0] == '.' {
		add('.')
		s.r.ReadByte()
		if err := digits(); err != nil {
			return "", err
		}
	}
	if p, err := s.r.Peek(1); err == nil && (p[0] == 'e' || p[0] == 'E') {
		add(p[0])
		s.r.ReadByte()
		if p, err := s.r.Peek(1); err == nil && (p[0] == '+' || p[0] == '-') {
			add(p[0])
			s.r.ReadByte()
		}
		if err := digits(); err != nil {
			return "", err
		}
	}
	return string(b), nil
}

// member reads an object member's name, whose opening quote is c, keeping
// at most limit bytes of it (cut says more existed), and the colon after
// it, and returns the first byte of the member's value.
func (s *jsonScanner) member(c byte, limit int64) (name string, cut bool, value byte, err error) {
	if c != '"' {
		return "", false, 0, fmt.Errorf("%w: expected a member name", errJSONSyntax)
	}
	if name, cut, err = s.str(limit); err != nil {
		return "", false, 0, err
	}
	if c, err = s.nonSpace(); err != nil {
		return "", false, 0, err
	}
	if c != ':' {
		return "", false, 0, fmt.Errorf("%w: expected ':' after a member name", errJSONSyntax)
	}
	value, err = s.nonSpace()
	return name, cut, value, err
}

// skip consumes the value starting with c.
func (s *jsonScanner) skip(c byte, depth int) error {
	switch {
	case c == '"':
		_, _, err := s.str(0)
		return err
	case c == 't':
		return s.literal("rue")
	case c == 'f':
		return s.literal("alse")
	case c == 'n':
		return s.literal("ull")
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := s.number(c)
		return err
	case c == '{' || c == '[':
		if depth >= maxJSONDepth {
			return fmt.Errorf("%w: nested too deeply", errJSONSyntax)
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		c, err := s.nonSpace()
		if err != nil {
			return err
		}
		if c == closer {
			return nil
		}
		for {
			if closer == '}' {
				if _, _, c, err = s.member(c, 0); err != nil {
					return err
				}
			}
			if err := s.skip(c, depth+1); err != nil {
				return err
			}
			if c, err = s.nonSpace(); err != nil {
				return err
			}
			if c == closer {
				return nil
			}
			if c != ',' {
				return fmt.Errorf("%w: expected ',' or a closing bracket", errJSONSyntax)
			}
			if c, err = s.nonSpace(); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("%w: unexpected character %q", errJSONSyntax, c)
}

// str reads the rest of a string whose opening quote was consumed and
// returns at most limit decoded bytes of it; cut reports that more existed.
// Invalid UTF-8 becomes U+FFFD as with encoding/json; a cut never splits a
// character.
func (s *jsonScanner) str(limit int64) (string, bool, error) {
	var buf []byte
	cut := false
	add := func(p []byte) {
		room := limit - int64(len(buf))
		if int64(len(p)) > room {
			if room > 0 {
				buf = append(buf, p[:room]...)
			}
			cut = true
			return
		}
		buf = append(buf, p...)
	}
	var tmp [utf8.UTFMax]byte
	for {
		if s.r.Buffered() == 0 {
			if _, err := s.r.Peek(1); err != nil {
				if err == io.EOF {
					return "", false, fmt.Errorf("%w: unterminated string", errJSONSyntax)
				}
				return "", false, err
			}
		}
		chunk, _ := s.r.Peek(s.r.Buffered())
		i := 0
		for i < len(chunk) {
			if c := chunk[i]; c == '"' || c == '\\' || c < 0x20 {
				break
			}
			i++
		}
		if i > 0 && !cut {
			add(chunk[:i])
		} else if i > 0 {
			cut = true
		}
		s.r.Discard(i)
		if i == len(chunk) {
			continue
		}
		c, _ := s.r.ReadByte()
		switch {
		case c == '"':
			v, over := finishString(buf, cut, limit)
			return v, cut || over, nil
		case c < 0x20:
			return "", false, fmt.Errorf("%w: control character in string", errJSONSyntax)
		}
		// A backslash escape.
		out, err := s.escape(&tmp)
		if err != nil {
			return "", false, err
		}
		if !cut {
			add(out)
		}
	}
}

// simpleEscapes maps the byte after a backslash to what it stands for,
// for every escape but \u.
var simpleEscapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// escape decodes the escape after a backslash into tmp and returns it.
func (s *jsonScanner) escape(tmp *[utf8.UTFMax]byte) ([]byte, error) {
	e, err := s.next()
	if err != nil {
		return nil, err
	}
	if d := simpleEscapes[e]; d != 0 {
		tmp[0] = d
		return tmp[:1], nil
	}
	if e != 'u' {
		return nil, fmt.Errorf("%w: bad escape", errJSONSyntax)
	}
	r, err := s.hex4()
	if err != nil {
		return nil, err
	}
	if utf16.IsSurrogate(r) {
		// Pair with a following \uXXXX when that makes a valid pair;
		// otherwise U+FFFD, leaving the next escape alone.
		pair := utf8.RuneError
		if p, err := s.r.Peek(6); err == nil && p[0] == '\\' && p[1] == 'u' {
			if r2, ok := parseHex4(p[2:6]); ok {
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					s.r.Discard(6)
					pair = d
				}
			}
		}
		r = pair
	}
	return tmp[:utf8.EncodeRune(tmp[:], r)], nil
}

func (s *jsonScanner) hex4() (rune, error) {
	var h [4]byte
	for i := range h {
		c, err := s.next()
		if err != nil {
			return 0, err
		}
		h[i] = c
	}
	r, ok := parseHex4(h[:])
	if !ok {
		return 0, fmt.Errorf("%w: bad \\u escape", errJSONSyntax)
	}
	return r, nil
}

func parseHex4(h []byte) (rune, bool) {
	var r rune
	for _, c := range h {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
	}
	return r, true
}

// finishString drops a character split by a cut and replaces invalid UTF-8
// byte by byte with U+FFFD, as encoding/json does. Replacement can grow the
// text; it is kept within limit bytes, over reporting a further cut.
func finishString(b []byte, cut bool, limit int64) (s string, over bool) {
	if cut {
		for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
			if utf8.RuneStart(b[i]) {
				if !utf8.FullRune(b[i:]) {
					b = b[:i]
				}
				break
			}
		}
	}
	if utf8.Valid(b) {
		return string(b), false
	}
	var sb strings.Builder
	sb.Grow(len(b) + 16)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		w := n
		if r == utf8.RuneError && n == 1 {
			w = 3 // U+FFFD
		}
		if int64(sb.Len()+w) > limit {
			return sb.String(), true
		}
		if w != n {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String(), false
}
