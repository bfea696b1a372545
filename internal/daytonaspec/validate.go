package daytonaspec

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// Phase says whether a violation is about the request or the response.
type Phase string

// The two phases of an exchange.
const (
	PhaseRequest  Phase = "request"
	PhaseResponse Phase = "response"
)

// Violation is one way an HTTP exchange departs from Daytona's specs.
type Violation struct {
	Phase     Phase
	API       API    // MainAPI, ToolboxAPI, or "" when the path is under neither prefix
	Method    string // as sent
	Path      string // URL path as sent, e.g. /toolbox/abc/process/execute
	Operation string // the matched spec operation, e.g. "POST /process/execute"; "" if none
	Status    int    // response status; 0 when unknown (no response, or CheckRequest alone)
	Err       error  // kin-openapi's error, or a daytonaspec check's
}

// Error names the method, path, operation, status and cause.
func (v *Violation) Error() string {
	var b strings.Builder
	b.WriteString("daytonaspec: ")
	if v.API != "" {
		b.WriteString(string(v.API) + " ")
	}
	fmt.Fprintf(&b, "%s violation: %s %s", v.Phase, v.Method, v.Path)
	if v.Operation != "" {
		fmt.Fprintf(&b, " (spec %s)", v.Operation)
	}
	if v.Status != 0 {
		fmt.Fprintf(&b, ", status %d", v.Status)
	} else {
		b.WriteString(", no status")
	}
	fmt.Fprintf(&b, ": %v", v.Err)
	return b.String()
}

// Unwrap returns the underlying validation error.
func (v *Violation) Unwrap() error { return v.Err }

// Recorder collects violations instead of failing the test, so a test can
// assert that a violation was detected. It is safe for concurrent use.
type Recorder struct {
	mu sync.Mutex
	vs []*Violation
}

// Violations returns what was recorded so far, in order.
func (r *Recorder) Violations() []*Violation {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Violation, len(r.vs))
	copy(out, r.vs)
	return out
}

// Reset forgets what was recorded.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.vs = nil
	r.mu.Unlock()
}

func (r *Recorder) add(vs []*Violation) {
	r.mu.Lock()
	r.vs = append(r.vs, vs...)
	r.mu.Unlock()
}

// Option adjusts validation for one Transport, Middleware or Check call.
type Option func(*settings)

type settings struct {
	routes   Routes
	allow    map[int]bool
	rec      *Recorder
	specOnly bool
}

