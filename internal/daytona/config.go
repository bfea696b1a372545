package daytona

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultAPIURL is Daytona Cloud's API base URL.
const DefaultAPIURL = "https://app.daytona.io/api"

// SDK identification, sent on every call (toolbox calls and WebSocket
// handshakes included) as X-Daytona-Source, X-Daytona-SDK-Version and
// User-Agent "sdk-go/<version>", as Daytona's Go SDK sends it. The toolbox
// daemon changes response shapes by X-Daytona-SDK-Version (>= 0.167.0
// gives JSON logs split by stream), so SDKVersion must stay at or above
// that.
const (
	SDKSource  = "sdk-go"
	SDKVersion = "0.218.0"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultResponseHeaderTimeout = 60 * time.Second
	DefaultExecTimeout           = 60 * time.Second
	DefaultMaxOutputBytes        = 10 << 20
	DefaultPollInterval          = time.Second
	DefaultCleanupTimeout        = 30 * time.Second
)

// RetryPolicy controls retries. Idempotent calls (GETs, deletes, start,
// last-activity) are retried after network failures, response-header
// timeouts, 429, 502, 503 and 504 (and a lifecycle 409 "state change in
// progress"); the others (execute, session commands, clone) only after 429
// or a connection that was never made; streamed uploads never. A sandbox
// create's 429 is the caller's to wait out (see CreateSandbox).
//
// Waits use exponential backoff with full jitter: a uniform random wait in
// [0, min(MaxDelay, BaseDelay*2^n)), raised to any Retry-After the server
// sent. A wait that would end after the context deadline is not started:
// the call gives up at once with the last error. A cancelled context stops
// at once, with context.Canceled in the chain.
type RetryPolicy struct {
	// MaxAttempts is the total number of tries, the first included
	// (default 4; 1 disables retries).
	MaxAttempts int
	// BaseDelay is the backoff base (default 200ms).
	BaseDelay time.Duration
	// MaxDelay caps one backoff wait (default 5s). Retry-After may exceed it.
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits for; a longer
	// one ends the call with the *RateLimitError (default 60s).
	MaxRetryAfter time.Duration
}

// DefaultRetryPolicy is used for a zero RetryPolicy field by field.
var DefaultRetryPolicy = RetryPolicy{
	MaxAttempts:   4,
	BaseDelay:     200 * time.Millisecond,
	MaxDelay:      5 * time.Second,
	MaxRetryAfter: 60 * time.Second,
}

// Config configures a Client. Only APIKey is required.
//
// Config's String, GoString and LogValue methods redact APIKey, so printing
// or logging a Config never shows the key.
type Config struct {
	// APIKey is the organisation API key, sent as "Authorization: Bearer".
	APIKey string
	// RereadKey, when set, reads the API key again after Daytona refused
	// the one held (401): a key the operator rotated (the old one revoked)
	// is taken up by a running process. It bounds how often and how long
	// it reads: within its bound it answers the key its last good read
	// found (a call refused beside the one that read gets that key), or "".
	RereadKey func(ctx context.Context) (string, error)
	// APIURL is the main API base URL (default DefaultAPIURL).
	APIURL string
	// Target is the region sent as "target" on create when the call sets none.
	Target string

	// HTTPClient is used for every call, WebSocket handshakes included. The
	// default has dial, TLS-handshake and idle timeouts and no overall
	// timeout: deadlines come from contexts and ResponseHeaderTimeout.
	// A caller-supplied client should not set http.Client.Timeout, which
	// would also cut long command executions and log streams.
	HTTPClient *http.Client

	// Retry is the retry policy (zero fields take DefaultRetryPolicy's).
	Retry RetryPolicy

	// ResponseHeaderTimeout bounds the wait for response headers on calls
	// that should answer promptly (default 60s). Long calls have their own
	// bound: ExecuteCommand waits timeout+5s, a synchronous session command
	// and a log stream wait as long as the context allows.
	ResponseHeaderTimeout time.Duration

	// ExecTimeout is the command timeout ExecuteCommand sends when the
	// request has none (default 60s). A timeout is always sent.
	ExecTimeout time.Duration

	// MaxOutputBytes bounds each output string kept from a toolbox response
	// (execute result, session stdout/stderr/output). Longer output is cut
	// and the response's Truncated flag set (default 10 MiB).
	MaxOutputBytes int64

	// PollInterval is the longest wait between GETs in WaitUntilStarted; it
	// starts at a tenth of this and grows (default 1s).
	PollInterval time.Duration

	// CleanupTimeout bounds the detached delete of a sandbox the client gave
	// up on (default 30s).
	CleanupTimeout time.Duration

	// Now is the clock an error answer's Took is read on (default
	// time.Now).
	Now func() time.Time

	// Logger receives debug lines about retries (default: discard). Lines
	// never contain the API key or request bodies.
	Logger *slog.Logger
}

// String describes the configuration with the API key redacted.
func (c Config) String() string {
	return fmt.Sprintf("daytona.Config{APIKey:%s APIURL:%q Target:%q}", redactedKey(c.APIKey), c.APIURL, c.Target)
}

// GoString is String, so %#v redacts the key too.
func (c Config) GoString() string { return c.String() }

// LogValue makes slog print the configuration without the key.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("apiKey", redactedKey(c.APIKey)),
		slog.String("apiURL", c.APIURL),
		slog.String("target", c.Target),
	)
}

