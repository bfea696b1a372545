package jsonproto

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServe(t *testing.T) {
	ops := map[string]Operation{
		"Echo":    func(body []byte) (any, error) { return map[string]string{"got": string(body)}, nil },
		"Refuse":  func([]byte) (any, error) { return nil, ClientError("ResourceNotFoundException", "no %s", "such thing") },
		"Explode": func([]byte) (any, error) { return nil, errors.New("disk on fire") },
	}
	tests := []struct {
		name, method, op, body string
		status                 int
		errType, bodyHas       string
	}{
		{"answer", http.MethodPost, "Echo", `{"a":1}`, 200, "", `"got":"{\"a\":1}"`},
		{"refusal", http.MethodPost, "Refuse", `{}`, 400, "ResourceNotFoundException", `"__type":"ResourceNotFoundException","message":"no such thing"`},
		{"internal", http.MethodPost, "Explode", `{}`, 500, "InternalServerError", `disk on fire`},
		{"unknown operation", http.MethodPost, "Nope", `{}`, 400, "UnknownOperationException", `not supported`},
		{"not a POST", http.MethodGet, "Echo", ``, 400, "UnknownOperationException", `GET`},
		{"too large", http.MethodPost, "Echo", strings.Repeat("x", MaxRequestBytes+1), 400, "ValidationException", `larger than`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/", strings.NewReader(tt.body))
			r.Header.Set("X-Amz-Target", "Svc."+tt.op)
			w := httptest.NewRecorder()
			err := Serve(w, r, "1.1", tt.op, ops)
			if w.Code != tt.status || w.Header().Get("X-Amzn-ErrorType") != tt.errType || !strings.Contains(w.Body.String(), tt.bodyHas) {
				t.Errorf("%d %q %s; want %d %q containing %s", w.Code, w.Header().Get("X-Amzn-ErrorType"), w.Body, tt.status, tt.errType, tt.bodyHas)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/x-amz-json-1.1" {
				t.Errorf("Content-Type %q", ct)
			}
			if (err != nil) != (tt.status != 200) {
				t.Errorf("Serve returned %v for status %d", err, w.Code)
			}
		})
	}
}
