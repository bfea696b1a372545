package local

import (
	"context"
	"encoding/json"
	"net/http"
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

// needAWSCLI skips a test without the AWS CLI, except where
// SANDSTEP_REQUIRE_AWSCLI is set (CI installs it): there a skip would hide
// a test that must run, so it fails.
func needAWSCLI(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(awsCLI); err != nil {
		if os.Getenv("SANDSTEP_REQUIRE_AWSCLI") != "" {
			t.Fatalf("AWS CLI v2 not installed at %s, and SANDSTEP_REQUIRE_AWSCLI is set: %v", awsCLI, err)
		}
		t.Skipf("AWS CLI v2 not installed at %s (Debian package awscli): %v", awsCLI, err)
	}
}

func TestAWSCLIAgainstTheLocalEndpoints(t *testing.T) {
	needAWSCLI(t)
	s := startStack(t, nil)
	dir := t.TempDir()

	t.Run("lambda invoke", func(t *testing.T) {
		outFile := filepath.Join(dir, "create.json")
		stdout, stderr, err := runAWS(t, "--endpoint-url", s.LambdaURL, "lambda", "invoke",
			"--function-name", "create",
			"--cli-binary-format", "raw-in-base64-out",
			"--payload", `{"action":"create","userId":"cli-user","labels":{"via":"aws-cli"}}`,
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

// Secrets an operator puts with the AWS CLI reach a sandbox through
// secretEnv (SSM) and git.tokenSecret (Secrets Manager), exactly as in AWS.
func TestSecretsFromTheLocalSSMAndSecretsManager(t *testing.T) {
	needAWSCLI(t)
	s := startStack(t, nil)
	aws := func(args ...string) string {
		t.Helper()
		stdout, stderr, err := runAWS(t, append([]string{"--endpoint-url", s.AWSURL}, args...)...)
		if err != nil {
			t.Fatalf("aws %v: %v\nstdout: %s\nstderr: %s", args, err, stdout, stderr)
		}
		return stdout
	}
	aws("ssm", "put-parameter", "--name", "/sandstep/secrets/users/cli-user/cli-token", "--type", "SecureString", "--value", "cli-canary-ssm")
	aws("secretsmanager", "create-secret", "--name", "sandstep/users/cli-user/git-token", "--secret-string", "cli-canary-sm")

	sb := s.create("cli-user", map[string]any{"secretEnv": map[string]string{"TOKEN": "ssm:/sandstep/secrets/users/cli-user/cli-token"}})
	res := s.as("cli-user", http.MethodPost, "/sandboxes/"+sb.ID+"/exec",
		map[string]any{"command": `[ "$TOKEN" = cli-canary-ssm ] && echo token-ok`})
	if res.status != http.StatusOK || !strings.Contains(string(res.body), "token-ok") {
		t.Errorf("exec with the SSM secret: %d %s", res.status, res.body)
	}
	// README's ssm:/name:label: a label put on the first version keeps
	// naming it after the parameter moves on.
	aws("ssm", "label-parameter-version", "--name", "/sandstep/secrets/users/cli-user/cli-token", "--labels", "pinned")
	aws("ssm", "put-parameter", "--overwrite", "--name", "/sandstep/secrets/users/cli-user/cli-token", "--type", "SecureString", "--value", "cli-canary-later")
	sb = s.create("cli-user", map[string]any{"secretEnv": map[string]string{"TOKEN": "ssm:/sandstep/secrets/users/cli-user/cli-token:pinned"}})
	res = s.as("cli-user", http.MethodPost, "/sandboxes/"+sb.ID+"/exec",
		map[string]any{"command": `[ "$TOKEN" = cli-canary-ssm ] && echo label-ok`})
	if res.status != http.StatusOK || !strings.Contains(string(res.body), "label-ok") {
		t.Errorf("exec with the SSM secret by its label: %d %s", res.status, res.body)
	}
	res = s.as("cli-user", http.MethodPost, "/sandboxes", map[string]any{"secretEnv": map[string]string{"TOKEN": "ssm:/sandstep/secrets/users/cli-user/cli-token:nolabel"}})
	if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), `"field":"secretEnv.TOKEN"`) {
		t.Errorf("a label the parameter lacks: %d %s, want 400 naming secretEnv.TOKEN", res.status, res.body)
	}

	repo := "file://" + newGitRepo(t)
	s.create("cli-user", map[string]any{"git": map[string]string{"url": repo, "path": "src", "tokenSecret": "secretsmanager:sandstep/users/cli-user/git-token"}})
	res = s.as("cli-user", http.MethodPost, "/sandboxes", map[string]any{"git": map[string]string{"url": repo, "tokenSecret": "secretsmanager:sandstep/users/cli-user/nope"}})
	if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), `"field":"git.tokenSecret"`) {
		t.Errorf("a missing Secrets Manager secret: %d %s, want 400 naming git.tokenSecret", res.status, res.body)
	}
	if strings.Contains(s.logs.String(), "cli-canary") {
		t.Error("a secret value reached the stack's log")
	}
}

// The local S3 answers the AWS CLI, and its presigned URLs work.
func TestS3WithTheAWSCLI(t *testing.T) {
	needAWSCLI(t)
	s := startStack(t, nil)
	file := filepath.Join(t.TempDir(), "artifact.txt")
	if err := os.WriteFile(file, []byte("built by the agent\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"s3", "mb", "s3://sandstep-artifacts"},
		{"s3", "cp", file, "s3://sandstep-artifacts/t1/artifact.txt"},
	} {
		if stdout, stderr, err := runAWS(t, append([]string{"--endpoint-url", s.AWSURL}, args...)...); err != nil {
			t.Fatalf("aws %v: %v\nstdout: %s\nstderr: %s", args, err, stdout, stderr)
		}
	}
	stdout, stderr, err := runAWS(t, "--endpoint-url", s.AWSURL, "s3", "ls", "s3://sandstep-artifacts/t1/")
	if err != nil || !strings.Contains(stdout, "artifact.txt") {
		t.Fatalf("aws s3 ls: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
	stdout, stderr, err = runAWS(t, "--endpoint-url", s.AWSURL, "s3", "presign", "s3://sandstep-artifacts/t1/artifact.txt", "--expires-in", "300")
	if err != nil {
		t.Fatalf("aws s3 presign: %v\nstderr: %s", err, stderr)
	}
	res := do(t, http.MethodGet, strings.TrimSpace(stdout), nil)
	if res.status != http.StatusOK || string(res.body) != "built by the agent\n" {
		t.Fatalf("GET presigned URL: %d %q", res.status, res.body)
	}
}

// newGitRepo makes a repository with one commit and returns its path.
func newGitRepo(t *testing.T) string {
	t.Helper()
	repo := t.TempDir()
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "first"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	return repo
}
