package daytonaspec

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// Transport wraps base (http.DefaultTransport if nil) so that every
// request it sends and every response it receives is validated against the
// specs (see CheckRequest and CheckResponse). Violations are reported with
// tb.Errorf, or collected by RecordTo; traffic is never altered: the
// request body is buffered and sent unchanged, and the response body is
// buffered and handed back unchanged (including a read error, which is not
// a violation). Responses to WebSocket upgrades (101) pass through
// untouched.
func (s *Spec) Transport(tb testing.TB, base http.RoundTripper, opts ...Option) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{spec: s, tb: tb, base: base, set: newSettings(opts)}
}

type transport struct {
	spec *Spec
	tb   testing.TB
	base http.RoundTripper
	set  *settings
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	reqViolations := t.spec.checkRequest(req, body, t.set)

	resp, err := t.base.RoundTrip(out)
	if err != nil {
		t.set.report(t.tb, reqViolations)
		return nil, err
	}
	for _, v := range reqViolations {
		v.Status = resp.StatusCode
	}
	t.set.report(t.tb, reqViolations)
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, nil // the body is the upgraded connection
	}
	data, readErr := drain(&resp.Body)
	if readErr == nil {
		t.set.report(t.tb, t.spec.checkResponse(req, resp.StatusCode, resp.Header, data, t.set))
	}
	return resp, nil
}
