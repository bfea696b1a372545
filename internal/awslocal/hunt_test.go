package awslocal_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
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
