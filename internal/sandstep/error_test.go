package sandstep

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestErrorClassification(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		code    Code
		message string
		field   string
	}{
		{"invalid with field", Invalid("command", "must not be empty"), EINVALID, "must not be empty", "command"},
		{"wrapped not found", fmt.Errorf("get sandbox: %w", Errorf(ENOTFOUND, "sandbox %q not found", "s1")), ENOTFOUND, `sandbox "s1" not found`, ""},
		{"quota", Errorf(EQUOTA, "limit 3 reached"), EQUOTA, "limit 3 reached", ""},
		{"conflict", Errorf(ECONFLICT, "x"), ECONFLICT, "x", ""},
		{"too large", &Error{Code: ETOOLARGE, Field: "body", Message: "over 6 MB"}, ETOOLARGE, "over 6 MB", "body"},
		{"transient", Wrap(errors.New("dial tcp: refused"), ETRANSIENT, "daytona unavailable"), ETRANSIENT, "daytona unavailable", ""},
		{"deadline", fmt.Errorf("wait: %w", context.DeadlineExceeded), ETIMEOUT, "the operation timed out", ""},
		{"cancelled", context.Canceled, ETRANSIENT, "the operation was interrupted; try again", ""},
		{"plain error hides its text", errors.New("secret-ish detail: table arn:aws:..."), EINTERNAL, "internal error", ""},
		{"internal code hides its text", Wrap(errors.New("boom"), EINTERNAL, "marshal failed at line 3"), EINTERNAL, "internal error", ""},
		{"unauthenticated", Errorf(EUNAUTHENTICATED, "no identity"), EUNAUTHENTICATED, "no identity", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := ErrorCode(tt.err)
			if code != tt.code {
				t.Fatalf("ErrorCode = %q, want %q", code, tt.code)
			}
			if got := ErrorMessage(tt.err); got != tt.message {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.message)
			}
			if got := ErrorField(tt.err); got != tt.field {
				t.Errorf("ErrorField = %q, want %q", got, tt.field)
			}
			text := tt.message
			if tt.field != "" {
				text = tt.field + ": " + text
			}
			if got := ErrorText(tt.err); got != text {
				t.Errorf("ErrorText = %q, want %q", got, text)
			}
		})
	}
	if ErrorCode(nil) != "" || ErrorMessage(nil) != "" {
		t.Error("nil error must have no code and no message")
	}
}

func TestErrorUnwrap(t *testing.T) {
	cause := errors.New("root")
	err := fmt.Errorf("outer: %w", Wrap(cause, ETRANSIENT, "x"))
	if !errors.Is(err, cause) {
		t.Fatal("errors.Is must see the wrapped cause")
	}
}

func TestValidateUserID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"alice", true},
		{"auth0|5f3a", true},
		{"repo:octo/repo:ref:refs/heads/main", true},
		{"8f3b2c1e-5d4a-4e6b-9c7d-2a1b0c9d8e7f", true},
		{"", false},
		{"   ", false},
		{"a b", false},
		{"a#b", false},
		{"a\x00b", false},
		{"\xff", false},
		{string(make([]byte, MaxUserIDLength+1)), false},
	}
	for _, tt := range tests {
		err := ValidateUserID("userId", tt.id)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateUserID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
		if err != nil && (ErrorCode(err) != EINVALID || ErrorField(err) != "userId") {
			t.Errorf("ValidateUserID(%q) = %v, want invalid userId", tt.id, err)
		}
	}
}

func TestValidateCallerID(t *testing.T) {
	tests := []struct {
		name, id string
		ok       bool
	}{
		{"a user", "alice", true},
		{"a repository's id", "github:octo/repo", false},
		{"in another case", "GitHub:octo/repo", false},
		{"github in the middle", "me-github:x", true},
		{"still a user id", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateCallerID("sub", tt.id); (err == nil) != tt.ok {
				t.Errorf("ValidateCallerID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
			}
			if RepoUser("octo/repo") != "github:octo/repo" {
				t.Error("RepoUser")
			}
			if repo, ok := RepoOf(RepoUser("octo/repo")); !ok || repo != "octo/repo" {
				t.Errorf("RepoOf(RepoUser) = %q, %v", repo, ok)
			}
			if _, ok := RepoOf("alice"); ok {
				t.Error("RepoOf(alice) says a repository")
			}
		})
	}
}

// Clip cuts between characters: a field or message it shortens stays
// valid UTF-8, so a JSON answer need not replace anything in it.
func TestClipKeepsUTF8(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"abcdef", 3, "abc…"},
		{"aé", 2, "a…"},          // é is 2 bytes: not cut in half
		{"a€b", 3, "a…"},         // € is 3 bytes
		{"€€", 4, "€…"},          // nor the second one
		{"\xffxyz", 2, "\xffx…"}, // invalid input stays as it was, cut as bytes
	}
	for _, tt := range tests {
		if got := Clip(tt.in, tt.n); got != tt.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
