package awslocal_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"

	"github.com/sandstep/sandstep/internal/awslocal"
)

// clients are the real SDK clients against one local server.
type clients struct {
	srv *awslocal.Server
	url string
	ssm *ssm.Client
	sm  *secretsmanager.Client
	s3  *s3.Client
}

func start(t *testing.T, dir string, buckets ...string) *clients {
	t.Helper()
	srv, err := awslocal.New(awslocal.Options{Dir: dir, Region: "us-east-1", AccountID: "123456789012", Buckets: buckets})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
	return &clients{
		srv: srv,
		url: hs.URL,
		ssm: ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = aws.String(hs.URL) }),
		sm:  secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(hs.URL) }),
		s3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.BaseEndpoint = aws.String(hs.URL)
			o.UsePathStyle = true
		}),
	}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestParameters(t *testing.T) {
	ctx := context.Background()
	c := start(t, t.TempDir())
	put := func(name, value string, typ ssmtypes.ParameterType, overwrite bool) error {
		_, err := c.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value), Type: typ, Overwrite: aws.Bool(overwrite)})
		return err
	}
	if err := put("/sandstep/secrets/token", "s3cr3t", ssmtypes.ParameterTypeSecureString, false); err != nil {
		t.Fatal(err)
	}
	if err := put("/sandstep/secrets/token", "again", ssmtypes.ParameterTypeSecureString, false); apiCode(err) != "ParameterAlreadyExists" {
		t.Fatalf("second put without overwrite = %v, want ParameterAlreadyExists", err)
	}
	if err := put("/sandstep/secrets/token", "s3cr3t-2", "", true); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	got, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/sandstep/secrets/token"), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	p := got.Parameter
	if aws.ToString(p.Value) != "s3cr3t-2" || p.Version != 2 || p.Type != ssmtypes.ParameterTypeSecureString ||
		aws.ToString(p.ARN) != "arn:aws:ssm:us-east-1:123456789012:parameter/sandstep/secrets/token" || p.LastModifiedDate == nil {
		t.Fatalf("parameter = %+v", p)
	}
	enc, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/sandstep/secrets/token")})
	if err != nil || strings.Contains(aws.ToString(enc.Parameter.Value), "s3cr3t") {
		t.Fatalf("a SecureString read without decryption = %+v, %v; want no value", enc.Parameter, err)
	}
	old, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/sandstep/secrets/token:1"), WithDecryption: aws.Bool(true)})
	if err != nil || aws.ToString(old.Parameter.Value) != "s3cr3t" {
		t.Fatalf("version 1 = %+v, %v", old, err)
	}
	many, err := c.ssm.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{"/sandstep/secrets/token", "/nope"}, WithDecryption: aws.Bool(true)})
	if err != nil || len(many.Parameters) != 1 || len(many.InvalidParameters) != 1 || many.InvalidParameters[0] != "/nope" {
		t.Fatalf("GetParameters = %+v, %v", many, err)
	}
	_, err = c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/nope")})
	var nf *ssmtypes.ParameterNotFound
	if !errors.As(err, &nf) {
		t.Fatalf("missing parameter = %v, want the SDK's ParameterNotFound", err)
	}
	if _, err := c.ssm.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String("/sandstep/secrets/token")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/sandstep/secrets/token")}); !errors.As(err, &nf) {
		t.Fatalf("deleted parameter = %v", err)
	}
	if err := put("relative/name", "x", ssmtypes.ParameterTypeString, false); apiCode(err) != "ValidationException" {
		t.Fatalf("a path not starting with / = %v, want ValidationException", err)
	}
}

// The stack keeps its own parameters in-process: a value already current
// adds no version.
func TestPutSecureParameter(t *testing.T) {
	ctx := context.Background()
	c := start(t, t.TempDir())
	for _, step := range []struct {
		name, value string
		version     int64
	}{
		{"first", "key-1", 1},
		{"same again", "key-1", 1},
		{"changed", "key-2", 2},
	} {
		if err := c.srv.PutSecureParameter("/sandstep-local/key", step.value); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		got, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/sandstep-local/key"), WithDecryption: aws.Bool(true)})
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if p := got.Parameter; aws.ToString(p.Value) != step.value || p.Version != step.version || p.Type != ssmtypes.ParameterTypeSecureString {
			t.Errorf("%s: %s v%d %s, want %s v%d SecureString", step.name, aws.ToString(p.Value), p.Version, p.Type, step.value, step.version)
		}
	}
}

