package daytona

import (
	"github.com/sandstep/sandstep/internal/metrics"
	"github.com/sandstep/sandstep/internal/pause"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// retryMode says when a call may be sent again.
type retryMode int

const (
	// retryUnsafe: the call is not idempotent. It is repeated only when the
	// server provably did not act on it: the connection was never made, or
	// the answer was 429.
	retryUnsafe retryMode = iota
	// retrySafe: the call is idempotent; it is also repeated after network
	// failures, response-header timeouts and 502/503/504.
	retrySafe
	// retryNever: the body cannot be replayed (a stream); one try only.
	retryNever
)

// maxJSONResponse bounds a JSON response body from the main API.
const maxJSONResponse = 32 << 20

// call describes one logical API call.
type call struct {
	method string
	base   string // API or toolbox base URL, no trailing slash
	path   string // escaped path appended to base, starting with "/"
	query  url.Values

	body        []byte                            // replayable body
	bodyFn      func() (io.Reader, string, error) // streaming body (forces retryNever)
	contentType string                            // for body
	accept      string                            // Accept header, optional
	mode        retryMode                         // default retryUnsafe
	lifecycle   bool                              // 409 "state change in progress" is retried
	timeout     time.Duration                     // response-header timeout; 0 = config, <0 = none
	ok          func(status int) bool             // default: 2xx
	secrets     []string                          // extra values to redact from errors
	// key is the API key its last try sent: send picks it once per try,
	// so the try's header, its refusal (newKey) and its error's redaction
	// all name the same key, whatever a call beside it stored meanwhile.
	key string
	// taught is the sandbox whose told, unconfirmed proxy URL base is.
	taught string
	// answer is the headers of the last answer, whatever its status.
	answer http.Header
}

// apiCall starts a call to path of the main API; the caller sets its mode,
// body and the rest. Toolbox calls start with toolboxCall.
func (c *Client) apiCall(method, path string) *call {
	return &call{method: method, base: c.baseString, path: path}
}

// setHeaders adds authentication (key) and the SDK identification headers.
func (c *Client) setHeaders(h http.Header, key string) {
	h.Set("Authorization", "Bearer "+key)
	h.Set("X-Daytona-Source", SDKSource)
	h.Set("X-Daytona-SDK-Version", SDKVersion)
	h.Set("User-Agent", SDKSource+"/"+SDKVersion)
}

// send runs cl with the retry policy and returns a response with an
// accepted status; the caller must close its body. Errors are *APIError,
// *RateLimitError or *NetworkError, possibly wrapped with the attempt count
// or a context error.
func (c *Client) send(ctx context.Context, cl *call) (*http.Response, error) {
	maxAttempts := c.retry.MaxAttempts
	if cl.mode == retryNever || cl.bodyFn != nil {
		maxAttempts = 1
	}
	if cl.taught != "" && cl.bodyFn != nil {
		// A streamed body cannot go twice: a told proxy URL is checked
		// before it is used for one.
		c.retoldToolbox(ctx, cl)
	}
	rekeyed := false
	for attempt := 1; ; attempt++ {
		cl.key = c.key()
		resp, err := c.once(ctx, cl)
		if err == nil {
			if cl.taught != "" {
				c.confirmed(cl.taught)
			}
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		// A key refused may have been rotated: read again, it goes once
		// more with the new one (a streamed body cannot go twice; the
		// calls after it send the new key).
		if !rekeyed && isUnauthorized(err) && c.newKey(ctx, cl.key) && cl.bodyFn == nil {
			rekeyed = true
			attempt--
			continue
		}
		// A told proxy URL may be stale: a call it failed that cannot have
		// reached the sandbox goes again, once, through the URL Daytona
		// gives now.
		if cl.taught != "" && cl.bodyFn == nil && notThroughSandbox(cl, err) && c.retoldToolbox(ctx, cl) {
			attempt--
			continue
		}
		if attempt >= maxAttempts || !shouldRetry(cl, err) {
			return nil, withAttempts(err, attempt)
		}
		if werr := c.waitToRetry(ctx, cl.method, cl.path, attempt, err); werr != nil {
			return nil, werr
		}
	}
}

// waitToRetry is every retry loop's pause before try attempt+1 after err:
// the backoff, unless the server asks for longer than MaxRetryAfter or the
// wait would pass ctx's deadline. It returns nil when the caller should try
// again, else the error to give up with: err with the attempt count, or
// the context's error (err kept in the chain) if ctx ended while waiting.
func (c *Client) waitToRetry(ctx context.Context, method, path string, attempt int, err error) error {
	wait, ok := c.backoff(attempt, err)
	if !ok {
		return withAttempts(err, attempt)
	}
	attrs := []slog.Attr{slog.String("method", method), slog.String("path", path), slog.Int("attempt", attempt),
		slog.Duration("wait", wait), slog.String("error", err.Error())}
	if dl, has := ctx.Deadline(); has && time.Now().Add(wait).After(dl) {
		c.log.LogAttrs(ctx, slog.LevelDebug, "daytona: not retrying, wait would pass the deadline", attrs...)
		return withAttempts(err, attempt)
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "daytona: retrying", attrs...)
	if cerr := c.sleep(ctx, wait); cerr != nil {
		return fmt.Errorf("daytona: %s %s: retry interrupted: %w (last error: %w)", method, path, cerr, err)
	}
	return nil
}

// withAttempts notes how many tries an error took.
func withAttempts(err error, n int) error {
	if n <= 1 {
		return err
	}
	return fmt.Errorf("%w (after %d attempts)", err, n)
}

// notThroughSandbox reports whether a failed call cannot have run in the
// sandbox: it was never sent, or a proxy answered that it does not know
// the sandbox (404, 421); any answer, for a call safe to repeat. A proxy
// that timed out (408, 504) or failed upstream (502, 503) may have passed
// it on.
func notThroughSandbox(cl *call, err error) bool {
	var ne *NetworkError
	if errors.As(err, &ne) {
		return ne.NotSent
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	return cl.mode == retrySafe || ae.StatusCode == http.StatusNotFound || ae.StatusCode == http.StatusMisdirectedRequest
}

// shouldRetry applies the retry rules of cl's mode to err.
func shouldRetry(cl *call, err error) bool {
	var ne *NetworkError
	if errors.As(err, &ne) {
		return ne.NotSent || cl.mode == retrySafe
	}
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.StatusCode {
		case http.StatusTooManyRequests:
			return true
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return cl.mode == retrySafe
		case http.StatusConflict:
			return cl.lifecycle && isStateChangeInProgress(ae)
		}
	}
	return false
}

// backoff returns the wait before try attempt+1: full jitter over
// min(MaxDelay, BaseDelay*2^(attempt-1)), raised to the server's
// Retry-After. ok is false when the server asks for longer than
// MaxRetryAfter.
func (c *Client) backoff(attempt int, err error) (time.Duration, bool) {
	ceiling := c.retry.BaseDelay
	for i := 1; i < attempt && ceiling < c.retry.MaxDelay; i++ {
		ceiling *= 2
	}
	if ceiling > c.retry.MaxDelay {
		ceiling = c.retry.MaxDelay
	}
	wait := time.Duration(0)
	if ceiling > 0 {
		wait = rand.N(ceiling + 1)
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		if ae.RetryAfter > c.retry.MaxRetryAfter {
			return 0, false
		}
		if ae.RetryAfter > wait {
			wait = ae.RetryAfter
		}
	}
	return wait, true
}

// sleepCtx waits d or until ctx is done, returning ctx's error then.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if pause.For(ctx, d) {
		return nil
	}
	return ctx.Err()
}

