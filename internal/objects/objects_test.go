package objects_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sandstep/sandstep/internal/awslocal"
	"github.com/sandstep/sandstep/internal/objects"
	"github.com/sandstep/sandstep/internal/sandstep"
)

var testConfig = aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")}

// newBucket is a bucket on the local S3 stand-in.
func newBucket(t *testing.T) (*objects.Bucket, *httptest.Server) {
	t.Helper()
	srv, err := awslocal.New(awslocal.Options{Dir: t.TempDir(), Region: "us-east-1", AccountID: "123456789012", Buckets: []string{"tasks"}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return bucketAt(t, hs.URL, objects.Options{}), hs
}

func bucketAt(t *testing.T, endpoint string, opts objects.Options) *objects.Bucket {
	t.Helper()
	opts.Endpoint = endpoint
	b, err := objects.New(testConfig, "tasks", opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
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

// Each request is signed as S3 wants it: the payload's hash in its own
// header and in the signature, the key escaped once, the bucket in the
// path at a local endpoint; a link is presigned for its lifetime.
func TestRequestsAreSigned(t *testing.T) {
	var got []*http.Request
	var bodies []string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, bodies = append(got, r), append(bodies, string(b))
		if r.URL.Query().Get("list-type") == "2" {
			fmt.Fprint(w, `<ListBucketResult><Contents><Key>t1/a b+c</Key></Contents></ListBucketResult>`)
		}
	}))
	t.Cleanup(hs.Close)
	var counted []bool
	b := bucketAt(t, hs.URL, objects.Options{Count: func(_ context.Context, get bool) { counted = append(counted, get) }})
	ctx := context.Background()
	if err := b.Put(ctx, "t1/a b+c", []byte("body")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "t1/a b+c"); err != nil {
		t.Fatal(err)
	}
	if keys, err := b.List(ctx, "t1/", "", 10); err != nil || len(keys) != 1 || keys[0] != "t1/a b+c" {
		t.Fatalf("List = %v, %v", keys, err)
	}
	sum := sha256.Sum256([]byte("body"))
	empty := sha256.Sum256(nil)
	wantHash := []string{hex.EncodeToString(sum[:]), hex.EncodeToString(empty[:]), hex.EncodeToString(empty[:])}
	wantPath := []string{"/tasks/t1/a%20b%2Bc", "/tasks/t1/a%20b%2Bc", "/tasks"}
	for i, r := range got {
		auth := r.Header.Get("Authorization")
		if r.URL.EscapedPath() != wantPath[i] || r.Header.Get("X-Amz-Content-Sha256") != wantHash[i] ||
			!strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") || !strings.Contains(auth, "/us-east-1/s3/aws4_request") ||
			!strings.Contains(auth, "host;x-amz-content-sha256;x-amz-date, Signature=") {
			t.Errorf("request %d: %s %s, hash %q, Authorization %q", i, r.Method, r.URL.EscapedPath(), r.Header.Get("X-Amz-Content-Sha256"), auth)
		}
	}
	if bodies[0] != "body" || got[0].ContentLength != 4 || len(got[1].TransferEncoding) != 0 {
		t.Errorf("put body %q (length %d), get transfer encoding %v", bodies[0], got[0].ContentLength, got[1].TransferEncoding)
	}
	if q := got[2].URL.Query(); q.Get("prefix") != "t1/" || q.Get("max-keys") != "10" || q.Has("start-after") {
		t.Errorf("list query %v", q)
	}
	link, err := b.Link(ctx, "t1/a b+c", 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// A link counts as the GET its holder makes.
	if fmt.Sprint(counted) != "[false true false true]" {
		t.Errorf("counted %v, want a PUT, a GET, a LIST and a link's GET", counted)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.EscapedPath() != "/tasks/t1/a%20b%2Bc" || q.Get("X-Amz-Expires") != "90" || q.Get("X-Amz-SignedHeaders") != "host" ||
		q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" || q.Get("X-Amz-Signature") == "" {
		t.Errorf("link %s", link)
	}
}

// In AWS the bucket is the host's first label.
func TestVirtualHostedURLs(t *testing.T) {
	b, err := objects.New(testConfig, "tasks", objects.Options{})
	if err != nil {
		t.Fatal(err)
	}
	link, err := b.Link(context.Background(), "t1/spec.json", time.Minute)
	if err != nil || !strings.HasPrefix(link, "https://tasks.s3.us-east-1.amazonaws.com/t1/spec.json?") {
		t.Errorf("Link = %s, %v", link, err)
	}
}

// S3's error answers map to sandstep's codes; a throttled or failed try
// is tried again.
func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		code   sandstep.Code
		tries  int
	}{
		{"no such key", 404, `<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>`, sandstep.ENOTFOUND, 1},
		{"not found without a body", 404, ``, sandstep.ENOTFOUND, 1},
		{"slow down", 503, `<Error><Code>SlowDown</Code></Error>`, sandstep.ETRANSIENT, 3},
		{"internal error", 500, `<Error><Code>InternalError</Code></Error>`, sandstep.ETRANSIENT, 3},
		{"access denied", 403, `<Error><Code>AccessDenied</Code></Error>`, sandstep.EINTERNAL, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tries := 0
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tries++
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			t.Cleanup(hs.Close)
			_, err := bucketAt(t, hs.URL, objects.Options{}).Get(context.Background(), "k")
			if sandstep.ErrorCode(err) != tt.code || tries != tt.tries {
				t.Errorf("Get = %v (code %q) after %d tries, want %q after %d", err, sandstep.ErrorCode(err), tries, tt.code, tt.tries)
			}
		})
	}
}
