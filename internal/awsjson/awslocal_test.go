package awsjson_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/sandstep/sandstep/internal/awsjson"
	"github.com/sandstep/sandstep/internal/awslocal"
)

// TestAgainstTheLocalStandIn writes with the SDK clients and reads with
// this package's, through the local stand-in that the AWS SDKs and CLI
// are tested against (internal/awslocal).
func TestAgainstTheLocalStandIn(t *testing.T) {
	ctx := context.Background()
	srv, err := awslocal.New(awslocal.Options{Dir: t.TempDir(), Region: "us-east-1", AccountID: "123456789012"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}

	sdkSSM := ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = aws.String(hs.URL) })
	for _, v := range []string{"first", "second"} {
		if _, err := sdkSSM.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/sandstep/token"), Value: aws.String(v),
			Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
	}
	sdkSM := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(hs.URL) })
	if _, err := sdkSM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("sandstep/json"), SecretString: aws.String(`{"k":"v"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := sdkSM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("sandstep/bin"), SecretBinary: []byte{0, 1, 0xfe, 'x'}}); err != nil {
		t.Fatal(err)
	}

	params, err := awsjson.NewSSM(cfg, awsjson.Options{Endpoint: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := awsjson.NewSecretsManager(cfg, awsjson.Options{Endpoint: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		get  func() (string, error)
		want string
		code string
	}{
		{"parameter, decrypted", func() (string, error) { return params.GetParameter(ctx, "/sandstep/token", true) }, "second", ""},
		{"parameter version", func() (string, error) { return params.GetParameter(ctx, "/sandstep/token:1", true) }, "first", ""},
		{"missing parameter", func() (string, error) { return params.GetParameter(ctx, "/sandstep/none", true) }, "", "ParameterNotFound"},
		{"secret string", func() (string, error) { return secrets.GetSecretValue(ctx, "sandstep/json") }, `{"k":"v"}`, ""},
		{"binary secret", func() (string, error) { return secrets.GetSecretValue(ctx, "sandstep/bin") }, "\x00\x01\xfex", ""},
		{"missing secret", func() (string, error) { return secrets.GetSecretValue(ctx, "sandstep/none") }, "", "ResourceNotFoundException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.get()
			if tc.code != "" {
				var ae *awsjson.APIError
				if !errors.As(err, &ae) || ae.Code != tc.code || ae.StatusCode != 400 {
					t.Fatalf("got %q, %v; want %s (HTTP 400)", got, err, tc.code)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}

	// Without decryption a SecureString reads as its ciphertext.
	if got, err := params.GetParameter(ctx, "/sandstep/token", false); err != nil || got == "second" || got == "" {
		t.Fatalf("undecrypted read = %q, %v", got, err)
	}
}
