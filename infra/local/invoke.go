package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
)

// Lambda Invoke API limits.
const (
	// MaxSyncPayload is Lambda's limit on a synchronous invocation's
	// request (and response) payload: 6 MB (6,291,456 bytes). It holds
	// for the Invoke API here and for the API Gateway emulator's
	// invocations (its events and the functions' answers) alike.
	MaxSyncPayload = 6 << 20
	// MaxAsyncPayload is Lambda's limit on an asynchronous (Event)
	// invocation's payload: 1 MB.
	MaxAsyncPayload = 1 << 20
)

// invokeServer is the Lambda Invoke API, as `sam local start-lambda` serves
// it: POST /2015-03-31/functions/{name}/invocations. The request is not
// authenticated (SigV4 signatures are accepted unchecked).
type invokeServer struct {
	fns   *functions
	log   *slog.Logger
	base  context.Context // cancelled when the stack closes
	async *sync.WaitGroup // Event invocations still running
	newID func() string
}

func (s *invokeServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", s.serveInvoke)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		lambdaError(w, http.StatusNotFound, "UnknownOperationException",
			fmt.Sprintf("Unknown operation: %s %s (the local Lambda API serves only Invoke: POST /2015-03-31/functions/{name}/invocations)", r.Method, r.URL.Path))
	})
	return mux
}

// lambdaError writes a Lambda API error as the service does: the error type
// in X-Amzn-ErrorType and the body {"Type": "User", "message": ...}, which
// the AWS SDKs and CLI read.
func lambdaError(w http.ResponseWriter, status int, errType, msg string) {
	kind := "User"
	if status >= 500 {
		kind = "Service"
	}
	body, _ := json.Marshal(map[string]string{"Type": kind, "message": msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", errType)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *invokeServer) serveInvoke(w http.ResponseWriter, r *http.Request) {
	requestID := s.newID()
	w.Header().Set("X-Amzn-RequestId", requestID)
	name, qualifier := r.PathValue("name"), r.URL.Query().Get("Qualifier")
	fn, ok := s.fns.resolve(name, qualifier)
	if !ok {
		lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+s.fns.notFoundARN(name, qualifier))
		return
	}

	invocationType := r.Header.Get("X-Amz-Invocation-Type")
	limit := MaxSyncPayload
	switch invocationType {
	case "", "RequestResponse":
		invocationType = "RequestResponse"
	case "Event":
		limit = MaxAsyncPayload
	case "DryRun":
	default:
		lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException",
			fmt.Sprintf("Unsupported invocation type %q: use RequestResponse, Event or DryRun", invocationType))
		return
	}

	payload, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not read request body: "+err.Error())
		return
	}
	if len(payload) > limit {
		lambdaError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException",
			fmt.Sprintf("Request must be smaller than %d bytes for the Invoke operation", limit))
		return
	}
	if len(bytes.TrimSpace(payload)) == 0 {
		payload = []byte("{}") // what Lambda passes for an empty payload
	}
	if err := checkJSON(payload); err != nil {
		lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException",
			"Could not parse request body into json: Could not parse payload into json: "+err.Error())
		return
	}

	switch invocationType {
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
		return
	case "Event":
		s.async.Add(1)
		go func() {
			defer s.async.Done()
			s.run(s.base, fn, requestID, payload)
		}()
		w.WriteHeader(http.StatusAccepted)
		return
	}

	out, ferr := s.run(s.base, fn, requestID, payload)
	w.Header().Set("Content-Type", "application/json")
	// The one version there is, whichever qualifier named it (in AWS the
	// alias live answers the number of the version it points at).
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	if ferr != nil {
		body, _ := json.Marshal(ferr)
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		_, _ = w.Write(body)
		return
	}
	_, _ = w.Write(out)
}

// run invokes fn and logs the outcome.
func (s *invokeServer) run(ctx context.Context, fn *function, requestID string, payload []byte) ([]byte, *messages.InvokeResponse_Error) {
	start := time.Now()
	out, ferr := fn.invoke(ctx, requestID, payload)
	attrs := []slog.Attr{
		slog.String("function", fn.LogicalID),
		slog.String("requestId", requestID),
		slog.Duration("duration", time.Since(start).Round(time.Microsecond)),
	}
	if ferr != nil {
		s.log.LogAttrs(ctx, slog.LevelInfo, "lambda invoke: function error",
			append(attrs, slog.String("errorType", ferr.Type))...)
		return nil, ferr
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "lambda invoke", attrs...)
	return out, nil
}

// checkJSON reports whether payload is one JSON value, with the offset of
// the first problem.
func checkJSON(payload []byte) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return fmt.Errorf("%s at byte offset %d", syn.Error(), syn.Offset)
		}
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("unexpected data after the JSON value at byte offset %d", dec.InputOffset())
	}
	return nil
}
