// Package strictjson decodes a JSON document into a Go value exactly as
// written, or refuses it naming the field at fault by its JSON path:
// encoding/json alone matches names in any case, keeps the last of two
// equal keys, replaces invalid UTF-8 and reads past trailing data in a
// stream. Request bodies, direct invocations and the documents a
// deployment names (the price table, the repositories) are all read here.
package strictjson

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Decode decodes data, which must be one JSON object and nothing else, into
// v, a pointer to a struct. It rejects, as *sandstep.Error with EINVALID
// naming the field (none for the document as a whole):
//
//   - empty input, malformed JSON (with the byte offset) and data after the
//     object;
//   - keys that do not match a field's JSON name exactly (encoding/json
//     matches case-insensitively; the public contract does not), unknown
//     keys and duplicate keys, named by path ("resources.cpux",
//     "files[2].mode");
//   - values of the wrong type, named by path ("resources.cpu");
//   - strings, keys included, that are not valid UTF-8 (raw bytes, or a
//     \u escape of a lone surrogate), named by path ("files[2].path", or
//     "labels.te\xffam" for a key), anywhere but in a Lenient.
//
// It makes two passes: a token walk that checks the syntax, the keys, the
// kinds of values against v's type and every string's bytes, then
// encoding/json with DisallowUnknownFields to fill v (whose errors are
// then mapped the same way, as a fallback). The second pass is exact
// because the first refused whatever encoding/json would replace. A v
// that is Bounded is asked between the two.
func Decode(data []byte, v any) error {
	if len(bytes.TrimLeft(data, " \t\r\n")) == 0 {
		return sandstep.Invalid("", "a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	w := keyWalker{dec: dec, data: data}
	bounded, isBounded := v.(Bounded)
	if isBounded {
		w.lengths = make(map[string]int)
	}
	if err := w.value(reflect.TypeOf(v), ""); err != nil {
		return err
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		return sandstep.Invalid("", "unexpected data after the JSON object at byte offset %d", end)
	}
	if isBounded {
		if err := bounded.CheckLengths(func(path string) int { return w.lengths[path] }); err != nil {
			return err
		}
	}

	dec = json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, reflect.TypeOf(v), int64(len(data)))
	}
	return nil
}

// Bounded is a value whose lists and maps hold at most so many elements,
// which its own checks refuse once it is filled. Decode hands it the
// length of each list and map the first pass counted, by JSON path
// ("files", "sandbox.env"; 0 for one absent), and refuses with its error
// before the fill: a body of a few MiB of empty elements ([{},{},…])
// makes encoding/json allocate for millions of them, hundreds of MB.
type Bounded interface {
	CheckLengths(length func(path string) int) error
}

// Named is err, Decode's, with a refusal of the document as a whole
// (which names no field) naming whole instead: a request's "body", a
// console start's "input".
func Named(whole string, err error) error {
	if e, ok := err.(*sandstep.Error); ok && e.Field == "" {
		c := *e
		c.Field = whole
		return &c
	}
	return err
}

// decodeError turns an encoding/json error, decoding into t, into an
// EINVALID naming the field. The token walk has usually caught syntax and
// key errors already.
func decodeError(err error, t reflect.Type, size int64) error {
	var (
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
	)
	switch {
	case errors.As(err, &typeErr):
		return &sandstep.Error{Code: sandstep.EINVALID, Field: jsonPath(t, typeErr.Field),
			Message: fmt.Sprintf("must be %s, not %s", describeType(typeErr.Type), typeErr.Value), Err: err}
	case errors.As(err, &syntaxErr):
		return malformed(syntaxErr)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return sandstep.Invalid("", "malformed JSON at byte offset %d: unexpected end of input", size)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if unq, uerr := strconv.Unquote(name); uerr == nil {
			name = unq
		}
		return &sandstep.Error{Code: sandstep.EINVALID, Field: name, Message: "unknown field", Err: err}
	}
	return &sandstep.Error{Code: sandstep.EINVALID, Message: "malformed JSON", Err: err}
}

// jsonPath turns an UnmarshalTypeError.Field ("Agent.Create.resources.cpu"),
// decoding into t, into the caller's JSON path ("resources.cpu") by
// dropping the Go names of the embedded structs t has on the way.
// (encoding/json's path has neither map keys nor indexes.)
func jsonPath(t reflect.Type, goPath string) string {
	if goPath == "" {
		return ""
	}
	var keep []string
	for seg := range strings.SplitSeq(goPath, ".") {
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map) {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct {
			keep, t = append(keep, seg), nil
			continue
		}
		if f, ok := t.FieldByName(seg); ok && f.Anonymous && jsonName(f) == "" {
			t = f.Type
			continue
		}
		keep = append(keep, seg)
		t = structFields(t)[seg]
	}
	return strings.Join(keep, ".")
}

// describeType names a Go type the way a JSON caller thinks of it.
func describeType(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "another type"
}

