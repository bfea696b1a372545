package awslocal_test

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// S3 takes keys of up to 1,024 bytes whatever their segments, and a key
// that was refused leaves nothing behind that breaks a later listing. The
// keys are shaped as sandstep's task artifacts are
// (tasks/<id>/artifacts/NN-<file name>), each file name within the 255
// bytes a Linux file name may have.
func TestObjectKeysUpToS3sLimit(t *testing.T) {
	ctx := context.Background()
	const prefix = "tasks/tsk_abcdefghijklmnopqrstuvwxyz/artifacts/" // 47 bytes
	for _, tc := range []struct {
		name string
		key  string
	}{
		{"short artifact name", prefix + "00-report.txt"},
		{"artifact name of 170 bytes (key 217)", prefix + "00-" + strings.Repeat("r", 163) + ".txt"},
		{"artifact name of 180 bytes (key 227)", prefix + "00-" + strings.Repeat("r", 173) + ".txt"},
		{"artifact name of 255 bytes (key 302)", prefix + "00-" + strings.Repeat("r", 248) + ".txt"},
		{"key of 1024 bytes in short segments", strings.Repeat("abcdefghi/", 102) + "xyzz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := start(t, t.TempDir(), "sandstep-tasks")
			if len(tc.key) > 1024 {
				t.Fatalf("test key is %d bytes, over S3's 1024", len(tc.key))
			}
			_, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sandstep-tasks"), Key: aws.String(tc.key), Body: strings.NewReader("artifact")})
			if err != nil {
				t.Errorf("PutObject of a %d-byte key: %v", len(tc.key), err)
			}
			got, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("sandstep-tasks"), Key: aws.String(tc.key)})
			if err != nil {
				t.Errorf("GetObject of a %d-byte key: %v", len(tc.key), err)
			} else {
				b, _ := io.ReadAll(got.Body)
				got.Body.Close()
				if string(b) != "artifact" {
					t.Errorf("GetObject = %q, want %q", b, "artifact")
				}
			}
			// Whatever became of the put, the bucket can still be listed.
			if _, err := c.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("sandstep-tasks"), Prefix: aws.String("tasks/")}); err != nil {
				t.Errorf("ListObjectsV2 after the put: %v", err)
			}
		})
	}
}

// GetParameter with a version or label that does not exist answers
// ParameterVersionNotFound, as SSM does, not ParameterNotFound: the
// parameter exists. Labels are attached by LabelParameterVersion, move
// between versions, and outlive a restart, so README's `ssm:/name:label`
// can be tried under make local.
func TestParameterVersionSelectors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := start(t, dir)
	const name = "/sandstep/secrets/users/alice/token"
	for _, v := range []string{"one", "two", "three"} {
		if _, err := c.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(v),
			Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
	}
	label := func(version int64, labels ...string) *ssm.LabelParameterVersionOutput {
		t.Helper()
		in := &ssm.LabelParameterVersionInput{Name: aws.String(name), Labels: labels}
		if version > 0 {
			in.ParameterVersion = aws.Int64(version)
		}
		out, err := c.ssm.LabelParameterVersion(ctx, in)
		if err != nil {
			t.Fatalf("LabelParameterVersion %d %v: %v", version, labels, err)
		}
		return out
	}
	label(1, "prod", "stable")
	label(2, "prod") // moves prod from version 1
	if out := label(0, "canary", "1st", "awsy", "SSM-x", "a/b", "ok_.-"); out.ParameterVersion != 3 ||
		!slices.Equal(out.InvalidLabels, []string{"1st", "awsy", "SSM-x", "a/b"}) {
		t.Fatalf("labelling the latest = version %d, invalid %q; want 3 and the four SSM refuses", out.ParameterVersion, out.InvalidLabels)
	}
	for _, tc := range []struct {
		name, param, wantValue, wantCode string
	}{
		{"latest", name, "three", ""},
		{"version 1", name + ":1", "one", ""},
		{"version 2", name + ":2", "two", ""},
		{"a version past the last", name + ":4", "", "ParameterVersionNotFound"},
		{"version 0", name + ":0", "", "ParameterVersionNotFound"},
		{"a label kept", name + ":stable", "one", ""},
		{"a label moved", name + ":prod", "two", ""},
		{"a label on the latest", name + ":canary", "three", ""},
		{"a label with every kind of character", name + ":ok_.-", "three", ""},
		{"a label SSM refused", name + ":awsy", "", "ParameterVersionNotFound"},
		{"labels are case-sensitive", name + ":Prod", "", "ParameterVersionNotFound"},
		{"an empty selector", name + ":", "", "ParameterVersionNotFound"},
		{"a parameter that does not exist", "/sandstep/secrets/users/alice/nope", "", "ParameterNotFound"},
		{"a label of a parameter that does not exist", "/sandstep/secrets/users/alice/nope:prod", "", "ParameterNotFound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(tc.param), WithDecryption: aws.Bool(true)})
			if code := apiCode(err); code != tc.wantCode {
				t.Fatalf("GetParameter %s: error %v (code %q), want code %q", tc.param, err, code, tc.wantCode)
			}
			if err == nil && (aws.ToString(out.Parameter.Value) != tc.wantValue || aws.ToString(out.Parameter.Name) != name ||
				aws.ToString(out.Parameter.Selector) != strings.TrimPrefix(tc.param, name)) {
				t.Errorf("GetParameter %s = %q (name %q, selector %q), want %q", tc.param, aws.ToString(out.Parameter.Value),
					aws.ToString(out.Parameter.Name), aws.ToString(out.Parameter.Selector), tc.wantValue)
			}
		})
	}
	for _, tc := range []struct {
		name     string
		in       ssm.LabelParameterVersionInput
		wantCode string
	}{
		{"a parameter that does not exist", ssm.LabelParameterVersionInput{Name: aws.String("/nope"), Labels: []string{"x"}}, "ParameterNotFound"},
		{"a version that does not exist", ssm.LabelParameterVersionInput{Name: aws.String(name), ParameterVersion: aws.Int64(9), Labels: []string{"x"}}, "ParameterVersionNotFound"},
		{"more than ten labels on a version", ssm.LabelParameterVersionInput{Name: aws.String(name), ParameterVersion: aws.Int64(1),
			Labels: []string{"l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8", "l9", "l10"}}, "ParameterVersionLabelLimitExceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.ssm.LabelParameterVersion(ctx, &tc.in); apiCode(err) != tc.wantCode {
				t.Fatalf("LabelParameterVersion = %v, want %s", err, tc.wantCode)
			}
		})
	}
	if _, err := c.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/a:b"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString}); apiCode(err) != "ValidationException" {
		t.Errorf("a name holding a colon = %v, want ValidationException: what follows a colon selects a version", err)
	}
	c.srv.Close()
	again := start(t, dir)
	out, err := again.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name + ":prod"), WithDecryption: aws.Bool(true)})
	if err != nil || aws.ToString(out.Parameter.Value) != "two" {
		t.Fatalf("a label after a restart = %+v, %v; want version 2's value", out, err)
	}
}

