// Package awsjson is a small client for the AWS services that speak the
// JSON protocols (awsJson1_0, awsJson1_1): one signed POST per operation,
// named by X-Amz-Target. sandstep calls a few operations of SSM, Secrets
// Manager and Step Functions, and their generated SDK clients cost each
// Lambda bootstrap over a megabyte and their endpoint tables at every cold
// start; this client costs a few kilobytes on top of the SigV4 signer
// every function already links. Its Sender, the signing and retrying
// core, serves internal/objects' S3 client too.
package awsjson

import (
	"cmp"
	"context"
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
)

// Service names an AWS JSON service.
type Service struct {
	// EndpointPrefix is the service's host label (ssm, secretsmanager,
	// states), and its SigV4 signing name, as it is for the services here.
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
	// MaxResponseBytes bounds an answer's body; zero means 1 MiB, enough
	// for any Secrets Manager or SSM value.
	MaxResponseBytes int
}

// DefaultMaxAttempts is the SDKs' standard retry mode's.
const DefaultMaxAttempts = 3

// maxResponseBytes is MaxResponseBytes's default: a Secrets Manager value
// is at most 64 KiB (base64 grows a binary one by a third), an SSM one 8 KiB.
const maxResponseBytes = 1 << 20

// ErrMalformedResponse is wrapped by the error of a call whose successful
// response could not be read as the operation's output.
var ErrMalformedResponse = errors.New("malformed response")

// Client calls one service's operations. It is safe for concurrent use.
type Client struct {
	svc      Service
	endpoint string
	send     *Sender
	limit    int
}

// New returns a client for svc with cfg's region, credentials and HTTP
// client.
func New(cfg aws.Config, svc Service, opts Options) (*Client, error) {
	send, err := NewSender(cfg, svc.EndpointPrefix, opts, SenderOptions{})
	if err != nil {
		return nil, err
	}
	endpoint, _, err := Endpoint(cfg, opts.Endpoint, svc.EndpointPrefix)
	if err != nil {
		return nil, err
	}
	return &Client{svc: svc, endpoint: endpoint + "/", send: send, limit: cmp.Or(opts.MaxResponseBytes, maxResponseBytes)}, nil
}

// Endpoint returns where a service's requests go, without a trailing
// slash: override, else cfg.BaseEndpoint, else AWS's
// https://<prefix>.<region>.amazonaws.com (.cn in China); custom says it
// was one of the first two.
func Endpoint(cfg aws.Config, override, prefix string) (endpoint string, custom bool, err error) {
	endpoint = cmp.Or(override, aws.ToString(cfg.BaseEndpoint))
	if endpoint == "" {
		endpoint = "https://" + prefix + "." + cfg.Region + ".amazonaws.com"
		if strings.HasPrefix(cfg.Region, "cn-") {
			endpoint += ".cn"
		}
		return endpoint, false, nil
	}
	if u, err := url.Parse(endpoint); err != nil || u.Scheme == "" || u.Host == "" {
		return "", true, fmt.Errorf("awsjson: %s: endpoint %q is not an absolute URL", prefix, endpoint)
	}
	return strings.TrimSuffix(endpoint, "/"), true, nil
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
	header := http.Header{
		"Content-Type": {"application/x-amz-json-" + c.svc.Version},
		"X-Amz-Target": {target},
	}
	resp, err := c.send.Send(ctx, http.MethodPost, c.endpoint, header, body, c.limit, parseError)
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

// Warm opens a connection to the endpoint ahead of the first call: an
// unsigned GET of its root (DynamoDB answers "healthy: …"), whose answer
// is read and dropped so that the connection stays for the next call. In
// AWS that is a DNS lookup and a TLS handshake off the first call's path.
// A failure is ignored: the first call dials again.
func (c *Client) Warm(ctx context.Context) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint, nil)
	if err != nil {
		return
	}
	resp, err := c.send.http.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// Backoff waits a random time up to 100 ms doubled per retry, at
// most 5 s: "full jitter", so throttled callers spread out.
func Backoff(n int) time.Duration {
	ceiling := min(100*time.Millisecond<<min(n-1, 10), 5*time.Second)
	return rand.N(ceiling)
}
