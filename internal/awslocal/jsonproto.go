package awslocal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/sandstep/sandstep/internal/atomicfile"
)

// maxRequestBytes bounds a JSON request (Secrets Manager takes 64 KiB
// secrets, SSM 8 KiB parameters).
const maxRequestBytes = 1 << 20

// operation serves one AWS JSON 1.1 call: decode the body into its input,
// answer its output or an *apiError.
type operation func(body []byte) (any, error)

// apiError is an AWS JSON 1.1 error: the SDKs read its __type.
type apiError struct {
	Type    string
	Message string
	Status  int
}

func (e *apiError) Error() string { return e.Type + ": " + e.Message }

func clientError(typ, format string, args ...any) *apiError {
	return &apiError{Type: typ, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// serveJSON runs the operation named by the X-Amz-Target suffix.
func (s *Server) serveJSON(w http.ResponseWriter, r *http.Request, name string, ops map[string]operation) {
	var out any
	err := func() error {
		op, ok := ops[name]
		if !ok || r.Method != http.MethodPost {
			return clientError("UnknownOperationException", "%s is not supported by the local stand-in", name)
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
		if err != nil {
			return clientError("SerializationException", "reading the request: %v", err)
		}
		if len(body) > maxRequestBytes {
			return clientError("ValidationException", "the request is larger than %d bytes", maxRequestBytes)
		}
		out, err = op(body)
		return err
	}()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if err != nil {
		ae, ok := err.(*apiError)
		if !ok {
			ae = &apiError{Type: "InternalServerError", Message: err.Error(), Status: http.StatusInternalServerError}
		}
		s.log.Warn("aws request failed", "target", r.Header.Get("X-Amz-Target"), "type", ae.Type, "message", ae.Message)
		w.Header().Set("X-Amzn-ErrorType", ae.Type)
		w.WriteHeader(ae.Status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": ae.Type, "message": ae.Message})
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

// decode reads an operation's input, refusing unknown fields as the
// services do (SerializationException).
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return clientError("SerializationException", "%v", err)
	}
	return nil
}

// epoch is a timestamp as AWS JSON 1.1 writes it: seconds since the epoch.
type epoch float64

func epochOf(t time.Time) epoch { return epoch(float64(t.UnixNano()) / 1e9) }

// saveJSON writes v to path; a crash leaves the old file or the new one.
func saveJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b)
}

// loadJSON reads path into v; a missing file leaves v as it is.
func loadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("awslocal: %s is damaged: %w", path, err)
	}
	return nil
}
