package daytona

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// APIError is a non-2xx answer from the Daytona API, the toolbox proxy or
// the toolbox daemon. It never contains the API key (any echo of it in a
// response body is redacted) nor the request body.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the server's message ("message", else "error"), or, for
	// bodies that are not a Daytona error object, a cut snippet of the body.
	Message string
	// Code is the toolbox daemon's error code ("code"), e.g.
	// PROCESS_EXECUTION_TIMEOUT or GIT_REPO_NOT_FOUND; empty for the main API.
	Code string
	// ErrorName is the main API's "error" field (the status text, e.g.
	// "Too Many Requests").
	ErrorName string
	// Source is the toolbox body's "source" (DAYTONA_DAEMON, DAYTONA_PROXY).
	Source string
	// Method and Path identify the call (path without query).
	Method string
	Path   string
	// Took is how long the try that got this answer waited for it (by
	// Config.Now): the client's earlier tries and its waits between them
	// are not in it.
	Took time.Duration
	// RetryAfter is the longest Retry-After / Retry-After-<name> wait the
	// response asked for, zero if none.
	RetryAfter time.Duration
	// RawBody is a cut, redacted snippet of the body when it was not a
	// Daytona error object (HTML from a proxy, garbage, an empty 502).
	RawBody string
}

// FromProxy says whether Daytona's proxy answered, not the sandbox's
// toolbox daemon: its answer is about reaching the sandbox (our key, a
// sandbox it cannot reach), never about the request's content.
func (e *APIError) FromProxy() bool { return strings.EqualFold(e.Source, "DAYTONA_PROXY") }

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("daytona: ")
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.Path)
	b.WriteString(": ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteByte(' ')
		b.WriteString(t)
	}
	switch {
	case e.Message != "":
		b.WriteString(": ")
		b.WriteString(e.Message)
	case e.RawBody != "":
		b.WriteString(": body: ")
		b.WriteString(strconv.Quote(e.RawBody))
	default:
		b.WriteString(" (empty body)")
	}
	if e.Code != "" {
		b.WriteString(" [")
		b.WriteString(e.Code)
		b.WriteByte(']')
	}
	return b.String()
}

// RateLimitError is a 429 answer. It wraps the *APIError (errors.As finds
// both) and carries the wait the server asked for.
type RateLimitError struct {
	*APIError
	// Limiter names the throttler from a Retry-After-<name> header
	// ("sandbox-create", "authenticated", ...), empty for plain Retry-After.
	Limiter string
}

func (e *RateLimitError) Error() string {
	s := e.APIError.Error()
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s", e.RetryAfter)
		if e.Limiter != "" {
			s += ", limiter " + e.Limiter
		}
		s += ")"
	}
	return s
}

// Unwrap returns the *APIError.
func (e *RateLimitError) Unwrap() error { return e.APIError }

// NetworkError is a failure to get an HTTP answer at all: a refused or reset
// connection, a DNS failure, a response-header timeout, a cancelled context.
type NetworkError struct {
	Method, Path string
	// NotSent is true when the request provably never reached the server
	// (the connection could not be made), so repeating it is always safe.
	NotSent bool
	Err     error
}

func (e *NetworkError) Error() string {
	return "daytona: " + e.Method + " " + e.Path + ": " + e.Err.Error()
}

// Unwrap returns the cause (context.Canceled, context.DeadlineExceeded,
// ErrResponseTimeout, a *net.OpError, ...).
func (e *NetworkError) Unwrap() error { return e.Err }

// ErrResponseTimeout is the cause of a *NetworkError when no response
// headers arrived within the call's response-header timeout.
var ErrResponseTimeout = errors.New("no response within the response-header timeout")

// ValidationError is bad input caught before any request was sent. Ids and
// names that go into URL paths must be non-empty valid UTF-8 without "/",
// "\", ".." or control characters.
type ValidationError struct {
	// Field names the offending argument or field, e.g. "sandboxID".
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	return "daytona: invalid " + e.Field + ": " + e.Reason
}

// CommandTimeoutError reports that the toolbox killed a command run by
// ExecuteCommand because it outlived its timeout (HTTP 408).
type CommandTimeoutError struct {
	SandboxID string
	Timeout   time.Duration
	Err       *APIError
}

func (e *CommandTimeoutError) Error() string {
	return fmt.Sprintf("daytona: command in sandbox %s timed out after %s: %v", e.SandboxID, e.Timeout, e.Err)
}