// once sends cl a single time.
func (c *Client) once(ctx context.Context, cl *call) (*http.Response, error) {
	u := cl.base + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	var body io.Reader
	contentType := cl.contentType
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	} else if cl.bodyFn != nil {
		r, ct, err := cl.bodyFn()
		if err != nil {
			return nil, err
		}
		body, contentType = r, ct
	}
	reqCtx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(reqCtx, cl.method, u, body)
	if err != nil {
		cancel(nil)
		if rc, ok := body.(io.Closer); ok {
			rc.Close()
		}
		return nil, fmt.Errorf("daytona: %s %s: building request: %w", cl.method, cl.path, err)
	}
	if cl.key == "" {
		cl.key = c.key()
	}
	c.setHeaders(req.Header, cl.key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if cl.accept != "" {
		req.Header.Set("Accept", cl.accept)
	}
	if cl.body != nil {
		b := cl.body
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}

	timeout := cl.timeout
	if timeout == 0 {
		timeout = c.cfg.ResponseHeaderTimeout
	}
	var timer *time.Timer
	if timeout > 0 {
		timer = time.AfterFunc(timeout, func() { cancel(ErrResponseTimeout) })
	}
	sent, began := time.Now(), c.cfg.Now()
	resp, err := c.http.Do(req)
	metrics.Daytona(ctx, time.Since(sent))
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		metrics.Add(ctx, metrics.DaytonaRateLimited, metrics.Count, 1)
	}
	timedOut := timer != nil && !timer.Stop()
	if err != nil {
		cancel(nil)
		return nil, c.networkError(ctx, cl, err, timedOut)
	}
	if timedOut {
		resp.Body.Close()
		cancel(nil)
		return nil, c.networkError(ctx, cl, nil, true)
	}
	cl.answer = resp.Header
	if cl.ok != nil && cl.ok(resp.StatusCode) || cl.ok == nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
		return resp, nil
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	cancel(nil)
	aerr := newAPIError(cl.method, cl.path, resp.StatusCode, resp.Header, raw, c.callRedactor(cl))
	var ae *APIError
	if errors.As(aerr, &ae) {
		ae.Took = c.cfg.Now().Sub(began)
	}
	return nil, aerr
}

