package local

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// awsCLI is the AWS CLI v2 of Debian's awscli package. An older v1 may come
// first on PATH, so the path is fixed.
const awsCLI = "/usr/bin/aws"

// runAWS runs the AWS CLI with dummy credentials and region and nothing
// read from the user's configuration.
func runAWS(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, awsCLI, append(args, "--no-cli-pager", "--output", "json")...)
	home := t.TempDir()
	cmd.Env = []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + home,
		"AWS_ACCESS_KEY_ID=local",
		"AWS_SECRET_ACCESS_KEY=local",
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_PAGER=",
	}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func TestAWSCLIAgainstTheLocalEndpoints(t *testing.T) {
	if _, err := os.Stat(awsCLI); err != nil {
		t.Skipf("AWS CLI v2 not installed at %s (Debian package awscli): %v", awsCLI, err)
	}
	s := startStack(t, nil)
	dir := t.TempDir()

	t.Run("lambda invoke", func(t *testing.T) {
		outFile := filepath.Join(dir, "create.json")
		stdout, stderr, err := runAWS(t, "--endpoint-url", s.LambdaURL, "lambda", "invoke",
			"--function-name", "create",
			"--cli-binary-format", "raw-in-base64-out",
			"--payload", `{"userId":"cli-user","labels":{"via":"aws-cli"}}`,
			outFile)
		if err != nil {
			t.Fatalf("aws lambda invoke: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
		}
		var meta struct {
			StatusCode      int
			FunctionError   string
			ExecutedVersion string
		}
		if err := json.Unmarshal([]byte(stdout), &meta); err != nil || meta.StatusCode != 200 || meta.FunctionError != "" || meta.ExecutedVersion != "$LATEST" {
			t.Fatalf("invoke metadata %s (%v)", stdout, err)
		}
		b, err := os.ReadFile(outFile)
		if err != nil {
			t.Fatal(err)
		}
		var sb sandboxJSON
		if err := json.Unmarshal(b, &sb); err != nil || sb.Owner != "cli-user" || sb.State != "ready" {
			t.Fatalf("invoke result %s (%v), want a ready sandbox of cli-user", b, err)
		}
	})

	t.Run("lambda invoke, function error", func(t *testing.T) {
		outFile := filepath.Join(dir, "error.json")
		stdout, stderr, err := runAWS(t, "--endpoint-url", s.LambdaURL, "lambda", "invoke",
			"--function-name", "arn:aws:lambda:us-east-1:123456789012:function:StatusFunction",
			"--cli-binary-format", "raw-in-base64-out",
			"--payload", `{"action":"get","userId":"cli-user","sandboxId":"not-an-id"}`,
			outFile)
		if err != nil {
			t.Fatalf("aws lambda invoke: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
		}
		if !strings.Contains(stdout, `"FunctionError": "Unhandled"`) {
			t.Errorf("metadata %s, want FunctionError Unhandled", stdout)
		}
		b, _ := os.ReadFile(outFile)
		if !strings.Contains(string(b), `"errorType":"Sandbox.InvalidInput"`) {
			t.Errorf("result %s, want errorType Sandbox.InvalidInput", b)
		}
	})

	t.Run("lambda invoke, unknown function", func(t *testing.T) {
		_, stderr, err := runAWS(t, "--endpoint-url", s.LambdaURL, "lambda", "invoke",
			"--function-name", "nope", filepath.Join(dir, "nope.json"))
		if err == nil || !strings.Contains(stderr, "ResourceNotFoundException") {
			t.Errorf("err %v, stderr %s; want a ResourceNotFoundException", err, stderr)
		}
	})

	t.Run("dynamodb scan", func(t *testing.T) {
		stdout, stderr, err := runAWS(t, "dynamodb", "scan", "--table-name", s.Config.TableName, "--endpoint-url", s.DynamoDBURL)
		if err != nil {
			t.Fatalf("aws dynamodb scan: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
		}
		var scan struct {
			Count int
			Items []map[string]map[string]any
		}
		if err := json.Unmarshal([]byte(stdout), &scan); err != nil {
			t.Fatalf("scan output %s: %v", stdout, err)
		}
		found := false
		for _, item := range scan.Items {
			if pk, _ := item["PK"]["S"].(string); pk == "USER#cli-user" {
				found = true
			}
		}
		if scan.Count == 0 || !found {
			t.Errorf("scan found %d items and no quota item of cli-user:\n%s", scan.Count, stdout)
		}
	})
}
