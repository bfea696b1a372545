package local

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/google/uuid"

	"github.com/sandstep/sandstep/infra/samtemplate"
)

// API Gateway HTTP API limits.
const (
	// MaxAPIBody is the largest request body an HTTP API accepts: 10 MB.
	MaxAPIBody = 10 << 20
	// DefaultIntegrationTimeout is an HTTP API integration's timeout (and
	// its maximum) when the route sets none.
	DefaultIntegrationTimeout = 30 * time.Second
)

// apiGateway emulates an API Gateway HTTP API with a JWT authorizer in
// front of Lambda proxy integrations (payload format 2.0). Its routes are
// template.yaml's HttpApi events.
type apiGateway struct {
	routes []samtemplate.Route
	// authorizers by API logical id, then by authorizer name.
	authorizers map[string]map[string]samtemplate.Authorizer
	fns         *functions
	log         *slog.Logger
	base        context.Context // cancelled when the stack closes
	inflight    *sync.WaitGroup // invocations still running
	now         func() time.Time
	// admins are the bearer tokens (LOCAL_ADMIN_USERS) whose claims carry
	// the administrators' group.
	admins localAdmins
}

// localAdmins stand in for a user pool's group: a token of users gets
// claim, holding group as API Gateway passes an array claim ("[g]").
type localAdmins struct {
	claim, group string
	users        []string
}

