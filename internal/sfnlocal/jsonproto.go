package sfnlocal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxRequestBytes bounds a request: inputs and outputs are at most 256 KiB,
// and JSON escaping can double them.
const maxRequestBytes = 1 << 20

// targetPrefix is the X-Amz-Target prefix of Step Functions.
const targetPrefix = "AWSStepFunctions."

// apiError is an AWS JSON 1.0 error: the SDKs and the CLI read its __type.
type apiError struct {
	Type    string
	Message string
	Status  int
}

func (e *apiError) Error() string { return e.Type + ": " + e.Message }

func clientError(typ, format string, args ...any) *apiError {
	return &apiError{Type: typ, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// operation answers one call: decode the body into its input, return its
// output or an *apiError.
type operation func(body []byte) (any, error)

func (s *Server) operations() map[string]operation {
	return map[string]operation{
		"StartExecution":       s.startExecution,
		"DescribeExecution":    s.describeExecution,
		"StopExecution":        s.stopExecution,
		"ListExecutions":       s.listExecutions,
		"GetExecutionHistory":  s.getExecutionHistory,
		"SendTaskSuccess":      s.sendTaskSuccess,
		"SendTaskFailure":      s.sendTaskFailure,
		"SendTaskHeartbeat":    s.sendTaskHeartbeat,
		"DescribeStateMachine": s.describeStateMachine,
		"ListStateMachines":    s.listStateMachines,
	}
}

func (s *Server) serveJSON(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	var out any
	err := func() error {
		name, ok := strings.CutPrefix(target, targetPrefix)
		op, known := s.operations()[name]
		if !ok || !known || r.Method != http.MethodPost {
			return clientError("UnknownOperationException", "%s %q is not supported by the local Step Functions", r.Method, target)
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
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if err != nil {
		ae, ok := err.(*apiError)
		if !ok {
			ae = &apiError{Type: "InternalServerError", Message: err.Error(), Status: http.StatusInternalServerError}
			s.log.Error("sfnlocal: request failed", "target", target, "err", err)
		} else {
			s.log.Debug("sfnlocal: request refused", "target", target, "type", ae.Type, "message", ae.Message)
		}
		w.Header().Set("X-Amzn-ErrorType", ae.Type)
		w.WriteHeader(ae.Status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": ae.Type, "message": ae.Message})
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

// decode reads an operation's input. Unknown members are ignored: newer
// SDKs and CLIs send members this stand-in has no use for.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return clientError("SerializationException", "%v", err)
	}
	return nil
}

// epoch is a timestamp as AWS JSON 1.0 writes it: seconds since the epoch.
type epoch float64

func epochOf(t time.Time) epoch { return epoch(float64(t.UnixMilli()) / 1e3) }
