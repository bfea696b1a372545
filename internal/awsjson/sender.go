package awsjson

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/sandstep/sandstep/internal/pause"
)

// Sender is the core of sandstep's own AWS clients, this package's and
// internal/objects' S3 client: it signs a request with SigV4, sends it,
// retries a throttled, 5xx or unanswered try, and reads a bounded answer.
// It is safe for concurrent use.
type Sender struct {
	name     string // SigV4's signing name
	region   string
	creds    aws.CredentialsProvider
	http     aws.HTTPClient
	signer   *v4.Signer
	attempts int
	backoff  func(int) time.Duration
	// hashHeader: S3 wants the payload's hash in X-Amz-Content-Sha256.
	hashHeader bool
}

// SenderOptions tune a Sender beyond Options.
type SenderOptions struct {
	// PayloadHashHeader sends the payload's hash in X-Amz-Content-Sha256
	// and signs the path as sent (escaped once), as S3 wants.
	PayloadHashHeader bool
}

// NewSender returns a Sender for the service signing as name, with cfg's
// region, credentials and HTTP client; opts.Endpoint is the caller's.
func NewSender(cfg aws.Config, name string, opts Options, so SenderOptions) (*Sender, error) {
	if cfg.Region == "" {
		return nil, fmt.Errorf("awsjson: %s: no region configured", name)
	}
	if cfg.Credentials == nil {
		return nil, fmt.Errorf("awsjson: %s: no credentials configured", name)
	}
	s := &Sender{name: name, region: cfg.Region, creds: cfg.Credentials, http: cfg.HTTPClient,
		attempts: opts.MaxAttempts, backoff: opts.Backoff, hashHeader: so.PayloadHashHeader}
	s.signer = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = so.PayloadHashHeader })
	if s.http == nil {
		s.http = defaultHTTPClient()
	}
	if s.attempts <= 0 {
		s.attempts = cfg.RetryMaxAttempts
	}
	if s.attempts <= 0 {
		s.attempts = DefaultMaxAttempts
	}
	if s.backoff == nil {
		s.backoff = Backoff
	}
	return s, nil
}

// defaultHTTPClient serves the Senders whose config names no HTTP client.
// Go's default transport keeps two idle connections per host, so a third
// call running beside two others to the same service would open a new
// connection, a TLS handshake
// in AWS, each time; the SDK's own keeps ten.
var defaultHTTPClient = sync.OnceValue(func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	return &http.Client{Transport: t}
})

// Send sends body to url with method and header, each try a newly signed
// request, and returns the body of a 2xx answer, at most limit bytes. An
// error answer is parse's *APIError.
func (s *Sender) Send(ctx context.Context, method, url string, header http.Header, body []byte, limit int,
	parse func(*http.Response, []byte) *APIError) ([]byte, error) {
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	mayHaveApplied := false
	for attempt := 1; ; attempt++ {
		out, retry, err := s.try(ctx, method, url, header, body, hash, limit, parse)
		if ae, ok := err.(*APIError); ok && mayHaveApplied {
			ae.EarlierTryMayHaveApplied = true
		}
		if err == nil || !retry || attempt >= s.attempts || ctx.Err() != nil {
			return out, err
		}
		mayHaveApplied = mayHaveApplied || unknownOutcome(err)
		if !pause.For(ctx, s.backoff(attempt)) {
			return nil, fmt.Errorf("%w after %d attempts, the last: %w", ctx.Err(), attempt, err)
		}
	}
}

// unknownOutcome says whether a failed try may have been applied: it got
// a 5xx or no answer, unless its connection was never made. A throttle
// (400, 429) was refused before anything was done.
func unknownOutcome(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode >= 500
	}
	var op *net.OpError
	return !errors.As(err, &op) || op.Op != "dial"
}

// try sends one signed request and returns the body of a 2xx answer, or
// an error and whether trying again may help: it may after a throttled or
// 5xx answer, or none at all (connection refused or reset).
func (s *Sender) try(ctx context.Context, method, url string, header http.Header, body []byte, hash string, limit int,
	parse func(*http.Response, []byte) *APIError) (_ []byte, retry bool, _ error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, false, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if s.hashHeader {
		req.Header.Set("X-Amz-Content-Sha256", hash)
	}
	creds, err := s.creds.Retrieve(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("retrieving credentials: %w", err)
	}
	if err := s.signer.SignHTTP(ctx, creds, req, hash, s.name, s.region, time.Now()); err != nil {
		return nil, false, fmt.Errorf("signing: %w", err)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, true, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	switch {
	case err != nil:
		return nil, true, fmt.Errorf("reading the response: %w", err)
	case len(b) > limit:
		return nil, false, fmt.Errorf("%w: larger than %d bytes", ErrMalformedResponse, limit)
	case resp.StatusCode/100 != 2:
		ae := parse(resp, b)
		return nil, ae.Retryable(), ae
	}
	return b, false, nil
}

// Presign returns url, a GET, signed to be fetched without credentials
// for as long as its X-Amz-Expires says.
func (s *Sender) Presign(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	creds, err := s.creds.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("retrieving credentials: %w", err)
	}
	signed, _, err := s.signer.PresignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", s.name, s.region, time.Now())
	return signed, err
}