func redactedKey(k string) string {
	if k == "" {
		return "(unset)"
	}
	return "[REDACTED]"
}

// Client is a Daytona REST client for the main API and the per-sandbox
// toolbox. It is safe for concurrent use; create one and reuse it.
type Client struct {
	cfg        Config
	apiKey     atomic.Pointer[string] // the key sent; replaced by newKey
	base       *url.URL               // API base, no trailing slash in Path
	baseString string
	http       *http.Client
	retry      RetryPolicy
	log        *slog.Logger
	sleep      func(context.Context, time.Duration) error // sleepCtx; tests observe waits

	mu       sync.RWMutex
	toolbox  map[string]string // sandbox id -> toolbox base (proxy URL + "/" + id), unescaped id
	proxyURL map[string]string // sandbox id -> toolboxProxyUrl as last seen
	// taught are the sandboxes whose proxy URL a caller told the client
	// (KnowToolbox) and no answer has confirmed yet.
	taught map[string]bool
}

// New validates cfg, fills in defaults and returns a Client.
func New(cfg Config) (*Client, error) {
	key, fault := usableKey(cfg.APIKey)
	if fault != "" {
		return nil, &ValidationError{Field: "APIKey", Reason: fault}
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	base, err := parseBaseURL(cfg.APIURL)
	if err != nil {
		return nil, &ValidationError{Field: "APIURL", Reason: err.Error()}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = DefaultHTTPClient()
	}
	r := cfg.Retry
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = DefaultRetryPolicy.MaxAttempts
	}
	if r.BaseDelay <= 0 {
		r.BaseDelay = DefaultRetryPolicy.BaseDelay
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = DefaultRetryPolicy.MaxDelay
	}
	if r.MaxDelay < r.BaseDelay {
		r.MaxDelay = r.BaseDelay
	}
	if r.MaxRetryAfter <= 0 {
		r.MaxRetryAfter = DefaultRetryPolicy.MaxRetryAfter
	}
	cfg.Retry = r
	if cfg.ResponseHeaderTimeout <= 0 {
		cfg.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if cfg.ExecTimeout <= 0 {
		cfg.ExecTimeout = DefaultExecTimeout
	}
	if cfg.MaxOutputBytes <= 0 {
		cfg.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.CleanupTimeout <= 0 {
		cfg.CleanupTimeout = DefaultCleanupTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// The key sent is apiKey alone: newKey replaces it there.
	cfg.APIKey = ""
	c := &Client{
		cfg:        cfg,
		base:       base,
		baseString: base.String(),
		http:       cfg.HTTPClient,
		retry:      r,
		log:        log,
		sleep:      sleepCtx,
		toolbox:    make(map[string]string),
		proxyURL:   make(map[string]string),
		taught:     make(map[string]bool),
	}
	c.apiKey.Store(&key)
	return c, nil
}

// key is the API key the client sends.
func (c *Client) key() string { return *c.apiKey.Load() }

// newKey reports whether a call Daytona refused, sent with the key sent,
// may go again with another: the key held is no longer the one sent (a
// call beside it read the parameter), or the API key read again
// (Config.RereadKey) is another usable key, now the one sent. A read that
// fails or finds no usable key keeps the key held.
func (c *Client) newKey(ctx context.Context, sent string) bool {
	held := c.apiKey.Load()
	if *held != sent {
		return true
	}
	if c.cfg.RereadKey == nil {
		return false
	}
	raw, err := c.cfg.RereadKey(ctx)
	key, fault := usableKey(raw)
	if err != nil || fault != "" || key == sent {
		return false
	}
	// From the key sent only: a call beside it may have stored a newer one.
	c.apiKey.CompareAndSwap(held, &key)
	return true
}

// usableKey is raw trimmed, and why it cannot be sent as a bearer token
// ("" when it can): what is wrong with it, never the key itself.
func usableKey(raw string) (key, fault string) {
	key = strings.TrimSpace(raw)
	switch {
	case key == "":
		return key, "is empty"
	case strings.ContainsFunc(key, func(r rune) bool { return r < 0x21 || r == 0x7f }):
		return key, "contains whitespace or control characters"
	}
	return key, ""
}

// String describes the client without its key.
func (c *Client) String() string { return "daytona.Client{" + c.baseString + "}" }

// GoString is String, so %#v never prints the key.
func (c *Client) GoString() string { return c.String() }

// APIURL returns the main API base URL the client talks to.
func (c *Client) APIURL() string { return c.baseString }

// DefaultHTTPClient returns the http.Client New uses when Config.HTTPClient
// is nil: 10s dial and TLS-handshake timeouts, keep-alives, HTTP/2 when the
// server offers it, proxy from the environment, and no overall timeout.
func DefaultHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: (&net.Dialer{
				Timeout:   10 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   32,
		},
		// Refuse redirects: a redirect to another host would carry the
		// bearer key there (Go strips Authorization on cross-host
		// redirects, but the Daytona API never redirects, so one is an
		// error worth seeing).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// parseBaseURL checks that s is an absolute http(s) URL without user info,
// query or fragment and returns it with any trailing slash removed.
func parseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil {
		return nil, errors.New("not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("must be an http or https URL")
	}
	if u.Host == "" {
		return nil, errors.New("has no host")
	}
	if u.User != nil {
		return nil, errors.New("must not contain user info")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("must not contain a query or fragment")
	}
	return u, nil
}
