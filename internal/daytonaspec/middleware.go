package daytonaspec

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/http"
	"testing"
)

// Middleware wraps a server handler so that every request entering it and
// every response leaving it is validated against the specs (see
// CheckRequest and CheckResponse). It observes only: the handler gets the
// request with an identical body, and the response is streamed to the
// client as the handler writes it while a copy is kept for validation
// after the handler returns. Violations are reported with tb.Errorf (or
// collected by RecordTo), so the test's servers must be closed before the
// test ends. Hijacked connections (WebSocket upgrades) are not checked
// after the upgrade.
func (s *Spec) Middleware(tb testing.TB, h http.Handler, opts ...Option) http.Handler {
	set := newSettings(opts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, readErr := drain(&r.Body)
		var reqViolations []*Violation
		if readErr == nil {
			reqViolations = s.checkRequest(r, body, set)
		}
		cw := &captureWriter{w: w}
		h.ServeHTTP(cw, r)
		if cw.hijacked {
			set.report(tb, reqViolations)
			return
		}
		status, header := cw.result()
		for _, v := range reqViolations {
			v.Status = status
		}
		set.report(tb, reqViolations)
		set.report(tb, s.checkResponse(r, status, header, cw.buf.Bytes(), set))
	})
}

// captureWriter passes everything through to w and keeps the status, the
// header as sent, and a copy of the body.
type captureWriter struct {
	w        http.ResponseWriter
	status   int
	header   http.Header
	buf      bytes.Buffer
	hijacked bool
}

func (c *captureWriter) Header() http.Header { return c.w.Header() }

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 && code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		c.w.WriteHeader(code) // informational: the real header comes later
		return
	}
	if c.status == 0 {
		c.status = code
		c.header = c.w.Header().Clone()
	}
	c.w.WriteHeader(code)
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	c.buf.Write(p)
	return c.w.Write(p)
}

// Flush supports streaming handlers.
func (c *captureWriter) Flush() {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if f, ok := c.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack supports WebSocket upgrades.
func (c *captureWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := c.w.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("daytonaspec: underlying ResponseWriter does not support hijacking")
	}
	conn, rw, err := hj.Hijack()
	if err == nil {
		c.hijacked = true
	}
	return conn, rw, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *captureWriter) Unwrap() http.ResponseWriter { return c.w }

// result returns the status and header the client received. Like
// net/http, a handler that never wrote gets 200, and a body written
// without a Content-Type gets a sniffed one.
func (c *captureWriter) result() (int, http.Header) {
	status, header := c.status, c.header
	if status == 0 {
		status, header = http.StatusOK, c.w.Header().Clone()
	}
	if _, set := header["Content-Type"]; !set && c.buf.Len() > 0 && header.Get("Transfer-Encoding") == "" {
		header.Set("Content-Type", http.DetectContentType(c.buf.Bytes()))
	}
	return status, header
}