func TestSecrets(t *testing.T) {
	ctx := context.Background()
	c := start(t, t.TempDir())
	created, err := c.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("sandstep/token"), SecretString: aws.String(`{"token":"v1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(created.ARN)
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:123456789012:secret:sandstep/token-") || len(arn) != len("arn:aws:secretsmanager:us-east-1:123456789012:secret:sandstep/token-")+6 {
		t.Fatalf("ARN = %q", arn)
	}
	if _, err := c.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("sandstep/token"), SecretString: aws.String("x")}); apiCode(err) != "ResourceExistsException" {
		t.Fatalf("second create = %v", err)
	}
	if _, err := c.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(`{"token":"v2"}`)}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ id, stage, want string }{
		{"sandstep/token", "", `{"token":"v2"}`},
		{arn, "", `{"token":"v2"}`},
		{"sandstep/token", "AWSPREVIOUS", `{"token":"v1"}`},
	} {
		in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(tt.id)}
		if tt.stage != "" {
			in.VersionStage = aws.String(tt.stage)
		}
		got, err := c.sm.GetSecretValue(ctx, in)
		if err != nil || aws.ToString(got.SecretString) != tt.want {
			t.Errorf("GetSecretValue(%s, %s) = %v, %v; want %s", tt.id, tt.stage, got, err, tt.want)
		}
	}
	if _, err := c.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")}); apiCode(err) != "ResourceNotFoundException" {
		t.Fatalf("missing secret = %v", err)
	}
	if _, err := c.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("empty")}); apiCode(err) != "InvalidParameterException" {
		t.Fatalf("a secret without a value = %v", err)
	}
}

func TestObjects(t *testing.T) {
	ctx := context.Background()
	c := start(t, t.TempDir())
	if _, err := c.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("sandstep-tasks")}); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("log line\n"), 1000)
	if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sandstep-tasks"), Key: aws.String("t1/stdout/000001"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	got, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("sandstep-tasks"), Key: aws.String("t1/stdout/000001")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(b, body) {
		t.Fatalf("read back %d bytes, want %d", len(b), len(body))
	}
	// A presigned URL works with a plain HTTP client, as a download link
	// handed to a user does.
	presigned, err := s3.NewPresignClient(c.s3).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("sandstep-tasks"), Key: aws.String("t1/stdout/000001")},
		s3.WithPresignExpires(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(presigned.URL, c.url+"/sandstep-tasks/t1/stdout/000001?") || !strings.Contains(presigned.URL, "X-Amz-Signature=") {
		t.Fatalf("presigned URL = %s, want a path-style URL on the local endpoint", presigned.URL)
	}
	resp, err := http.Get(presigned.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(b, body) {
		t.Fatalf("presigned GET = %d, %d bytes", resp.StatusCode, len(b))
	}
	list, err := c.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("sandstep-tasks"), Prefix: aws.String("t1/")})
	if err != nil || len(list.Contents) != 1 || aws.ToInt64(list.Contents[0].Size) != int64(len(body)) {
		t.Fatalf("list = %+v, %v", list, err)
	}
}

// Everything a server holds is there again when a new one starts on the
// same directory.
func TestStateSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first := start(t, dir)
	if _, err := first.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/p"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString}); err != nil {
		t.Fatal(err)
	}
	if _, err := first.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("sv")}); err != nil {
		t.Fatal(err)
	}
	if _, err := first.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	if _, err := first.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: strings.NewReader("ov")}); err != nil {
		t.Fatal(err)
	}

	first.srv.Close()
	second := start(t, dir)
	p, err := second.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/p")})
	if err != nil || aws.ToString(p.Parameter.Value) != "v" {
		t.Errorf("parameter after restart = %v, %v", p, err)
	}
	s, err := second.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	if err != nil || aws.ToString(s.SecretString) != "sv" {
		t.Errorf("secret after restart = %v, %v", s, err)
	}
	o, err := second.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
	if err != nil {
		t.Fatalf("object after restart: %v", err)
	}
	b, _ := io.ReadAll(o.Body)
	o.Body.Close()
	if string(b) != "ov" {
		t.Errorf("object after restart = %q", b)
	}
}

// The buckets a stack declares exist from the start, and a restart keeps
// what they hold.
func TestBuckets(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := start(t, dir, "tasks-bucket")
	if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tasks-bucket"), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatalf("put into a declared bucket: %v", err)
	}
	c.srv.Close()
	c = start(t, dir, "tasks-bucket", "another")
	if _, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("tasks-bucket"), Key: aws.String("k")}); err != nil {
		t.Fatalf("the object after a restart: %v", err)
	}
	if _, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("another")}); err != nil {
		t.Fatalf("a bucket declared at the restart: %v", err)
	}
	if _, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("undeclared")}); err == nil {
		t.Fatal("an undeclared bucket exists")
	}
}

func TestUnknownOperation(t *testing.T) {
	c := start(t, t.TempDir())
	req, _ := http.NewRequest(http.MethodPost, c.url, strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "AmazonSSM.DescribeParameters")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"__type":"UnknownOperationException"`) {
		t.Fatalf("unknown operation = %d %s", resp.StatusCode, b)
	}
}

// Objects an earlier version kept as files are moved into the store at the
// first start, and the files' directory is kept aside, so it runs once.
func TestObjectsKeptAsFilesAreMovedIn(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old, err := s3afero.MultiBucket(afero.NewBasePathFs(afero.NewOsFs(), filepath.Join(dir, "s3")))
	if err != nil {
		t.Fatal(err)
	}
	if err := old.CreateBucket("tasks-bucket"); err != nil {
		t.Fatal(err)
	}
	objects := map[string]string{"tasks/tsk_a/spec.json": `{"command":"true"}`, "tasks/tsk_a/logs/000000000001-stdout": "hello\n"}
	for k, v := range objects {
		if _, err := old.PutObject("tasks-bucket", k, map[string]string{"Content-Type": "text/plain"}, strings.NewReader(v), int64(len(v)), nil); err != nil {
			t.Fatal(err)
		}
	}
	c := start(t, dir, "tasks-bucket")
	for k, v := range objects {
		o, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("tasks-bucket"), Key: aws.String(k)})
		if err != nil {
			t.Fatalf("%s after the move: %v", k, err)
		}
		b, _ := io.ReadAll(o.Body)
		o.Body.Close()
		if string(b) != v {
			t.Errorf("%s = %q, want %q", k, b, v)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "s3")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the files' directory is still in place (%v): the move would run again", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "s3.moved")); err != nil {
		t.Errorf("the files' directory is not kept aside: %v", err)
	}
}
