// Package sandstep is the domain: the types every layer shares (sandboxes,
// tasks, quotas, audit events) and the one error model.
//
// Every package below the edge returns errors that either are, or wrap, an
// *Error with a Code. The edge (internal/api) classifies an error exactly
// once with ErrorCode and maps the code to an HTTP status or a Step
// Functions error name.
package sandstep

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Code classifies an error for callers. The set is closed: the edges map
// each code to exactly one HTTP status and one Step Functions error name.
type Code string

// The error codes of docs/architecture.md ("Errors").
const (
	EINVALID         Code = "invalid_input"
	EUNAUTHENTICATED Code = "unauthenticated"
	ENOTFOUND        Code = "not_found"
	ECONFLICT        Code = "conflict"
	ETOOLARGE        Code = "payload_too_large"
	EQUOTA           Code = "quota_exceeded"
	// ECAPACITY: the provider's organisation has no capacity left (CPU,
	// memory, disk). Neither the caller's fault nor a blip: retry later,
	// after capacity is freed.
	ECAPACITY Code = "capacity"
	// EQUEUED: a repository's task waits for a slot of the repository's
	// quota; the state machine tries again, until GITHUB_QUEUE_TIMEOUT.
	EQUEUED Code = "queued"
	// EDRAINING: the operator has drained the deployment for maintenance
	// (the drain switch): nothing new is admitted until it resumes.
	EDRAINING  Code = "draining"
	ETRANSIENT Code = "transient"
	ETIMEOUT   Code = "timeout"
	EINTERNAL  Code = "internal"
)

// Codes returns every code, so the edge's table can be checked for a row
// for each.
func Codes() []Code {
	return []Code{EINVALID, EUNAUTHENTICATED, ENOTFOUND, ECONFLICT, ETOOLARGE, EQUOTA, ECAPACITY, EQUEUED, EDRAINING, ETRANSIENT, ETIMEOUT, EINTERNAL}
}

// Error is the domain error. Message is safe to show to the caller; Err, if
// set, is the underlying cause and is never shown to a caller for EINTERNAL.
type Error struct {
	Code    Code
	Message string
	// Field names the input field at fault, for EINVALID and ETOOLARGE.
	Field string
	// Err is the wrapped cause, kept for logs and errors.Is/As.
	Err error
	// RetryAfter, when set, is how long a caller should wait before trying
	// again (ECAPACITY, ETRANSIENT).
	RetryAfter time.Duration
	// SandboxID names the sandbox a failed operation left behind, so the
	// caller can look at it or delete it.
	SandboxID string
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, msg, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with code and message that wraps cause.
func Wrap(cause error, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: cause}
}

// Invalid returns an EINVALID error naming the field at fault.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// TooMany refuses the list or map at field for holding n elements (what
// they are) when it may hold at most max.
func TooMany(field string, n, max int, what string) error {
	if n > max {
		return Invalid(field, "has %d %s, at most %d are allowed", n, what, max)
	}
	return nil
}

// Clip shortens caller input quoted back in an error message to at most n
// bytes (and an ellipsis), so a message stays readable whatever was sent.
// It cuts between characters: a valid UTF-8 s stays valid.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && n-cut < utf8.UTFMax-1 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// ErrorCode returns the code of the first *Error in err's chain. A context
// deadline is ETIMEOUT, a cancelled context is ETRANSIENT (the caller went
// away; trying again is safe), anything else unclassified is EINTERNAL.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return ETIMEOUT
	case errors.Is(err, context.Canceled):
		return ETRANSIENT
	}
	return EINTERNAL
}

// ErrorMessage returns the message that may be shown to a caller. Internal
// errors never expose their text.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	switch ErrorCode(err) {
	case ETIMEOUT:
		return "the operation timed out"
	case ETRANSIENT:
		return "the operation was interrupted; try again"
	}
	return "internal error"
}

// ErrorText is ErrorMessage after the field it names, if any ("field:
// message"): the words of an error told without its code.
func ErrorText(err error) string {
	if f := ErrorField(err); f != "" {
		return f + ": " + ErrorMessage(err)
	}
	return ErrorMessage(err)
}

// ErrorRetryAfter returns the wait the first *Error in err's chain asks
// for, or 0.
func ErrorRetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// ErrorField returns the input field named by the first *Error in err's chain.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// ErrorSandboxID returns the sandbox the first *Error in err's chain
// names, or "".
func ErrorSandboxID(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.SandboxID
	}
	return ""
}

// WithSandbox returns err naming the sandbox id: a copy of its first
// *Error with SandboxID set, wrapping err (an error without one is
// EINTERNAL).
func WithSandbox(err error, id string) error {
	if err == nil {
		return nil
	}
	out := &Error{Code: ErrorCode(err), Message: ErrorMessage(err), Err: err, SandboxID: id}
	var e *Error
	if errors.As(err, &e) {
		out.Field, out.RetryAfter = e.Field, e.RetryAfter
	}
	return out
}
