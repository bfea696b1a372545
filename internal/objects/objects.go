// Package objects keeps bytes in one S3 bucket: a task's spec, its log
// segments and its artifacts. Their keys are the service's; this package
// stores, reads, lists and hands out short-lived download links over S3's
// REST API, signed with SigV4, and classifies S3's errors into sandstep's
// codes. Four operations need no generated S3 client, whose endpoint
// tables and rules every bootstrap would load at its start.
package objects

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/encoding/httpbinding"

	"github.com/sandstep/sandstep/internal/awsjson"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// Options say where the bucket is and how its calls are counted.
type Options struct {
	// Endpoint, if set, replaces AWS's (AWS_ENDPOINT_URL_S3, a local
	// stand-in); requests then name the bucket in the path, as a stand-in
	// has no bucket subdomains.
	Endpoint string
	// MaxAttempts bounds the tries of one call; zero means the config's
	// RetryMaxAttempts, else awsjson.DefaultMaxAttempts.
	MaxAttempts int
	// Count, if set, is told of each call (not each try): whether it is
	// a GET (priced apart from PUT and LIST).
	Count func(ctx context.Context, get bool)
}

// Bucket is one S3 bucket.
type Bucket struct {
	bucket string // the bucket's own URL, which lists it
	keys   string // what precedes a key: bucket, and a slash in the path
	send   *awsjson.Sender
	count  func(context.Context, bool)
}

// New returns the bucket name, called with cfg's region, credentials and
// HTTP client.
func New(cfg aws.Config, name string, opts Options) (*Bucket, error) {
	send, err := awsjson.NewSender(cfg, "s3", awsjson.Options{MaxAttempts: opts.MaxAttempts},
		awsjson.SenderOptions{PayloadHashHeader: true})
	if err != nil {
		return nil, fmt.Errorf("objects: bucket %s: %w", name, err)
	}
	endpoint, custom, err := awsjson.Endpoint(cfg, opts.Endpoint, "s3")
	if err != nil {
		return nil, fmt.Errorf("objects: %w", err)
	}
	b := &Bucket{send: send, count: opts.Count}
	if custom || strings.Contains(name, ".") {
		// In the path: a stand-in has no bucket subdomains, and a dotted
		// name breaks the wildcard certificate.
		b.bucket = endpoint + "/" + name
		b.keys = b.bucket + "/"
	} else {
		b.bucket = strings.Replace(endpoint, "://", "://"+name+".", 1) + "/"
		b.keys = b.bucket
	}
	return b, nil
}

// Put stores body at key, replacing what was there.
func (b *Bucket) Put(ctx context.Context, key string, body []byte) error {
	_, err := b.call(ctx, http.MethodPut, key, nil, body)
	return classify("store "+key, err)
}

// Get returns the bytes at key; ENOTFOUND if there are none.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, error) {
	body, err := b.call(ctx, http.MethodGet, key, nil, nil)
	if err != nil {
		return nil, classify("read "+key, err)
	}
	return body, nil
}

// List returns up to limit keys under prefix that sort after after, in
// order. S3 may answer a page with fewer keys than asked for and more to
// come (IsTruncated): the pages are read on until limit keys or the end.
func (b *Bucket) List(ctx context.Context, prefix, after string, limit int) ([]string, error) {
	keys := []string{}
	token, last := "", after
	for len(keys) < limit {
		q := url.Values{"list-type": {"2"}, "prefix": {prefix}, "max-keys": {strconv.Itoa(limit - len(keys))}}
		if token != "" {
			q.Set("continuation-token", token)
		} else if after != "" {
			q.Set("start-after", after)
		}
		body, err := b.call(ctx, http.MethodGet, "", q, nil)
		if err != nil {
			return nil, classify("list "+prefix, err)
		}
		var out struct {
			Contents              []struct{ Key string }
			IsTruncated           bool
			NextContinuationToken string
		}
		if err := xml.Unmarshal(body, &out); err != nil {
			return nil, classify("list "+prefix, fmt.Errorf("%w: %w", awsjson.ErrMalformedResponse, err))
		}
		// S3 honours start-after and max-keys; a stand-in that ignores
		// them is held to them here.
		for _, o := range out.Contents {
			if len(keys) < limit && o.Key > last {
				keys, last = append(keys, o.Key), o.Key
			}
		}
		if !out.IsTruncated || out.NextContinuationToken == "" || out.NextContinuationToken == token {
			break // the end, or a page that does not move on
		}
		token = out.NextContinuationToken
	}
	return keys, nil
}

// Link returns a URL that downloads key without credentials until ttl has
// passed.
func (b *Bucket) Link(ctx context.Context, key string, ttl time.Duration) (string, error) {
	// Counted as the GET it lets its holder make: the bucket pays for it.
	if b.count != nil {
		b.count(ctx, true)
	}
	q := url.Values{"X-Amz-Expires": {strconv.Itoa(int(ttl / time.Second))}}
	link, err := b.send.Presign(ctx, b.url(key, q))
	return link, classify("sign a link to "+key, err)
}

// url is the URL of key (the bucket itself when key is "") with query q.
func (b *Bucket) url(key string, q url.Values) string {
	u := b.bucket
	if key != "" {
		u = b.keys + httpbinding.EscapePath(key, false) // RFC 3986, as S3 signs it
	}
	if len(q) > 0 {
		// SigV4 wants %20 for a space, not url.Values' +.
		u += "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
	}
	return u
}

// maxBodyBytes bounds what one call reads: a log segment or an artifact
// is stored in pieces well under it.
const maxBodyBytes = 64 << 20

// call sends one request and returns the body of its 2xx answer.
func (b *Bucket) call(ctx context.Context, method, key string, q url.Values, body []byte) ([]byte, error) {
	if b.count != nil {
		b.count(ctx, method == http.MethodGet && q == nil)
	}
	return b.send.Send(ctx, method, b.url(key, q), nil, body, maxBodyBytes, parseError)
}

// parseError reads S3's error answer, <Error><Code>…</Code>
// <Message>…</Message></Error>; one without a body (a HEAD, a proxy's
// page) keeps its status alone, a 404 then being NotFound.
func parseError(resp *http.Response, body []byte) *awsjson.APIError {
	var e struct{ Code, Message string }
	_ = xml.Unmarshal(body, &e)
	if e.Code == "" && resp.StatusCode == http.StatusNotFound {
		e.Code = "NotFound"
	}
	return &awsjson.APIError{Code: e.Code, Message: e.Message, StatusCode: resp.StatusCode}
}

// classify maps an S3 error to a sandstep code; op says what failed.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var ae *awsjson.APIError
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("objects: %s: %w", op, err)
	case errors.As(err, &ae) && (ae.Code == "NoSuchKey" || ae.Code == "NotFound"):
		return sandstep.Wrap(err, sandstep.ENOTFOUND, "objects: %s: not found", op)
	case errors.As(err, &ae) && (ae.Retryable() || ae.Code == "InternalError"):
		return sandstep.Wrap(err, sandstep.ETRANSIENT, "objects: %s: S3 is busy; try again", op)
	case errors.As(err, &ne):
		return sandstep.Wrap(err, sandstep.ETRANSIENT, "objects: %s: S3 is unreachable; try again", op)
	}
	return sandstep.Wrap(err, sandstep.EINTERNAL, "objects: %s failed", op)
}