// networkError classifies a failure to get an answer.
func (c *Client) networkError(ctx context.Context, cl *call, err error, timedOut bool) error {
	ne := &NetworkError{Method: cl.method, Path: cl.path}
	switch {
	case ctx.Err() != nil:
		// The caller's context ended: keep its error in the chain.
		ne.Err = ctx.Err()
	case timedOut:
		ne.Err = ErrResponseTimeout
	default:
		ne.NotSent = notSent(err)
		ne.Err = &redactedError{msg: c.callRedactor(cl)(err.Error()), err: err}
	}
	return ne
}

// notSent reports whether err shows that no connection was made, so the
// server cannot have seen the request: a dial, or a proxy's connection
// (its dial or its CONNECT) that failed.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect") {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// redactedError carries an error with a redacted message; Unwrap still
// reaches the cause for errors.Is/As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// cancelOnClose releases a request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

// redactor returns a function that removes the API key and extra secrets
// from s, including a trailing fragment of one (a body cut mid-secret).
func (c *Client) redactor(extra []string) func(string) string {
	secrets := make([]string, 0, 1+len(extra))
	secrets = append(secrets, c.key())
	for _, s := range extra {
		if s != "" {
			secrets = append(secrets, s)
		}
	}
	return func(s string) string { return redact(s, secrets) }
}

// callRedactor is cl's redactor: the key its try sent too, which a call
// beside it may have replaced by the time its error is built.
func (c *Client) callRedactor(cl *call) func(string) string {
	return c.redactor(append([]string{cl.key}, cl.secrets...))
}

// minRedactFragment is the shortest trailing secret prefix that is removed.
const minRedactFragment = 6

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		s = strings.ReplaceAll(s, sec, "[REDACTED]")
		// A cut body may end with the first bytes of a secret.
		for n := len(sec) - 1; n >= minRedactFragment; n-- {
			if strings.HasSuffix(s, sec[:n]) {
				s = s[:len(s)-n] + "[REDACTED]"
				break
			}
		}
	}
	return s
}

// doJSON sends cl with in (if not nil) as a JSON body and decodes the
// answer into out (if not nil). It returns the response status.
func (c *Client) doJSON(ctx context.Context, cl *call, in, out any) (int, error) {
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("daytona: %s %s: encoding request: %w", cl.method, cl.path, err)
		}
		cl.body = b
		cl.contentType = "application/json"
	}
	if out != nil && cl.accept == "" {
		cl.accept = "application/json"
	}
	resp, err := c.send(ctx, cl)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return resp.StatusCode, nil
	}
	raw, err := readJSONBody(ctx, cl, resp)
	if err != nil {
		return resp.StatusCode, err
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return resp.StatusCode, fmt.Errorf("daytona: %s %s: %d with an empty body, expected JSON", cl.method, cl.path, resp.StatusCode)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		if t := bytes.TrimSpace(raw); t[0] != '{' && t[0] != '[' {
			// Not JSON at all (an HTML page from a proxy): show its start.
			return resp.StatusCode, fmt.Errorf("daytona: %s %s: %d response is not JSON: %w (body: %q)",
				cl.method, cl.path, resp.StatusCode, err, snippet(string(t), 200, c.callRedactor(cl)))
		}
		// JSON of the wrong shape: do not echo it (a Sandbox carries env).
		return resp.StatusCode, fmt.Errorf("daytona: %s %s: decoding %d response: %w", cl.method, cl.path, resp.StatusCode, err)
	}
	return resp.StatusCode, nil
}

// readJSONBody reads a JSON response body of at most maxJSONResponse bytes.
func readJSONBody(ctx context.Context, cl *call, resp *http.Response) ([]byte, error) {
	raw, err := readLimited(resp.Body, maxJSONResponse)
	if errors.Is(err, errTooLarge) {
		return nil, fmt.Errorf("daytona: %s %s: response larger than %d bytes", cl.method, cl.path, maxJSONResponse)
	}
	if err != nil {
		return nil, &NetworkError{Method: cl.method, Path: cl.path, Err: readErr(ctx, err)}
	}
	return raw, nil
}

// readErr prefers the context's error over the transport's report of it.
func readErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// statusIn returns an ok function accepting exactly the given statuses.
func statusIn(codes ...int) func(int) bool {
	return func(s int) bool {
		for _, c := range codes {
			if s == c {
				return true
			}
		}
		return false
	}
}

// isUnauthorized reports whether err is Daytona's 401: the key refused.
// A 401 carrying a toolbox daemon's code (GIT_AUTH_FAILED: the caller's
// git token refused by the repository) came from past the key's check.
func isUnauthorized(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized && ae.Code == ""
}
