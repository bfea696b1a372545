package daytona

import (
	"strings"
	"unicode/utf8"
)

// maxIDLen bounds ids and names put into URL paths.
const maxIDLen = 512

// checkID validates a value that goes into a URL path segment (a sandbox
// id or name, a session id, a command id). field names it in the error.
func checkID(field, v string) error {
	switch {
	case v == "":
		return &ValidationError{Field: field, Reason: "must not be empty"}
	case v == "." || v == "..":
		return &ValidationError{Field: field, Reason: `must not be "." or ".."`}
	case len(v) > maxIDLen:
		return &ValidationError{Field: field, Reason: "is too long"}
	case !utf8.ValidString(v):
		return &ValidationError{Field: field, Reason: "is not valid UTF-8"}
	case strings.Contains(v, ".."):
		return &ValidationError{Field: field, Reason: `must not contain ".."`}
	case strings.ContainsAny(v, `/\`):
		return &ValidationError{Field: field, Reason: "must not contain a slash or backslash"}
	case strings.TrimSpace(v) != v:
		return &ValidationError{Field: field, Reason: "must not start or end with whitespace"}
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return &ValidationError{Field: field, Reason: "must not contain control characters"}
		}
	}
	return nil
}

// checkPath validates a file path sent in a query string or form field.
func checkPath(field, p string) error {
	switch {
	case p == "":
		return &ValidationError{Field: field, Reason: "must not be empty"}
	case !utf8.ValidString(p):
		return &ValidationError{Field: field, Reason: "is not valid UTF-8"}
	case strings.ContainsRune(p, 0):
		return &ValidationError{Field: field, Reason: "must not contain NUL"}
	case len(p) > 4096:
		return &ValidationError{Field: field, Reason: "is too long"}
	}
	return nil
}
