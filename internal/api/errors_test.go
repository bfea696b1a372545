package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

func TestErrorTable(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		sfn    string
	}{
		{"invalid with field", sandstep.Invalid("command", "must not be empty"), 400, "Sandbox.InvalidInput"},
		{"wrapped not found", fmt.Errorf("get sandbox: %w", sandstep.Errorf(sandstep.ENOTFOUND, "sandbox %q not found", "s1")), 404, "Sandbox.NotFound"},
		{"quota", sandstep.Errorf(sandstep.EQUOTA, "limit 3 reached"), 429, "Sandbox.QuotaExceeded"},
		{"conflict", sandstep.Errorf(sandstep.ECONFLICT, "x"), 409, "Sandbox.Conflict"},
		{"too large", &sandstep.Error{Code: sandstep.ETOOLARGE, Field: "body", Message: "over 6 MB"}, 413, "Sandbox.InvalidInput"},
		{"transient", sandstep.Wrap(errors.New("dial tcp: refused"), sandstep.ETRANSIENT, "daytona unavailable"), 503, "Sandbox.Transient"},
		{"deadline", fmt.Errorf("wait: %w", context.DeadlineExceeded), 504, "Sandbox.Timeout"},
		{"cancelled", context.Canceled, 503, "Sandbox.Transient"},
		{"plain error hides its text", errors.New("secret-ish detail: table arn:aws:..."), 500, "Sandbox.Internal"},
		{"internal code hides its text", sandstep.Wrap(errors.New("boom"), sandstep.EINTERNAL, "marshal failed at line 3"), 500, "Sandbox.Internal"},
		{"unauthenticated", sandstep.Errorf(sandstep.EUNAUTHENTICATED, "no identity"), http.StatusUnauthorized, "Sandbox.NotFound"},
		{"capacity", sandstep.Errorf(sandstep.ECAPACITY, "the organisation is full"), 503, "Sandbox.Capacity"},
		{"queued", fmt.Errorf("create: %w", sandstep.Errorf(sandstep.EQUEUED, "waits for the repository's quota")), 429, "Sandbox.Queued"},
		{"draining", sandstep.Errorf(sandstep.EDRAINING, "sandstep is drained for maintenance; retry later"), 503, "Sandbox.Draining"},
		{"unknown code is internal", sandstep.Errorf("made_up", "x"), 500, "Sandbox.Internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := sandstep.ErrorCode(tt.err)
			if got := HTTPStatus(code); got != tt.status {
				t.Errorf("HTTPStatus = %d, want %d", got, tt.status)
			}
			if got := StepFunctionsName(code); got != tt.sfn {
				t.Errorf("StepFunctionsName = %q, want %q", got, tt.sfn)
			}
		})
	}
}

// Every code of the domain has its row: a new code must say how the edge
// answers it.
func TestErrorTableCoversEveryCode(t *testing.T) {
	for _, code := range sandstep.Codes() {
		if _, ok := codes[code]; !ok {
			t.Errorf("code %q has no row in the edge's table", code)
		}
	}
}

func TestCodesAreTheConstants(t *testing.T) {
	if got := len(sandstep.Codes()); got != len(codes) {
		t.Errorf("sandstep.Codes() has %d codes, the edge's table %d rows", got, len(codes))
	}
}

// A capacity error, or any error that names a wait, tells an HTTP caller
// when to come back.
func TestRetryAfterHeader(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"capacity without a wait of its own", sandstep.Errorf(sandstep.ECAPACITY, "full"), "60"},
		{"capacity with a wait", &sandstep.Error{Code: sandstep.ECAPACITY, Message: "full", RetryAfter: 1500 * time.Millisecond}, "2"},
		{"transient with a wait", fmt.Errorf("x: %w", &sandstep.Error{Code: sandstep.ETRANSIENT, Message: "busy", RetryAfter: 7 * time.Second}), "7"},
		{"transient without", sandstep.Errorf(sandstep.ETRANSIENT, "busy"), ""},
		{"quota", sandstep.Errorf(sandstep.EQUOTA, "limit"), ""},
		{"drained", sandstep.Errorf(sandstep.EDRAINING, "drained"), "60"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := newTestAPI(&fakeService{err: tt.err}, Options{})
			res := a.ServeEvent(context.Background(), apiEvent(RouteCreateSandbox))
			if got := res.Headers["Retry-After"]; got != tt.want {
				t.Errorf("Retry-After = %q, want %q (status %d)", got, tt.want, res.StatusCode)
			}
		})
	}
}
