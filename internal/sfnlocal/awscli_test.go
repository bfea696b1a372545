package sfnlocal_test

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

// needAWSCLI skips a test without the AWS CLI, except where
// SANDSTEP_REQUIRE_AWSCLI is set (CI installs it): there it fails.
func needAWSCLI(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(awsCLI); err != nil {
		if os.Getenv("SANDSTEP_REQUIRE_AWSCLI") != "" {
			t.Fatalf("AWS CLI v2 not installed at %s, and SANDSTEP_REQUIRE_AWSCLI is set: %v", awsCLI, err)
		}
		t.Skipf("AWS CLI v2 not installed at %s (Debian package awscli): %v", awsCLI, err)
	}
}

// runAWS runs `aws stepfunctions <args>` against url with dummy credentials
// and nothing read from the user's configuration, and decodes its JSON.
func runAWS(t *testing.T, url string, out any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args = append([]string{"stepfunctions"}, args...)
	cmd := exec.CommandContext(ctx, awsCLI, append(args, "--endpoint-url", url, "--no-cli-pager", "--output", "json")...)
	home := t.TempDir()
	cmd.Env = []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + home,
		"AWS_ACCESS_KEY_ID=local",
		"AWS_SECRET_ACCESS_KEY=local",
		"AWS_DEFAULT_REGION=" + region,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_PAGER=",
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("aws %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	if out != nil {
		if err := json.Unmarshal([]byte(stdout.String()), out); err != nil {
			t.Fatalf("aws %s printed %q: %v", strings.Join(args, " "), stdout.String(), err)
		}
	}
}

func TestAWSCLI(t *testing.T) {
	needAWSCLI(t)
	quick := `{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"done": true}, "End": true}}}`
	slow := `{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}}`
	h := start(t, newFakeLambda(t, nil), map[string]string{"quick": quick, "slow": slow})

	var started struct{ ExecutionArn, StartDate any }
	runAWS(t, h.url, &started, "start-execution", "--state-machine-arn", machineARN("quick"), "--name", "cli-1", "--input", `{"from":"cli"}`)
	arn, _ := started.ExecutionArn.(string)
	if !strings.HasSuffix(arn, ":execution:quick:cli-1") || started.StartDate == nil {
		t.Fatalf("start-execution printed %+v", started)
	}
	h.waitDone(t, arn)

	var described struct{ Status, Input, Output, Name string }
	runAWS(t, h.url, &described, "describe-execution", "--execution-arn", arn)
	if described.Status != "SUCCEEDED" || described.Input != `{"from":"cli"}` || described.Output != `{"done":true}` || described.Name != "cli-1" {
		t.Errorf("describe-execution printed %+v", described)
	}

	var history struct {
		Events []struct {
			Id   int
			Type string
		}
	}
	runAWS(t, h.url, &history, "get-execution-history", "--execution-arn", arn)
	var types []string
	for _, e := range history.Events {
		types = append(types, e.Type)
	}
	if strings.Join(types, ",") != "ExecutionStarted,PassStateEntered,PassStateExited,ExecutionSucceeded" {
		t.Errorf("get-execution-history printed types %v", types)
	}

	var slowRun struct{ ExecutionArn string }
	runAWS(t, h.url, &slowRun, "start-execution", "--state-machine-arn", machineARN("slow"))
	var listed struct {
		Executions []struct{ ExecutionArn, Status string }
	}
	runAWS(t, h.url, &listed, "list-executions", "--state-machine-arn", machineARN("slow"), "--status-filter", "RUNNING")
	if len(listed.Executions) != 1 || listed.Executions[0].ExecutionArn != slowRun.ExecutionArn {
		t.Errorf("list-executions printed %+v, want the one running", listed)
	}

	var stopped struct{ StopDate any }
	runAWS(t, h.url, &stopped, "stop-execution", "--execution-arn", slowRun.ExecutionArn, "--error", "Cli.Stop", "--cause", "stopped from the CLI")
	if stopped.StopDate == nil {
		t.Errorf("stop-execution printed %+v", stopped)
	}
	runAWS(t, h.url, &described, "describe-execution", "--execution-arn", slowRun.ExecutionArn)
	if described.Status != "ABORTED" {
		t.Errorf("after stop-execution, the status is %s", described.Status)
	}
}
