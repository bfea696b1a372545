// Package jsonproto is the server side of AWS's JSON protocols (1.0 and
// 1.1) for the local stand-ins: one operation per X-Amz-Target, and errors
// as the SDKs and the CLI read them (__type, X-Amzn-ErrorType).
package jsonproto

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
)

// MaxRequestBytes bounds a request body.
const MaxRequestBytes = 1 << 20

// Operation answers one call: it decodes the body into its input and
// returns its output or an error (an *Error for the caller's fault).
type Operation func(body []byte) (any, error)

// Error is an AWS JSON protocol error.
type Error struct {
	Type    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// ClientError is a 400 of type typ.
func ClientError(typ, format string, args ...any) *Error {
	return &Error{Type: typ, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// Serve answers r with the operation of ops named name (the target's
// suffix), in AWS JSON version ("1.0" or "1.1"). It returns the error it
// answered, for the caller's log: an *Error, or the operation's own error,
// answered as InternalServerError.
func Serve(w http.ResponseWriter, r *http.Request, version, name string, ops map[string]Operation) error {
	var out any
	err := func() error {
		op, ok := ops[name]
		if !ok || r.Method != http.MethodPost {
			return ClientError("UnknownOperationException", "%s %q is not supported by the local stand-in", r.Method, r.Header.Get("X-Amz-Target"))
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
		if err != nil {
			return ClientError("SerializationException", "reading the request: %v", err)
		}
		if len(body) > MaxRequestBytes {
			return ClientError("ValidationException", "the request is larger than %d bytes", MaxRequestBytes)
		}
		out, err = op(body)
		return err
	}()
	w.Header().Set("Content-Type", "application/x-amz-json-"+version)
	if err == nil {
		_ = json.NewEncoder(w).Encode(out)
		return nil
	}
	ae, ok := err.(*Error)
	if !ok {
		ae = &Error{Type: "InternalServerError", Message: err.Error(), Status: http.StatusInternalServerError}
	}
	w.Header().Set("X-Amzn-ErrorType", ae.Type)
	w.WriteHeader(ae.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": ae.Type, "message": ae.Message})
	return err
}

// Decode reads an operation's input into v, a pointer to a struct, by
// the protocol's rules: members match their names exactly (Go's decoder
// would take any case), and a member v lacks is refused when strict
// (SerializationException), else ignored. An empty body is {}.
func Decode(body []byte, v any, strict bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return ClientError("SerializationException", "%v", err)
	}
	known := map[string]bool{}
	memberNames(reflect.TypeOf(v).Elem(), known)
	for k := range members {
		switch {
		case known[k]:
		case strict:
			return ClientError("SerializationException", "unknown member %q", k)
		default:
			delete(members, k)
		}
	}
	exact, err := json.Marshal(members)
	if err == nil {
		err = json.Unmarshal(exact, v)
	}
	if err != nil {
		return ClientError("SerializationException", "%v", err)
	}
	return nil
}

// memberNames adds the JSON names of t's fields to known, those of an
// embedded struct included, as encoding/json names them.
func memberNames(t reflect.Type, known map[string]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case name == "-":
		case f.Anonymous && name == "" && ft.Kind() == reflect.Struct:
			memberNames(ft, known)
		case name != "":
			known[name] = true
		case f.IsExported():
			known[f.Name] = true
		}
	}
}