// keyWalker reads one JSON value token by token and checks it against a Go
// type: object keys (exactly, once each), the kind of every value and the
// bytes of every string, so that errors name the full path ("env.PATH",
// "files[3].path").
type keyWalker struct {
	dec  *json.Decoder
	data []byte // what dec reads
	// lit is the last string token as it was written (a JSON literal).
	lit []byte
	// lengths, when not nil, takes the length of each list and map by
	// path (Bounded).
	lengths map[string]int
}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// opaque reports whether t decodes itself or takes any JSON, so its keys are
// not checked.
func opaque(t reflect.Type) bool {
	if t.Kind() == reflect.Interface {
		return true
	}
	pt := reflect.PointerTo(t)
	return t.Implements(jsonUnmarshalerType) || pt.Implements(jsonUnmarshalerType) ||
		t.Implements(textUnmarshalerType) || pt.Implements(textUnmarshalerType)
}

func (w *keyWalker) token() (json.Token, error) {
	start := w.dec.InputOffset()
	tok, err := w.dec.Token()
	if err == nil {
		if _, ok := tok.(string); ok {
			// What was read since start is separators, white space and the
			// literal.
			seg := w.data[start:w.dec.InputOffset()]
			w.lit = seg[bytes.IndexByte(seg, '"'):]
		}
		return tok, nil
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		// Token counts its offset from the last token it read; the
		// scanner that reads a whole value counts from the document's
		// start, as the caller does.
		var raw json.RawMessage
		_ = errors.As(json.NewDecoder(bytes.NewReader(w.data)).Decode(&raw), &syntaxErr)
		return nil, malformed(syntaxErr)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, sandstep.Invalid("", "malformed JSON at byte offset %d: unexpected end of input", len(w.data))
	}
	return nil, &sandstep.Error{Code: sandstep.EINVALID,
		Message: fmt.Sprintf("malformed JSON at byte offset %d", w.dec.InputOffset()), Err: err}
}

// malformed is the refusal of a syntax error, naming the offset of the
// byte at fault (encoding/json counts the bytes read, that one included);
// its message says all the error does.
func malformed(err *json.SyntaxError) error {
	return sandstep.Invalid("", "malformed JSON at byte offset %d: %s", max(err.Offset-1, 0), err.Error())
}

// value checks the next JSON value against t; path is its JSON path.
func (w *keyWalker) value(t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := w.token()
	if err != nil {
		return err
	}
	if path == "" {
		// The top level must be an object, whatever v is.
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return sandstep.Invalid("", "must be a JSON object")
		}
	}
	if _, ok := tok.(string); ok && !ValidLiteral(w.lit) {
		return sandstep.Invalid(path, NotUTF8)
	}
	delim, isDelim := tok.(json.Delim)
	if opaque(t) {
		if isDelim {
			return w.skip(delim, path, t != lenientType)
		}
		return nil
	}
	if tok == nil {
		return nil // null leaves any field at its zero value
	}
	switch t.Kind() {
	case reflect.Struct:
		if delim == '{' {
			return w.object(path, func(key string) (reflect.Type, bool) {
				ft, ok := structFields(t)[key]
				return ft, ok
			}, false)
		}
	case reflect.Map:
		if delim == '{' {
			return w.object(path, func(string) (reflect.Type, bool) { return t.Elem(), true }, true)
		}
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			if s, ok := tok.(string); ok { // []byte is a base64 string
				if _, err := base64.StdEncoding.DecodeString(s); err != nil {
					return sandstep.Invalid(path, "must be base64 (the standard alphabet, padded)")
				}
				return nil
			}
			break
		}
		if delim == '[' {
			i := 0
			for ; w.dec.More(); i++ {
				if err := w.value(t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
					return err
				}
			}
			w.count(path, i)
			_, err := w.token() // ']'
			return err
		}
	default:
		if !isDelim && scalarFits(t, tok) {
			return nil
		}
	}
	return sandstep.Invalid(path, "must be %s, not %s", describeType(t), describeToken(tok))
}

// scalarFits reports whether a JSON scalar token decodes into t.
func scalarFits(t reflect.Type, tok json.Token) bool {
	switch t.Kind() {
	case reflect.String:
		_, ok := tok.(string)
		return ok
	case reflect.Bool:
		_, ok := tok.(bool)
		return ok
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := tok.(json.Number)
		if !ok {
			return false
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		return err == nil && !reflect.Zero(t).OverflowInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := tok.(json.Number)
		if !ok {
			return false
		}
		u, err := strconv.ParseUint(string(n), 10, 64)
		return err == nil && !reflect.Zero(t).OverflowUint(u)
	case reflect.Float32, reflect.Float64:
		_, ok := tok.(json.Number)
		return ok
	}
	return false
}

// describeToken names a JSON token's type for an error message. Strings
// are not quoted back: they may be long, or secret.
func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return "an object"
	case string:
		return "a string"
	case bool:
		return "true or false"
	case json.Number:
		return "number " + sandstep.Clip(string(v), 32)
	}
	return "null"
}