func newSettings(opts []Option) *settings {
	s := &settings{routes: DefaultRoutes(), allow: map[int]bool{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// WithRoutes sets where the two APIs are mounted (default DefaultRoutes).
func WithRoutes(r Routes) Option { return func(s *settings) { s.routes = r } }

// AllowStatus exempts responses with these statuses from response
// validation, whether or not the operation declares them. It is for
// exceptions a test states explicitly, e.g. a fault-injected empty-body
// 502 or a 429 from a proxy, or a main-API error status (the main spec
// declares almost no error responses). Requests are still validated.
func AllowStatus(codes ...int) Option {
	return func(s *settings) {
		for _, c := range codes {
			s.allow[c] = true
		}
	}
}

// RecordTo sends violations to r instead of reporting them with tb.Errorf.
func RecordTo(r *Recorder) Option { return func(s *settings) { s.rec = r } }

// SpecOnly turns off the daytonaspec checks that go beyond what the specs
// state (undeclared query parameters, unknown JSON request fields, the
// bulk-upload form layout), leaving kin-openapi's validation alone.
func SpecOnly() Option { return func(s *settings) { s.specOnly = true } }

// report hands violations to the recorder or fails the test.
func (set *settings) report(tb testing.TB, vs []*Violation) {
	if len(vs) == 0 {
		return
	}
	if set.rec != nil {
		set.rec.add(vs)
		return
	}
	for _, v := range vs {
		tb.Errorf("%v", v)
	}
}

// CheckRequest validates a request against the specs: the path and method
// must be a declared operation, and its parameters (path, query, required
// headers), security (an Authorization header) and body must match. The
// request's body is read and replaced by an identical one. The URL path is
// taken as it reaches a server (or leaves a client): Routes (WithRoutes)
// map it to the spec. Statuses in the result are 0.
func (s *Spec) CheckRequest(req *http.Request, opts ...Option) []*Violation {
	body, err := drain(&req.Body)
	if err != nil {
		return []*Violation{newViolation(PhaseRequest, req, nil, 0, fmt.Errorf("reading request body: %w", err))}
	}
	return s.checkRequest(req, body, newSettings(opts))
}

// CheckResponse validates the response to req: the status must be declared
// for the operation (or its default), and the content type and body must
// match what is declared for that status. Responses to WebSocket upgrades
// (101) and statuses allowed with AllowStatus are not checked; neither are
// responses to requests that match no operation (CheckRequest reports
// those).
func (s *Spec) CheckResponse(req *http.Request, status int, header http.Header, body []byte, opts ...Option) []*Violation {
	return s.checkResponse(req, status, header, body, newSettings(opts))
}

func newViolation(phase Phase, req *http.Request, m *matched, status int, err error) *Violation {
	v := &Violation{Phase: phase, Method: req.Method, Path: req.URL.Path, Status: status, Err: err}
	if m != nil {
		v.API = m.api.name
		v.Operation = m.operation()
	}
	return v
}

// splitErr turns kin-openapi's MultiError into one error per problem.
func splitErr(err error) []error {
	if me, ok := err.(openapi3.MultiError); ok {
		var out []error
		for _, e := range me {
			out = append(out, splitErr(e)...)
		}
		return out
	}
	return []error{err}
}

func (s *Spec) checkRequest(req *http.Request, body []byte, set *settings) []*Violation {
	m, err := s.match(req, set.routes)
	if err != nil {
		return []*Violation{newViolation(PhaseRequest, req, m, 0, err)}
	}
	in := *m.specReq
	in.Body = io.NopCloser(bytes.NewReader(body))
	in.GetBody = nil
	input := &openapi3filter.RequestValidationInput{
		Request:    &in,
		PathParams: m.params,
		Route:      m.route,
		Options:    s.filter,
	}
	var vs []*Violation
	if err := openapi3filter.ValidateRequest(context.Background(), input); err != nil {
		for _, e := range splitErr(err) {
			vs = append(vs, newViolation(PhaseRequest, req, m, 0, e))
		}
	}
	if !set.specOnly {
		for _, e := range extraRequestChecks(m, req, body) {
			vs = append(vs, newViolation(PhaseRequest, req, m, 0, e))
		}
	}
	return vs
}

func (s *Spec) checkResponse(req *http.Request, status int, header http.Header, body []byte, set *settings) []*Violation {
	if set.allow[status] || (status == http.StatusSwitchingProtocols && isUpgrade(req)) {
		return nil
	}
	m, err := s.match(req, set.routes)
	if err != nil {
		return nil // reported for the request
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    m.specReq,
			PathParams: m.params,
			Route:      m.route,
			Options:    s.filter,
		},
		Status:  status,
		Header:  header,
		Options: s.filter,
	}
	input.SetBodyBytes(body)
	var vs []*Violation
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		for _, e := range splitErr(err) {
			vs = append(vs, newViolation(PhaseResponse, req, m, status, e))
		}
	}
	return vs
}

// isUpgrade reports a WebSocket (or other protocol) upgrade request.
func isUpgrade(req *http.Request) bool {
	return req.Header.Get("Upgrade") != "" && headerHasToken(req.Header, "Connection", "upgrade")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// authenticate stands in for Daytona's auth: the specs declare bearer
// (main API: http bearer or OpenID Connect; toolbox: apiKey in the
// Authorization header). It only checks that the credential is present;
// its errors never include the header's value.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header
	ss := in.SecurityScheme
	switch {
	case ss == nil:
		return fmt.Errorf("security scheme %q is not defined", in.SecuritySchemeName)
	case ss.Type == "apiKey" && ss.In == "header":
		if h.Get(ss.Name) == "" {
			return fmt.Errorf("missing %s header (security scheme %q)", ss.Name, in.SecuritySchemeName)
		}
	case ss.Type == "apiKey":
		return nil // query/cookie keys are not used by these specs
	default: // http bearer, openIdConnect, oauth2
		scheme, token, _ := strings.Cut(h.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return fmt.Errorf("missing \"Authorization: Bearer <token>\" header (security scheme %q)", in.SecuritySchemeName)
		}
	}
	return nil
}

// drain reads *body fully and replaces it with an identical reader. A nil
// or http.NoBody body is left alone and yields nil.
func drain(body *io.ReadCloser) ([]byte, error) {
	if *body == nil || *body == http.NoBody {
		return nil, nil
	}
	data, err := io.ReadAll(*body)
	_ = (*body).Close()
	*body = io.NopCloser(&replay{data: data, err: err})
	return data, err
}

// replay returns data, then err (or io.EOF): a consumer sees the same bytes
// and the same read failure the original body had.
type replay struct {
	data []byte
	err  error
}

func (r *replay) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}
