package objects_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sandstep/sandstep/internal/awslocal"
	"github.com/sandstep/sandstep/internal/objects"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// newBucket is a bucket on the local S3 stand-in.
func newBucket(t *testing.T) (*objects.Bucket, *httptest.Server) {
	t.Helper()
	srv, err := awslocal.New(awslocal.Options{Dir: t.TempDir(), Region: "us-east-1", AccountID: "123456789012"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	client := s3.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")},
		func(o *s3.Options) { o.BaseEndpoint = aws.String(hs.URL); o.UsePathStyle = true })
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("tasks")}); err != nil {
		t.Fatal(err)
	}
	return objects.New(client, "tasks"), hs
}

func TestPutGetLink(t *testing.T) {
	ctx := context.Background()
	b, _ := newBucket(t)
	if err := b.Put(ctx, "t1/spec.json", []byte(`{"command":"make"}`)); err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(ctx, "t1/spec.json")
	if err != nil || string(got) != `{"command":"make"}` {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if _, err := b.Get(ctx, "t1/nope"); sandstep.ErrorCode(err) != sandstep.ENOTFOUND {
		t.Fatalf("a missing key = %v, want not_found", err)
	}
	link, err := b.Link(ctx, "t1/spec.json", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || string(body) != `{"command":"make"}` {
		t.Fatalf("GET link = %d %q", res.StatusCode, body)
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	b, _ := newBucket(t)
	for _, k := range []string{"t1/log/000002-stderr", "t1/log/000001-stdout", "t1/log/000003-stdout", "t2/log/000001-stdout"} {
		if err := b.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, after string
		limit       int
		want        []string
	}{
		{"from the start", "", 10, []string{"t1/log/000001-stdout", "t1/log/000002-stderr", "t1/log/000003-stdout"}},
		{"after a key", "t1/log/000001-~", 10, []string{"t1/log/000002-stderr", "t1/log/000003-stdout"}},
		{"a page", "", 2, []string{"t1/log/000001-stdout", "t1/log/000002-stderr"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.List(ctx, "t1/log/", tt.after, tt.limit)
			if err != nil || strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("List = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestUnreachableIsTransient(t *testing.T) {
	b, hs := newBucket(t)
	hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Put(ctx, "k", []byte("x")); sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
		t.Fatalf("Put to a closed endpoint = %v, want transient", err)
	}
}

// Lazy builds its clients on the bucket's first use, once.
func TestLazyBuildsClientOnFirstUse(t *testing.T) {
	ctx := context.Background()
	_, hs := newBucket(t)
	builds := 0
	b := objects.Lazy(func() *s3.Client {
		builds++
		return s3.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")},
			func(o *s3.Options) { o.BaseEndpoint = aws.String(hs.URL); o.UsePathStyle = true })
	}, "tasks")
	if builds != 0 {
		t.Fatalf("%d builds before any use, want 0", builds)
	}
	if err := b.Put(ctx, "t1/a", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "t1/a"); err != nil || string(got) != "a" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if _, err := b.Link(ctx, "t1/a", time.Minute); err != nil {
		t.Fatal(err)
	}
	if builds != 1 {
		t.Errorf("%d builds, want 1", builds)
	}
}