// count keeps the length n of the list or map at path, for Bounded.
func (w *keyWalker) count(path string, n int) {
	if w.lengths != nil {
		w.lengths[path] = n
	}
}

// object reads an object's members after its '{'; field says which keys
// exist and what type their values have; isMap, whether to count them.
func (w *keyWalker) object(path string, field func(string) (reflect.Type, bool), isMap bool) error {
	seen := make(map[string]bool)
	for w.dec.More() {
		tok, err := w.token()
		if err != nil {
			return err
		}
		key, kpath, err := w.key(tok, path)
		if err != nil {
			return err
		}
		ft, ok := field(key)
		if !ok {
			return sandstep.Invalid(kpath, "unknown field")
		}
		if seen[key] {
			return sandstep.Invalid(kpath, "duplicate field")
		}
		seen[key] = true
		if err := w.value(ft, kpath); err != nil {
			return err
		}
	}
	if isMap {
		w.count(path, len(seen))
	}
	_, err := w.token() // '}'
	return err
}

// key reads an object key token: the key and its path, or an error when
// the key is not valid UTF-8, naming it as sent.
func (w *keyWalker) key(tok json.Token, path string) (key, kpath string, err error) {
	key, _ = tok.(string) // object keys are always strings
	valid := ValidLiteral(w.lit)
	name := key
	switch {
	case !valid:
		name = Printable(string(w.lit[1 : len(w.lit)-1]))
	case key == "":
		name = `""` // a field must be named, even this one
	}
	kpath = name
	if path != "" {
		kpath = path + "." + name
	}
	if !valid {
		return "", kpath, sandstep.Invalid(kpath, NotUTF8)
	}
	return key, kpath, nil
}

// skip consumes the rest of the array or object opened by open, the value
// at path. With check, its strings must be valid UTF-8 too: an opaque
// value is decoded later, by encoding/json, which would replace them.
func (w *keyWalker) skip(open json.Delim, path string, check bool) error {
	switch open {
	case '{':
		for w.dec.More() {
			tok, err := w.token()
			if err != nil {
				return err
			}
			_, kpath, err := w.key(tok, path)
			if err != nil && check {
				return err
			}
			if err := w.skipValue(kpath, check); err != nil {
				return err
			}
		}
	case '[':
		for i := 0; w.dec.More(); i++ {
			if err := w.skipValue(path+"["+strconv.Itoa(i)+"]", check); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	_, err := w.token() // '}' or ']'
	return err
}

// skipValue consumes the next value, at path, as skip does.
func (w *keyWalker) skipValue(path string, check bool) error {
	tok, err := w.token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); ok {
		return w.skip(d, path, check)
	}
	if _, ok := tok.(string); ok && check && !ValidLiteral(w.lit) {
		return sandstep.Invalid(path, NotUTF8)
	}
	return nil
}

// Lenient is a JSON value taken as it is: Decode checks nothing inside it,
// not even UTF-8. Only for input a step must never refuse for what it does
// not read (an execution's status change).
type Lenient []byte

// UnmarshalJSON keeps b as it came.
func (l *Lenient) UnmarshalJSON(b []byte) error {
	*l = append((*l)[:0], b...)
	return nil
}

// MarshalJSON writes it back as it came, as json.RawMessage does.
func (l Lenient) MarshalJSON() ([]byte, error) {
	if l == nil {
		return []byte("null"), nil
	}
	return l, nil
}

var lenientType = reflect.TypeFor[Lenient]()

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// structFields returns the JSON names of t's fields, promoted fields of
// embedded structs included, mapped to their types, as encoding/json sees
// them, but for conflicts between names at one depth, which encoding/json
// resolves by tags and drops when ambiguous: a type decoded here has none.
func structFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := make(map[string]reflect.Type)
	// Breadth first, so that a shallower field wins over a promoted one.
	level := []reflect.Type{t}
	for depth := 0; len(level) > 0 && depth < 16; depth++ {
		var next []reflect.Type
		for _, lt := range level {
			for i := range lt.NumField() {
				f := lt.Field(i)
				if f.Tag.Get("json") == "-" {
					continue
				}
				name := jsonName(f)
				if f.Anonymous && name == "" {
					et := f.Type
					if et.Kind() == reflect.Pointer {
						et = et.Elem()
					}
					if et.Kind() == reflect.Struct {
						next = append(next, et)
						continue
					}
				}
				if !f.IsExported() {
					continue
				}
				if name == "" {
					name = f.Name
				}
				if _, taken := m[name]; !taken {
					m[name] = f.Type
				}
			}
		}
		level = next
	}
	fieldCache.Store(t, m)
	return m
}

// jsonName is the name f's tag gives it, "" for none.
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}
