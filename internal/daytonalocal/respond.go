package daytonalocal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Toolbox error codes (DaemonErrorCode in the toolbox spec).
const (
	codeBadRequest         = "BAD_REQUEST"
	codeInvalidRequestBody = "INVALID_REQUEST_BODY"
	codeUnauthorized       = "UNAUTHORIZED"
	codeNotFound           = "NOT_FOUND"
	codeConflict           = "CONFLICT"
	codeGone               = "GONE"
	codeInternal           = "INTERNAL_SERVER_ERROR"
	codeExecTimeout        = "PROCESS_EXECUTION_TIMEOUT"
	codeFileNotFound       = "FILE_NOT_FOUND"
	codeGitAuthFailed      = "GIT_AUTH_FAILED"
	codeGitRepoNotFound    = "GIT_REPO_NOT_FOUND"
	codeGitBranchNotFound  = "GIT_BRANCH_NOT_FOUND"
	codeGitTransportFailed = "GIT_TRANSPORT_FAILED"

	sourceDaemon = "DAYTONA_DAEMON"
	sourceProxy  = "DAYTONA_PROXY"
)

// isoMillis is the timestamp layout of the main API (JavaScript's
// Date.toISOString).
const isoMillis = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(isoMillis)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// apiError writes the main API's error body.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	writeJSON(w, status, apiErrorBody{
		StatusCode: status,
		Message:    msg,
		Error:      http.StatusText(status),
		Path:       r.URL.Path,
		Timestamp:  formatTime(s.now()),
	})
}

// toolboxError writes the toolbox's ErrorResponse. Its path is the path as
// the daemon sees it (without the /toolbox/{sandboxId} prefix).
func (s *Server) toolboxError(w http.ResponseWriter, r *http.Request, status int, code, source, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	writeJSON(w, status, toolboxErrorBody{
		StatusCode: status,
		Message:    msg,
		Code:       code,
		Timestamp:  s.now().UTC().Format(time.RFC3339Nano),
		Path:       toolboxSubpath(r.URL.Path),
		Method:     r.Method,
		Source:     source,
	})
}

// daemonError writes a toolbox error that comes from the daemon itself.
func (s *Server) daemonError(w http.ResponseWriter, r *http.Request, status int, code, format string, args ...any) {
	s.toolboxError(w, r, status, code, sourceDaemon, format, args...)
}

// isToolbox reports whether a request path is a toolbox path.
func isToolbox(p string) bool {
	return strings.HasPrefix(p, toolboxPrefix+"/")
}

// toolboxSubpath strips "/toolbox/{sandboxId}" from a toolbox path.
func toolboxSubpath(p string) string {
	if !isToolbox(p) {
		return p
	}
	rest := strings.TrimPrefix(p, toolboxPrefix+"/")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return "/"
}

// errorFor writes an error in the body style of the request's API.
func (s *Server) errorFor(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if isToolbox(r.URL.Path) {
		s.toolboxError(w, r, status, code, sourceProxy, "%s", msg)
		return
	}
	s.apiError(w, r, status, "%s", msg)
}

const maxJSONBody = 1 << 20

// readJSON decodes the request's JSON body into v (see decodeJSON). When
// it cannot, it answers 400 in the style of the request's API (the
// daemon's INVALID_REQUEST_BODY on the toolbox) and reports false.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) bool {
	err := decodeJSON(w, r, v, allowEmpty)
	switch {
	case err == nil:
		return true
	case isToolbox(r.URL.Path):
		s.daemonError(w, r, http.StatusBadRequest, codeInvalidRequestBody, "%s", err.Error())
	default:
		s.apiError(w, r, http.StatusBadRequest, "%s", err.Error())
	}
	return false
}

// decodeJSON reads a JSON request body of at most maxJSONBody bytes. An
// empty body decodes as the zero value when allowEmpty is set.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) error {
	body := http.MaxBytesReader(w, r.Body, maxJSONBody)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			if allowEmpty {
				return nil
			}
			return errors.New("request body is required")
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("request body is larger than %d bytes", maxJSONBody)
		}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return fmt.Errorf("%s must be of type %s", ute.Field, ute.Type)
		}
		return fmt.Errorf("invalid JSON body: %v", err)
	}
	return nil
}
