package awslocal_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
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

// GetParameter with a version that does not exist answers
// ParameterVersionNotFound, as SSM does, not ParameterNotFound: the
// parameter exists.
func TestParameterVersionSelectors(t *testing.T) {
	ctx := context.Background()
	c := start(t, t.TempDir())
	for _, v := range []string{"one", "two"} {
		if _, err := c.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/sandstep/secrets/users/alice/token"), Value: aws.String(v),
			Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, param, wantValue, wantCode string
	}{
		{"latest", "/sandstep/secrets/users/alice/token", "two", ""},
		{"version 1", "/sandstep/secrets/users/alice/token:1", "one", ""},
		{"version 2", "/sandstep/secrets/users/alice/token:2", "two", ""},
		{"a version past the last", "/sandstep/secrets/users/alice/token:3", "", "ParameterVersionNotFound"},
		{"a parameter that does not exist", "/sandstep/secrets/users/alice/nope", "", "ParameterNotFound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.param
			out, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
			if code := apiCode(err); code != tc.wantCode {
				t.Fatalf("GetParameter %s: error %v (code %q), want code %q", name, err, code, tc.wantCode)
			}
			if err == nil && aws.ToString(out.Parameter.Value) != tc.wantValue {
				t.Errorf("GetParameter %s = %q, want %q", name, aws.ToString(out.Parameter.Value), tc.wantValue)
			}
		})
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
