package app

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
)

// TestConfigErrorLinesNameTheFunction: a cold start that refuses its
// configuration says which variables are wrong, one line each, and Lambda
// keeps each line of a function's output as a log event of its own. The
// runbook finds them with the filter ?"sandstep reaper"
// (docs/runbooks/daytona-troubleshooting.md), README with `sandstep
// <function>:`: a variable's line without that prefix is never shown, and
// the operator sees that the configuration was refused but not why.
func TestConfigErrorLinesNameTheFunction(t *testing.T) {
	if os.Getenv("SANDSTEP_HUNT_MAIN") == "1" {
		Main(Function{Name: "reaper", Wire: func(context.Context, *Env) (lambda.Handler, error) {
			return nil, errors.New("wired despite a refused configuration")
		}})
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestConfigErrorLinesNameTheFunction$")
	cmd.Env = []string{"SANDSTEP_HUNT_MAIN=1", "TABLE_NAME=t", "LOG_LEVEL=loud", "MAX_BODY_BYTES=many"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("the cold start ended with %v, want exit status 1; stderr:\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
	for _, want := range []string{"LOG_LEVEL", "MAX_BODY_BYTES"} {
		named := false
		for _, l := range lines {
			if strings.Contains(l, want) {
				named = true
				if !strings.HasPrefix(l, "sandstep reaper: ") {
					t.Errorf("the line naming %s, %q, does not start with \"sandstep reaper: \": the runbook's filter never shows it", want, l)
				}
			}
		}
		if !named {
			t.Errorf("no line names %s; stderr:\n%s", want, stderr.String())
		}
	}
}
