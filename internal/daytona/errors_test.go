package daytona

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestErrorParsing(t *testing.T) {
	huge := strings.Repeat("x", 5<<20)
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		wantMsg    string // substring of Message
		wantCode   string
		wantName   string
		wantSource string
		wantRaw    string // substring of RawBody
		wantErr    []string
		maxLen     int // bound on len(err.Error())
	}{
		{
			name: "main API body", status: 400,
			body:    `{"statusCode":400,"message":"Cannot specify Sandbox resources when using a snapshot","error":"Bad Request","path":"/api/sandbox","timestamp":"2026-01-01T00:00:00Z"}`,
			wantMsg: "Cannot specify Sandbox resources", wantName: "Bad Request",
			wantErr: []string{"POST /sandbox", "400 Bad Request", "Cannot specify"},
		},
		{
			name: "main API validation list", status: 400,
			body:    `{"statusCode":400,"message":["cpu must be an integer","name too long"],"error":"Bad Request"}`,
			wantMsg: "cpu must be an integer, name too long",
		},
		{
			name: "toolbox body", status: 404,
			body:    `{"statusCode":404,"message":"file not found","code":"FILE_NOT_FOUND","timestamp":"t","path":"/files/download","method":"GET","source":"DAYTONA_DAEMON"}`,
			wantMsg: "file not found", wantCode: "FILE_NOT_FOUND", wantSource: "DAYTONA_DAEMON",
			wantErr: []string{"404 Not Found", "[FILE_NOT_FOUND]"},
		},
		{
			name: "only error field", status: 403, body: `{"statusCode":403,"error":"Forbidden"}`,
			wantMsg: "Forbidden",
		},
		{
			name: "empty 502", status: 502, body: "",
			wantErr: []string{"502 Bad Gateway", "(empty body)"},
		},
		{
			name: "garbage html", status: 503, body: "<html><body><h1>503 Service Temporarily Unavailable</h1>\n</body></html>",
			wantRaw: "<html><body><h1>503 Service", wantErr: []string{"503", "body:", "<html>"},
		},
		{
			name: "json without message", status: 500, body: `{"foo":1}`,
			wantRaw: `{"foo":1}`,
		},
		{
			name: "binary garbage", status: 500, body: "\x00\xff\xfe{{{",
			wantErr: []string{"500 Internal Server Error"},
		},
		{
			name: "huge body", status: 500, body: huge,
			wantRaw: "xxxx", maxLen: 1000,
		},
		{
			name: "huge message", status: 400, body: `{"message":"` + strings.Repeat("m", 30000) + `"}`,
			wantMsg: "mmmm", maxLen: 3000,
		},
		{
			name: "rate limited with named retry-after", status: 429,
			header:  map[string]string{"Retry-After-sandbox-create": "7", "X-RateLimit-Remaining-sandbox-create": "0"},
			body:    `{"statusCode":429,"message":"ThrottlerException: Too Many Requests","error":"Too Many Requests"}`,
			wantMsg: "ThrottlerException", wantErr: []string{"retry after 7s", "limiter sandbox-create"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			c := newClient(t, f.URL, func(c *Config) { c.Retry.MaxAttempts = 1 })
			_, err := c.CreateSandbox(context.Background(), CreateSandboxParams{})
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want *APIError", err, err)
			}
			if ae.StatusCode != tt.status || ae.Method != "POST" || ae.Path != "/sandbox" {
				t.Errorf("status/method/path = %d %s %s", ae.StatusCode, ae.Method, ae.Path)
			}
			if !strings.Contains(ae.Message, tt.wantMsg) {
				t.Errorf("Message = %q, want it to contain %q", ae.Message, tt.wantMsg)
			}
			if ae.Code != tt.wantCode || ae.Source != tt.wantSource {
				t.Errorf("Code, Source = %q, %q", ae.Code, ae.Source)
			}
			if tt.wantName != "" && ae.ErrorName != tt.wantName {
				t.Errorf("ErrorName = %q", ae.ErrorName)
			}
			if !strings.Contains(ae.RawBody, tt.wantRaw) {
				t.Errorf("RawBody = %q, want it to contain %q", ae.RawBody, tt.wantRaw)
			}
			if len(ae.RawBody) > maxErrorSnippet+32 {
				t.Errorf("RawBody is %d bytes", len(ae.RawBody))
			}
			msg := err.Error()
			for _, w := range tt.wantErr {
				if !strings.Contains(msg, w) {
					t.Errorf("Error() = %q, want it to contain %q", msg, w)
				}
			}
			if tt.maxLen > 0 && len(msg) > tt.maxLen {
				t.Errorf("Error() is %d bytes, want <= %d", len(msg), tt.maxLen)
			}
			if strings.ContainsAny(msg, "\n\x00") {
				t.Errorf("Error() is not one printable line: %q", msg)
			}
		})
	}
}