// Unwrap returns the 408 *APIError.
func (e *CommandTimeoutError) Unwrap() error { return e.Err }

// ErrNoExitCode is the cause of an error for a command answer that says
// nothing of how the command ended (no exitCode): it may have run, or
// failed, so it is neither read as exit 0 nor worth sending again.
var ErrNoExitCode = errors.New("the answer has no exit code")

// ErrSandboxFailed is the cause of a *StartError when the sandbox reached
// state error or build_failed.
var ErrSandboxFailed = errors.New("sandbox reached a failure state")

// ErrSandboxGone is the cause of a *StartError when the sandbox disappeared
// (destroyed, destroying, or 404) while the client waited for it to start.
var ErrSandboxGone = errors.New("sandbox was destroyed while waiting for it to start")

// StartError reports a sandbox that did not reach "started". When the client
// gave up on it, it deleted it (Deleted) or tried to (CleanupErr).
type StartError struct {
	SandboxID string
	// State is the last state seen, ErrorReason the server's explanation.
	State       SandboxState
	ErrorReason string
	// Deleted is true when the client deleted the sandbox (or found it
	// already gone). When false and CleanupErr is set, the sandbox may leak:
	// a reaper must find it by its labels.
	Deleted    bool
	CleanupErr error
	// Err is the cause: ErrSandboxFailed, ErrSandboxGone, a context error,
	// or the error of the GET that failed.
	Err error
}

func (e *StartError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "daytona: sandbox %s did not start", e.SandboxID)
	if e.State != "" {
		fmt.Fprintf(&b, " (state %s", e.State)
		if e.ErrorReason != "" {
			fmt.Fprintf(&b, ": %s", e.ErrorReason)
		}
		b.WriteByte(')')
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	switch {
	case e.Deleted:
		b.WriteString("; sandbox deleted")
	case e.CleanupErr != nil:
		fmt.Fprintf(&b, "; deleting it failed: %v", e.CleanupErr)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *StartError) Unwrap() error { return e.Err }

// IsNotFound reports whether err is a 404 from the API or the toolbox.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound
}

// IsTimeout reports whether err is a timeout: the context deadline, a
// response-header timeout, a network timeout, a command killed at its
// timeout (408) or a gateway timeout (504).
func IsTimeout(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrResponseTimeout) {
		return true
	}
	var ct *CommandTimeoutError
	if errors.As(err, &ct) {
		return true
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode == http.StatusRequestTimeout || ae.StatusCode == http.StatusGatewayTimeout
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// IsTransient reports whether trying the same call again later may
// succeed: 429, 502, 503, 504, network failures and response-header
// timeouts, and 409 "state change in progress". A cancelled or expired
// context is not transient: the caller stopped waiting.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.StatusCode {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		case http.StatusConflict:
			return isStateChangeInProgress(ae)
		}
		return false
	}
	var ne *NetworkError
	return errors.As(err, &ne)
}

// IsStateChangeInProgress reports whether err is Daytona's lifecycle 409
// "Sandbox state change in progress": another start, stop or delete runs.
func IsStateChangeInProgress(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && isStateChangeInProgress(ae)
}

// isStateChangeInProgress matches the lifecycle 409 "Sandbox state change in
// progress".
func isStateChangeInProgress(ae *APIError) bool {
	return ae.StatusCode == http.StatusConflict && strings.Contains(strings.ToLower(ae.Message), "state change in progress")
}

// isDuplicateName matches the create 409 "Sandbox with name X already exists".
func isDuplicateName(ae *APIError) bool {
	return ae.StatusCode == http.StatusConflict && strings.Contains(strings.ToLower(ae.Message), "already exists")
}

// isFailedToStart matches the create 400 "Sandbox failed to start: ...",
// sent although the sandbox exists.
func isFailedToStart(ae *APIError) bool {
	return ae.StatusCode == http.StatusBadRequest && strings.Contains(strings.ToLower(ae.Message), "failed to start")
}

// Limits on what an error keeps of a response body.
const (
	maxErrorBody    = 64 << 10 // read at most this much of an error body
	maxErrorSnippet = 512      // keep at most this much raw text in an error
	maxErrorMessage = 2048     // and at most this much of a message
)