// PutSecretValue is idempotent on its ClientRequestToken, which the SDKs
// fill in and keep across their retries: a repeat with the same value adds
// no version (AWSPREVIOUS still holds the value before), a repeat with
// another value is ResourceExistsException.
func TestPutSecretValueIsIdempotentOnItsToken(t *testing.T) {
	ctx := context.Background()
	const token = "0b4ff5b4-4b7c-4a8e-9b5e-7d1f0c6a1e11"
	for _, tc := range []struct {
		name         string
		repeatValue  string
		wantCode     string
		wantPrevious string
		wantCurrent  string
	}{
		{"a retry with the same value", "v2", "", "v1", "v2"},
		{"the same token with another value", "v3", "ResourceExistsException", "v1", "v2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := start(t, t.TempDir())
			if _, err := c.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("sandstep/users/alice/git-token"), SecretString: aws.String("v1")}); err != nil {
				t.Fatal(err)
			}
			first, err := c.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("sandstep/users/alice/git-token"),
				SecretString: aws.String("v2"), ClientRequestToken: aws.String(token)})
			if err != nil {
				t.Fatal(err)
			}
			again, err := c.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("sandstep/users/alice/git-token"),
				SecretString: aws.String(tc.repeatValue), ClientRequestToken: aws.String(token)})
			if code := apiCode(err); code != tc.wantCode {
				t.Errorf("repeated PutSecretValue: error %v (code %q), want code %q", err, code, tc.wantCode)
			}
			if err == nil && aws.ToString(again.VersionId) != aws.ToString(first.VersionId) {
				t.Errorf("repeated PutSecretValue made version %s, want %s again", aws.ToString(again.VersionId), aws.ToString(first.VersionId))
			}
			for stage, want := range map[string]string{"AWSPREVIOUS": tc.wantPrevious, "AWSCURRENT": tc.wantCurrent} {
				got, err := c.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("sandstep/users/alice/git-token"), VersionStage: aws.String(stage)})
				if err != nil {
					t.Errorf("GetSecretValue %s: %v", stage, err)
					continue
				}
				if aws.ToString(got.SecretString) != want {
					t.Errorf("GetSecretValue %s = %q, want %q", stage, aws.ToString(got.SecretString), want)
				}
			}
		})
	}
}

// Secrets Manager finds a secret by its ARN
// without the six random characters AWS appends (a "partial ARN"), which
// is what a user writes by hand in "secretsmanager:arn:aws:...:secret:<name>"
// (internal/secrets accepts it). The stand-in must answer it as AWS does,
// and still refuse an ARN of another account or region.
func TestSecretByPartialARN(t *testing.T) {
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

// The AWS SDKs and CLI v2 send
// a checksum of the whole body with every PutObject and check the one a
// GetObject answers. S3 answers no whole-object checksum for a range, but
// the stand-in kept the PUT's x-amz-checksum-* header and sends it back
// with every part of the object, so each ranged read fails its check
// (and `aws s3 cp` downloads an object past 8 MB in ranges).
func TestRangedGetOfAnObjectPutWithAChecksum(t *testing.T) {
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
