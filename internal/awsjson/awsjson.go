// Package awsjson is a small client for the AWS services that speak the
// JSON protocols (awsJson1_0, awsJson1_1): one signed POST per operation,
// named by X-Amz-Target. sandstep calls one or two operations of SSM and
// Secrets Manager, and their generated SDK clients cost each Lambda
// bootstrap most of a megabyte, largely in schema tables the linker can
// never drop; this client costs a few kilobytes on top of the SigV4 signer
// every function already links.
package awsjson

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Service names an AWS JSON service.
type Service struct {
	// EndpointPrefix is the service's host label (ssm, secretsmanager),
	// and its SigV4 signing name, as it is for the services here.
	EndpointPrefix string
	// TargetPrefix precedes the operation in X-Amz-Target (AmazonSSM,
	// secretsmanager).
	TargetPrefix string
	// Version is the protocol's version, "1.0" or "1.1".
	Version string
}

// Options tune a Client; the zero value means AWS's defaults.
type Options struct {
	// Endpoint, if set, replaces https://<prefix>.<region>.amazonaws.com:
	// AWS_ENDPOINT_URL_<SERVICE>, or a local stand-in.
	Endpoint string
	// MaxAttempts bounds the tries of one call, the first included; zero
	// means the config's RetryMaxAttempts, else DefaultMaxAttempts.
	MaxAttempts int
	// Backoff returns the wait before retry n (1 for the first retry);
	// nil means exponential backoff with full jitter.
	Backoff func(n int) time.Duration
}

// DefaultMaxAttempts is the SDKs' standard retry mode's.
const DefaultMaxAttempts = 3

// maxResponseBytes bounds a response body: a Secrets Manager value is at
// most 64 KiB (base64 grows a binary one by a third), an SSM one 8 KiB.
const maxResponseBytes = 1 << 20

// ErrMalformedResponse is wrapped by the error of a call whose successful
// response could not be read as the operation's output.
var ErrMalformedResponse = errors.New("malformed response")

// Client calls one service's operations. It is safe for concurrent use.
type Client struct {
	svc         Service
	endpoint    string
	region      string
	creds       aws.CredentialsProvider
	http        aws.HTTPClient
	signer      *v4.Signer
	maxAttempts int
	backoff     func(int) time.Duration
}

// New returns a client for svc with cfg's region, credentials and HTTP
// client.
func New(cfg aws.Config, svc Service, opts Options) (*Client, error) {
	if cfg.Region == "" {
		return nil, fmt.Errorf("awsjson: %s: no region configured", svc.EndpointPrefix)
	}
	if cfg.Credentials == nil {
		return nil, fmt.Errorf("awsjson: %s: no credentials configured", svc.EndpointPrefix)
	}
	c := &Client{
		svc:         svc,
		endpoint:    opts.Endpoint,
		region:      cfg.Region,
		creds:       cfg.Credentials,
		http:        cfg.HTTPClient,
		signer:      v4.NewSigner(),
		maxAttempts: opts.MaxAttempts,
		backoff:     opts.Backoff,
	}
	if c.endpoint == "" && cfg.BaseEndpoint != nil {
		c.endpoint = *cfg.BaseEndpoint
	}
	if c.endpoint == "" {
		c.endpoint = "https://" + svc.EndpointPrefix + "." + cfg.Region + ".amazonaws.com"
		if strings.HasPrefix(cfg.Region, "cn-") {
			c.endpoint += ".cn"
		}
	}
	if u, err := url.Parse(c.endpoint); err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("awsjson: %s: endpoint %q is not an absolute URL", svc.EndpointPrefix, c.endpoint)
	}
	c.endpoint = strings.TrimSuffix(c.endpoint, "/") + "/"
	if c.http == nil {
		c.http = http.DefaultClient
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = cfg.RetryMaxAttempts
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = DefaultMaxAttempts
	}
	if c.backoff == nil {
		c.backoff = Backoff
	}
	return c, nil
}

// Call runs operation with input in (marshalled to JSON) and decodes its
// output into out, unless out is nil. A throttled, 5xx or unanswered try
// is retried up to the attempt bound. An error the service returns is an
// *APIError, wrapped with the operation's name.
func (c *Client) Call(ctx context.Context, operation string, in, out any) error {
	target := c.svc.TargetPrefix + "." + operation
	body := []byte("{}")
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("%s: encoding the input: %w", target, err)
		}
	}
	var (
		resp  []byte
		retry bool
		err   error
	)
	for attempt := 1; ; attempt++ {
		resp, retry, err = c.try(ctx, target, body)
		if err == nil || !retry || attempt >= c.maxAttempts || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(c.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w after %d attempts, the last: %w", target, ctx.Err(), attempt, err)
		case <-t.C:
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	if out != nil {
		if err := json.Unmarshal(resp, out); err != nil {
			return fmt.Errorf("%s: %w: %w", target, ErrMalformedResponse, err)
		}
	}
	return nil
}

// try sends one signed request and returns the body of a 2xx response,
// or an error and whether trying again may help: it may after a throttled
// or 5xx answer, or none at all (connection refused or reset).
func (c *Client) try(ctx context.Context, target string, body []byte) (_ []byte, retry bool, _ error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-"+c.svc.Version)
	req.Header.Set("X-Amz-Target", target)
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("retrieving credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), c.svc.EndpointPrefix, c.region, time.Now()); err != nil {
		return nil, false, fmt.Errorf("signing: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, true, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	switch {
	case err != nil:
		return nil, true, fmt.Errorf("reading the response: %w", err)
	case len(b) > maxResponseBytes:
		return nil, false, fmt.Errorf("%w: larger than %d bytes", ErrMalformedResponse, maxResponseBytes)
	case resp.StatusCode/100 != 2:
		ae := parseError(resp, b)
		return nil, ae.Retryable(), ae
	}
	return b, false, nil
}

// Backoff waits a random time up to 100 ms doubled per retry, at
// most 5 s: "full jitter", so throttled callers spread out.
func Backoff(n int) time.Duration {
	ceiling := min(100*time.Millisecond<<min(n-1, 10), 5*time.Second)
	return rand.N(ceiling)
}