// gatewayError writes one of API Gateway's own answers, {"message": ...}.
func gatewayError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(map[string]string{"message": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// statusRecorder keeps the status for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (g *apiGateway) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w := &statusRecorder{ResponseWriter: rw}
	requestID := newGatewayRequestID()
	w.Header().Set("Apigw-Requestid", requestID)
	routeKey := "-"
	defer func() {
		g.log.LogAttrs(g.base, slog.LevelInfo, "api request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("route", routeKey), slog.Int("status", w.status),
			slog.Duration("duration", time.Since(start).Round(time.Microsecond)),
			slog.String("requestId", requestID))
	}()

	rawPath := r.URL.EscapedPath()
	route, params, ok := samtemplate.Match(g.routes, r.Method, rawPath)
	if !ok {
		gatewayError(w, http.StatusNotFound, "Not Found")
		return
	}
	routeKey = route.Key()
	fn, ok := g.fns.byLogicalID(route.Function)
	if !ok { // newStack checks every route's function
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}

	var claims map[string]string
	if route.Authorizer != "" {
		token, ok := bearerToken(r.Header.Values("Authorization"))
		if !ok {
			w.Header().Set("Www-Authenticate", "Bearer")
			gatewayError(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		claims = g.claims(route, token)
	}

	if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
		// The event would hold no query parameters at all: another request
		// than the one sent.
		gatewayError(w, http.StatusBadRequest, "Bad Request")
		return
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, MaxAPIBody+1))
	if err != nil {
		gatewayError(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if len(body) > MaxAPIBody {
		gatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}

	ev := g.event(r, route, params, claims, body, requestID)
	payload, err := marshalEvent(ev)
	if err != nil {
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if len(payload) > MaxSyncPayload {
		// The integration invokes the function synchronously, and Lambda
		// refuses an event over its limit (413 RequestEntityTooLargeException):
		// the function never runs. API Gateway answers the client 413
		// (seen from a Lambda proxy integration: {"message": "Request Too
		// Long"}); a body under MaxAPIBody gets there once the event
		// holds it, base64 (4/3 of it) unless it is text.
		g.log.LogAttrs(g.base, slog.LevelWarn, "api request: the event is over Lambda's request limit; the function is not invoked",
			slog.String("function", fn.LogicalID), slog.Int("eventBytes", len(payload)), slog.Int("limit", MaxSyncPayload),
			slog.String("requestId", requestID))
		gatewayError(w, http.StatusRequestEntityTooLarge, "Request Too Long")
		return
	}

	timeout := DefaultIntegrationTimeout
	if route.TimeoutMillis > 0 && time.Duration(route.TimeoutMillis)*time.Millisecond < timeout {
		timeout = time.Duration(route.TimeoutMillis) * time.Millisecond
	}
	type result struct {
		out  []byte
		ferr *messages.InvokeResponse_Error
	}
	done := make(chan result, 1)
	g.inflight.Add(1)
	go func() {
		// As in AWS, the function runs to its own end even if the
		// integration times out or the client goes away.
		defer g.inflight.Done()
		out, ferr := fn.invoke(g.base, uuid.NewString(), payload)
		done <- result{out, ferr}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case res := <-done:
		if res.ferr != nil {
			// An HTTP API answers a failed Lambda integration (a function
			// error, a response over Lambda's limit) 500 {"message":
			// "Internal Server Error"}; a REST API's would answer 502.
			g.log.LogAttrs(g.base, slog.LevelWarn, "api request: function error",
				slog.String("function", fn.LogicalID), slog.String("errorType", res.ferr.Type),
				slog.String("errorMessage", res.ferr.Message), slog.String("requestId", requestID))
			gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		if err := writeV2Response(w, res.out); err != nil {
			g.log.LogAttrs(g.base, slog.LevelWarn, "api request: malformed Lambda response",
				slog.String("function", fn.LogicalID), slog.String("error", err.Error()),
				slog.String("requestId", requestID))
			gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		}
	case <-timer.C:
		gatewayError(w, http.StatusServiceUnavailable, "Service Unavailable")
	case <-r.Context().Done():
	case <-g.base.Done():
		gatewayError(w, http.StatusServiceUnavailable, "Service Unavailable")
	}
}

// marshalEvent encodes ev with its query and path parameters byte for
// byte, also where they are not UTF-8 once percent-decoded: json.Marshal
// would replace those bytes with U+FFFD, and the function would check
// another value than the one sent. The function refuses them, naming the
// parameter, as it does for API Gateway's events. <, > and & are not
// escaped, as in API Gateway's events.
func marshalEvent(ev events.APIGatewayV2HTTPRequest) ([]byte, error) {
	held := map[string]string{} // placeholder -> the string it holds
	mark := "sandstep-raw-" + uuid.NewString() + "-"
	hold := func(s string) string {
		if utf8.ValidString(s) {
			return s
		}
		p := mark + strconv.Itoa(len(held))
		held[p] = s
		return p
	}
	holdAll := func(m map[string]string) map[string]string {
		if m == nil {
			return nil
		}
		out := make(map[string]string, len(m))
		for k, v := range m {
			out[hold(k)] = hold(v)
		}
		return out
	}
	ev.QueryStringParameters = holdAll(ev.QueryStringParameters)
	ev.PathParameters = holdAll(ev.PathParameters)
	// As Lambda gets it, and as its 6 MB limit measures it: json.Marshal
	// would write each <, > and & as \u003c, six bytes for one, where
	// API Gateway's event (and aws-lambda-go) keeps them as they are.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, err
	}
	payload := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	for p, s := range held {
		payload = bytes.Replace(payload, []byte(`"`+p+`"`), rawJSONString(s), 1)
	}
	return payload, nil
}

// rawJSONString quotes s as a JSON string, escaping only what JSON
// requires and keeping every other byte, valid UTF-8 or not.
func rawJSONString(s string) []byte {
	b := []byte{'"'}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = fmt.Appendf(b, `\u%04x`, c)
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// bearerToken returns the token of a single "Authorization: Bearer <token>"
// header, or of one holding the bare token, as an HTTP API's JWT
// authorizer takes either. The scheme is case-insensitive; the token must be non-empty,
// valid UTF-8 and free of white space and control characters: it becomes
// the user id, and the event (JSON) would turn tokens that differ only in
// invalid bytes into one user.
func bearerToken(values []string) (string, bool) {
	if len(values) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	switch {
	case !ok && !strings.EqualFold(scheme, "Bearer"):
		token = scheme // the bare token
	case !ok || !strings.EqualFold(scheme, "Bearer"):
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || !utf8.ValidString(token) ||
		strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || unicode.IsControl(r) || unicode.IsSpace(r) }) {
		return "", false
	}
	return token, true
}

// claims are the JWT claims API Gateway would put in the request context
// for a token whose subject is token, issued by the route's authorizer's
// issuer for its first audience; a local administrator's carry the
// administrators' group.
func (g *apiGateway) claims(route samtemplate.Route, token string) map[string]string {
	az := g.authorizers[route.API][route.Authorizer]
	iss := az.Issuer
	if iss == "" {
		iss = "https://local.sandstep.invalid/"
	}
	aud := "local"
	if len(az.Audience) > 0 && az.Audience[0] != "" {
		aud = az.Audience[0]
	}
	now := g.now()
	claims := map[string]string{
		"sub":       token,
		"iss":       iss,
		"aud":       aud,
		"client_id": aud,
		"token_use": "access",
		"iat":       strconv.FormatInt(now.Unix(), 10),
		"exp":       strconv.FormatInt(now.Add(time.Hour).Unix(), 10),
	}
	if a := g.admins; a.claim != "" && slices.Contains(a.users, token) {
		claims[a.claim] = "[" + a.group + "]"
	}
	return claims
}

// event builds the payload format 2.0 event API Gateway sends for r.
func (g *apiGateway) event(r *http.Request, route samtemplate.Route, params map[string]string,
	claims map[string]string, body []byte, requestID string) events.APIGatewayV2HTTPRequest {
	now := g.now()
	host := r.Host
	hostname := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hostname = h
	}
	prefix, _, _ := strings.Cut(hostname, ".")
	sourceIP := r.RemoteAddr
	if h, _, err := net.SplitHostPort(sourceIP); err == nil {
		sourceIP = h
	}

	headers := map[string]string{}
	var cookies []string
	for name, values := range r.Header {
		lname := strings.ToLower(name)
		if lname == "cookie" {
			for _, v := range values {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[lname] = strings.Join(values, ",")
	}
	headers["host"] = host
	headers["x-forwarded-for"] = sourceIP
	headers["x-forwarded-proto"] = "http"
	if _, port, err := net.SplitHostPort(host); err == nil {
		headers["x-forwarded-port"] = port
	}

	var query map[string]string
	if values, err := url.ParseQuery(r.URL.RawQuery); err == nil && len(values) > 0 {
		query = make(map[string]string, len(values))
		for k, v := range values {
			query[k] = strings.Join(v, ",")
		}
	}
	var pathParams map[string]string
	if len(params) > 0 {
		pathParams = make(map[string]string, len(params))
		for k, v := range params {
			if dv, err := url.PathUnescape(v); err == nil {
				v = dv
			}
			pathParams[k] = v
		}
	}

	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              route.Key(),
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        pathParams,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     route.Key(),
			AccountID:    AccountID,
			Stage:        "$default",
			RequestID:    requestID,
			APIID:        "local",
			DomainName:   hostname,
			DomainPrefix: prefix,
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.EscapedPath(),
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if claims != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type")) && utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// isText reports whether API Gateway passes a body of this content type as
// text; any other body (no content type included) arrives base64-encoded.
func isText(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/xml", strings.HasSuffix(mt, "+xml"),
		mt == "application/javascript", mt == "application/yaml":
		return true
	}
	return false
}

// writeV2Response writes a Lambda answer the way an HTTP API integration
// with payload format 2.0 interprets it: an object with a statusCode is a
// response (headers, multiValueHeaders, cookies, body, isBase64Encoded);
// any other JSON is the body of a 200 application/json answer.
func writeV2Response(w http.ResponseWriter, out []byte) error {
	var probe map[string]json.RawMessage
	if json.Unmarshal(out, &probe) != nil || probe["statusCode"] == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, err := w.Write(out)
		return err
	}
	var res events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &res); err != nil {
		return err
	}
	if res.StatusCode < 100 || res.StatusCode > 599 {
		return &json.UnsupportedValueError{Str: "statusCode " + strconv.Itoa(res.StatusCode)}
	}
	body := []byte(res.Body)
	if res.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(res.Body)
		if err != nil {
			return err
		}
		body = b
	}
	h := w.Header()
	for k, v := range res.Headers {
		h.Set(k, v)
	}
	for k, vs := range res.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for _, c := range res.Cookies {
		h.Add("Set-Cookie", c)
	}
	if h.Get("Content-Type") == "" && len(body) > 0 {
		h.Set("Content-Type", "application/json")
	}
	w.WriteHeader(res.StatusCode)
	_, err := io.Copy(w, bytes.NewReader(body))
	return err
}
