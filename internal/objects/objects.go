// Package objects keeps bytes in one S3 bucket: a task's spec, its log
// segments and its artifacts. Their keys are the service's; this package
// stores, reads and hands out short-lived download links, and classifies
// S3's errors into sandstep's codes.
package objects

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Bucket is one S3 bucket.
type Bucket struct {
	clients func() clients
	name    string
}

type clients struct {
	s3      *s3.Client
	presign *s3.PresignClient
}

// New returns the bucket name on client.
func New(client *s3.Client, name string) *Bucket {
	return Lazy(func() *s3.Client { return client }, name)
}

// Lazy returns the bucket name on the client build returns, called on the
// bucket's first use: building an S3 client is a cold start's cost, which
// a function whose first answers never touch the bucket need not pay.
func Lazy(build func() *s3.Client, name string) *Bucket {
	return &Bucket{clients: sync.OnceValue(func() clients {
		c := build()
		return clients{s3: c, presign: s3.NewPresignClient(c)}
	}), name: name}
}

// Put stores body at key, replacing what was there.
func (b *Bucket) Put(ctx context.Context, key string, body []byte) error {
	_, err := b.clients().s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(b.name), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
	})
	return classify("store "+key, err)
}

// Get returns the bytes at key; ENOTFOUND if there are none.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := b.clients().s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.name), Key: aws.String(key)})
	if err != nil {
		return nil, classify("read "+key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, classify("read "+key, err)
	}
	return body, nil
}

// List returns up to limit keys under prefix that sort after after, in
// order.
func (b *Bucket) List(ctx context.Context, prefix, after string, limit int) ([]string, error) {
	out, err := b.clients().s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: aws.String(b.name), Prefix: aws.String(prefix), StartAfter: aws.String(after), MaxKeys: aws.Int32(int32(limit)),
	})
	if err != nil {
		return nil, classify("list "+prefix, err)
	}
	// S3 honours StartAfter and MaxKeys; a stand-in that ignores them is
	// held to them here.
	keys := make([]string, 0, len(out.Contents))
	for _, o := range out.Contents {
		if k := aws.ToString(o.Key); k > after && len(keys) < limit {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// Link returns a URL that downloads key without credentials until ttl has
// passed.
func (b *Bucket) Link(ctx context.Context, key string, ttl time.Duration) (string, error) {
	req, err := b.clients().presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.name), Key: aws.String(key)},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return "", classify("sign a link to "+key, err)
	}
	return req.URL, nil
}

// classify maps an S3 error to a sandstep code; op says what failed.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var nsk *types.NoSuchKey
	var ae smithy.APIError
	var re *awshttp.ResponseError
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("objects: %s: %w", op, err)
	case errors.As(err, &nsk), errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound"):
		return sandstep.Wrap(err, sandstep.ENOTFOUND, "objects: %s: not found", op)
	case errors.As(err, &ae) && (ae.ErrorCode() == "SlowDown" || ae.ErrorCode() == "ServiceUnavailable" || ae.ErrorCode() == "InternalError" || ae.ErrorFault() == smithy.FaultServer):
		return sandstep.Wrap(err, sandstep.ETRANSIENT, "objects: %s: S3 is busy; try again", op)
	case errors.As(err, &re) && (re.HTTPStatusCode() >= 500 || re.HTTPStatusCode() == 0):
		return sandstep.Wrap(err, sandstep.ETRANSIENT, "objects: %s: S3 is unavailable; try again", op)
	case errors.As(err, &ne):
		return sandstep.Wrap(err, sandstep.ETRANSIENT, "objects: %s: S3 is unreachable; try again", op)
	}
	return sandstep.Wrap(err, sandstep.EINTERNAL, "objects: %s failed", op)
}