func TestRateLimitErrorCarriesRetryAfter(t *testing.T) {
	tests := []struct {
		name    string
		header  map[string]string
		want    time.Duration
		limiter string
	}{
		{"plain seconds", map[string]string{"Retry-After": "3"}, 3 * time.Second, ""},
		{"named", map[string]string{"Retry-After-authenticated": "2"}, 2 * time.Second, "authenticated"},
		{"longest wins", map[string]string{"Retry-After": "1", "Retry-After-sandbox-create": "9"}, 9 * time.Second, "sandbox-create"},
		// As Daytona sends them: the same wait twice; the name is kept
		// whatever order the header map yields.
		{"a tie names the limiter", map[string]string{"Retry-After": "10", "Retry-After-sandbox-create": "10"}, 10 * time.Second, "sandbox-create"},
		{"garbage ignored", map[string]string{"Retry-After": "soon"}, 0, ""},
		{"negative ignored", map[string]string{"Retry-After": "-4"}, 0, ""},
		{"NaN ignored", map[string]string{"Retry-After": "NaN"}, 0, ""},
		{"a day believed", map[string]string{"Retry-After": "86400"}, 24 * time.Hour, ""},
		{"a date past a day ignored beside a plausible wait", map[string]string{"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT", "Retry-After-sandbox-create": "4"}, 4 * time.Second, "sandbox-create"},
		// Past a day, implausible in either form: a date taken whole (292
		// years) overflowed the create's wait and the API's header.
		{"seconds past a day ignored", map[string]string{"Retry-After": "90000"}, 0, ""},
		{"a date two days ahead ignored", map[string]string{"Retry-After": time.Now().Add(48 * time.Hour).UTC().Format(http.TimeFormat)}, 0, ""},
		{"a date in year 9999 ignored", map[string]string{"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			var err error
			for range 20 { // map order varies from one range to the next
				err = newAPIError("GET", "/sandbox", 429, h, []byte(`{"message":"slow down"}`), func(s string) string { return s })
				var rl *RateLimitError
				if !errors.As(err, &rl) {
					t.Fatalf("err = %T, want *RateLimitError", err)
				}
				if rl.RetryAfter != tt.want || rl.Limiter != tt.limiter {
					t.Fatalf("RetryAfter, Limiter = %v, %q; want %v, %q", rl.RetryAfter, rl.Limiter, tt.want, tt.limiter)
				}
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != 429 {
				t.Errorf("RateLimitError does not unwrap to the *APIError")
			}
			if !IsTransient(err) {
				t.Errorf("429 should be transient")
			}
		})
	}
	d, ok := parseRetryAfter(time.Unix(1000, 0).UTC().Add(5*time.Second).Format(http.TimeFormat), time.Unix(1000, 0))
	if !ok || d != 5*time.Second {
		t.Errorf("HTTP-date Retry-After = %v, %v; want 5s", d, ok)
	}
}

func TestErrorClassification(t *testing.T) {
	api := func(status int, msg string) error {
		return &APIError{StatusCode: status, Message: msg, Method: "GET", Path: "/x"}
	}
	tests := []struct {
		name                         string
		err                          error
		notFound, transient, timeout bool
	}{
		{"nil", nil, false, false, false},
		{"404", api(404, "not found"), true, false, false},
		{"wrapped 404", fmt.Errorf("ctx: %w", api(404, "")), true, false, false},
		{"409 duplicate", api(409, "Sandbox with name x already exists"), false, false, false},
		{"409 state change", api(409, "Sandbox state change in progress"), false, true, false},
		{"429", &RateLimitError{APIError: api(429, "").(*APIError)}, false, true, false},
		{"502", api(502, ""), false, true, false},
		{"503", api(503, ""), false, true, false},
		{"504", api(504, ""), false, true, true},
		{"500", api(500, ""), false, false, false},
		{"400", api(400, "Total CPU limit exceeded"), false, false, false},
		{"408", api(408, "timeout"), false, false, true},
		{"command timeout", &CommandTimeoutError{Err: api(408, "").(*APIError)}, false, false, true},
		{"network", &NetworkError{Method: "GET", Path: "/x", Err: io.ErrUnexpectedEOF}, false, true, false},
		{"header timeout", &NetworkError{Method: "GET", Path: "/x", Err: ErrResponseTimeout}, false, true, true},
		{"deadline", &NetworkError{Method: "GET", Path: "/x", Err: context.DeadlineExceeded}, false, false, true},
		{"canceled", &NetworkError{Method: "GET", Path: "/x", Err: context.Canceled}, false, false, false},
		{"canceled after 503", fmt.Errorf("retry interrupted: %w (last error: %w)", context.Canceled, api(503, "")), false, false, false},
		{"validation", &ValidationError{Field: "x", Reason: "bad"}, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsNotFound(tt.err); got != tt.notFound {
				t.Errorf("IsNotFound = %v", got)
			}
			if got := IsTransient(tt.err); got != tt.transient {
				t.Errorf("IsTransient = %v", got)
			}
			if got := IsTimeout(tt.err); got != tt.timeout {
				t.Errorf("IsTimeout = %v", got)
			}
		})
	}
}

func TestExecuteTimeoutIsTyped(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 408, map[string]any{"statusCode": 408, "message": "command execution timeout", "code": "PROCESS_EXECUTION_TIMEOUT", "path": "/process/execute", "timestamp": "t"})
	})
	c := toolboxClient(t, f, "sb-1")
	_, err := c.ExecuteCommand(context.Background(), "sb-1", ExecuteRequest{Command: "sleep 100", Timeout: 2})
	var te *CommandTimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want *CommandTimeoutError", err)
	}
	if te.Timeout != 2*time.Second || te.Err.Code != "PROCESS_EXECUTION_TIMEOUT" || !IsTimeout(err) || IsTransient(err) {
		t.Errorf("timeout error = %+v (IsTimeout %v)", te, IsTimeout(err))
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests: a timed-out execute must not be retried", n)
	}
}

func TestNetworkErrorForClosedServer(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {})
	url := f.URL
	f.Close()
	c := newClient(t, url)
	_, err := c.GetSandbox(context.Background(), "sb-1")
	var ne *NetworkError
	if !errors.As(err, &ne) {
		t.Fatalf("err = %v, want *NetworkError", err)
	}
	if !ne.NotSent || !IsTransient(err) || !strings.Contains(err.Error(), "after 4 attempts") {
		t.Errorf("err = %v (NotSent %v)", err, ne.NotSent)
	}
}