// errorBody is the union of the main API's and the toolbox's error objects.
type errorBody struct {
	StatusCode json.RawMessage `json:"statusCode"`
	Message    json.RawMessage `json:"message"`
	Error      json.RawMessage `json:"error"`
	Code       json.RawMessage `json:"code"`
	Source     json.RawMessage `json:"source"`
}

// newAPIError builds an *APIError (or *RateLimitError) from a response whose
// body (at most maxErrorBody bytes of it) is body. redact removes secrets.
func newAPIError(method, path string, status int, header http.Header, body []byte, redact func(string) string) error {
	ae := &APIError{StatusCode: status, Method: method, Path: path}
	// Redact before anything is cut, so no fragment of a secret survives.
	trimmed := redact(strings.TrimSpace(string(body)))
	parsed := false
	if strings.HasPrefix(trimmed, "{") {
		var eb errorBody
		if json.Unmarshal([]byte(trimmed), &eb) == nil {
			ae.Message = jsonText(eb.Message)
			ae.ErrorName = jsonText(eb.Error)
			ae.Code = jsonText(eb.Code)
			ae.Source = jsonText(eb.Source)
			if ae.Message == "" {
				ae.Message = ae.ErrorName
			}
			parsed = ae.Message != "" || ae.Code != ""
		}
	}
	if !parsed && trimmed != "" {
		ae.RawBody = snippet(trimmed, maxErrorSnippet, redact)
	}
	ae.Message = snippet(ae.Message, maxErrorMessage, redact)
	ae.ErrorName = snippet(ae.ErrorName, 128, redact)
	ae.Code = snippet(ae.Code, 128, redact)
	ae.Source = snippet(ae.Source, 128, redact)
	var limiter string
	ae.RetryAfter, limiter = retryAfter(header, time.Now())
	if status == http.StatusTooManyRequests {
		return &RateLimitError{APIError: ae, Limiter: limiter}
	}
	return ae
}

// jsonText renders a JSON value as text: a string as itself, an array of
// strings joined with ", " (NestJS validation errors), anything else as its
// JSON text; null and absent as "".
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, ", ")
	}
	return string(raw)
}

// snippet makes s a single printable line of at most about n bytes with
// secrets removed (before and after cutting, so that no fragment of a secret
// survives at the cut). redact may be nil.
func snippet(s string, n int, redact func(string) string) string {
	if redact == nil {
		redact = func(s string) string { return s }
	}
	s = redact(s)
	if len(s) > n {
		i := n
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = redact(s[:i]) + "…(truncated)"
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// retryAfter reads Retry-After (seconds or HTTP date) and Daytona's
// Retry-After-<name> (seconds) headers and returns the longest wait and the
// limiter name it came from.
func retryAfter(h http.Header, now time.Time) (time.Duration, string) {
	var best time.Duration
	var name string
	for k, vs := range h {
		lk := strings.ToLower(k)
		if lk != "retry-after" && !strings.HasPrefix(lk, "retry-after-") {
			continue
		}
		named := lk != "retry-after"
		for _, v := range vs {
			d, ok := parseRetryAfter(strings.TrimSpace(v), now)
			// On a tie the named header wins, whatever the map's order:
			// Daytona sends the plain one beside it with the same wait.
			if !ok || d < best || d == best && (!named || name != "") {
				continue
			}
			best = d
			name = ""
			if named {
				name = lk[len("retry-after-"):]
			}
		}
	}
	return best, name
}

// maxHeaderWait is the longest wait a Retry-After header is believed for,
// in seconds or as an HTTP date alike: a longer one (a proxy's misreading,
// a clock far off, "Fri, 31 Dec 9999 23:59:59 GMT") is ignored as
// implausible, as if no header had been sent. Believed, it would travel on as
// the error's RetryAfter, where adding a jitter or rounding it up to whole
// seconds overflows.
const maxHeaderWait = 24 * time.Hour

// parseRetryAfter reads one Retry-After value, in seconds or as an HTTP
// date (one already past asks for no wait), and reports false for one
// that is malformed, negative or past maxHeaderWait.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	var secs float64
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		secs = s
	} else if t, err := http.ParseTime(v); err == nil {
		secs = max(t.Sub(now), 0).Seconds()
	} else {
		return 0, false
	}
	// Checked as seconds, before the conversion, which has no defined
	// value past a Duration's range; written so that NaN fails it too.
	if !(secs >= 0 && secs <= maxHeaderWait.Seconds()) {
		return 0, false
	}
	return time.Duration(secs * float64(time.Second)), true
}
