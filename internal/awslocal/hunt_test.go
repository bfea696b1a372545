package awslocal_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// TestHuntSecretByPartialARN: Secrets Manager finds a secret by its ARN
// without the six random characters AWS appends (a "partial ARN"), which
// is what a user writes by hand in "secretsmanager:arn:aws:...:secret:<name>"
// (internal/secrets accepts it). The stand-in must answer it as AWS does,
// and still refuse an ARN of another account or region.
func TestHuntSecretByPartialARN(t *testing.T) {
	ctx := context.Background()
	c := start(t, t.TempDir())
	created, err := c.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("sandstep/users/alice/git-token"), SecretString: aws.String("tok")})
	if err != nil {
		t.Fatal(err)
	}
	full := aws.ToString(created.ARN)
	partial := full[:len(full)-len("-XXXXXX")]
	if !strings.HasSuffix(partial, ":secret:sandstep/users/alice/git-token") {
		t.Fatalf("partial ARN = %q", partial)
	}
	for _, tc := range []struct {
		name, id, wantValue, wantCode string
	}{
		{"full ARN", full, "tok", ""},
		{"partial ARN", partial, "tok", ""},
		{"partial ARN of another account", strings.Replace(partial, "123456789012", "210987654321", 1), "", "ResourceNotFoundException"},
		{"partial ARN of another region", strings.Replace(partial, "us-east-1", "eu-west-1", 1), "", "ResourceNotFoundException"},
		{"partial ARN of a name's prefix", strings.TrimSuffix(partial, "-token"), "", "ResourceNotFoundException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(tc.id)})
			if tc.wantCode != "" {
				if apiCode(err) != tc.wantCode {
					t.Fatalf("GetSecretValue(%s) = %v; want %s", tc.id, err, tc.wantCode)
				}
				return
			}
			if err != nil || aws.ToString(got.SecretString) != tc.wantValue {
				t.Fatalf("GetSecretValue(%s) = %v, %v; want %q", tc.id, got, err, tc.wantValue)
			}
		})
	}
}

// TestHuntRangedGetOfAnObjectPutWithAChecksum: the AWS SDKs and CLI v2 send
// a checksum of the whole body with every PutObject and check the one a
// GetObject answers. S3 answers no whole-object checksum for a range, but
// the stand-in kept the PUT's x-amz-checksum-* header and sends it back
// with every part of the object, so each ranged read fails its check
// (and `aws s3 cp` downloads an object past 8 MB in ranges).
func TestHuntRangedGetOfAnObjectPutWithAChecksum(t *testing.T) {
	ctx := context.Background()
	c := start(t, t.TempDir(), "sandstep-artifacts")
	body := []byte("0123456789")
	if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sandstep-artifacts"), Key: aws.String("out.txt"),
		Body: bytes.NewReader(body), ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, rng, want string }{
		{"whole object", "", "0123456789"},
		{"first bytes", "bytes=0-2", "012"},
		{"from an offset", "bytes=7-", "789"},
		{"last bytes", "bytes=-3", "789"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &s3.GetObjectInput{Bucket: aws.String("sandstep-artifacts"), Key: aws.String("out.txt"), ChecksumMode: s3types.ChecksumModeEnabled}
			if tc.rng != "" {
				in.Range = aws.String(tc.rng)
			}
			out, err := c.s3.GetObject(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil || string(b) != tc.want {
				t.Fatalf("GetObject(%q) read %q, %v; want %q", tc.rng, b, err, tc.want)
			}
		})
	}
}
