// Package sandstep is the domain: the types every layer shares (sandboxes,
// tasks, quotas, audit events) and the one error model.
//
// Every package below the edge returns errors that either are, or wrap, an
// *Error with a Code. The edges (the HTTP adapter, the Step Functions
// adapter) classify an error exactly once with ErrorCode and map the code to
// an HTTP status or a Step Functions error name with the tables here.
package sandstep

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
	ETRANSIENT       Code = "transient"
	ETIMEOUT         Code = "timeout"
	EINTERNAL        Code = "internal"
)

// Error is the domain error. Message is safe to show to the caller; Err, if
// set, is the underlying cause and is never shown to a caller for EINTERNAL.
type Error struct {
	Code    Code
	Message string
	// Field names the input field at fault, for EINVALID and ETOOLARGE.
	Field string
	// Err is the wrapped cause, kept for logs and errors.Is/As.
	Err error
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

// ErrorField returns the input field named by the first *Error in err's chain.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// HTTPStatus maps a code to its HTTP status.
func HTTPStatus(code Code) int {
	switch code {
	case EINVALID:
		return http.StatusBadRequest
	case EUNAUTHENTICATED:
		return http.StatusUnauthorized
	case ENOTFOUND:
		return http.StatusNotFound
	case ECONFLICT:
		return http.StatusConflict
	case ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case EQUOTA:
		return http.StatusTooManyRequests
	case ETRANSIENT:
		return http.StatusServiceUnavailable
	case ETIMEOUT:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// StepFunctionsName maps a code to the error name a state machine's Retry
// and Catch match on.
func StepFunctionsName(code Code) string {
	switch code {
	case EINVALID, ETOOLARGE:
		return "Sandbox.InvalidInput"
	case ENOTFOUND, EUNAUTHENTICATED:
		return "Sandbox.NotFound"
	case ECONFLICT:
		return "Sandbox.Conflict"
	case EQUOTA:
		return "Sandbox.QuotaExceeded"
	case ETRANSIENT:
		return "Sandbox.Transient"
	case ETIMEOUT:
		return "Sandbox.Timeout"
	}
	return "Sandbox.Internal"
}
