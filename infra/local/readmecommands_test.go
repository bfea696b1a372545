package local

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmePath is README.md, from this directory.
const readmePath = "../../README.md"

// fencedCommands returns the commands of every fenced block of the Markdown
// file at path, whatever its language, that start with prefix and hold
// sub: a line ending in `\` is joined with the next, as a shell joins it.
// TestRunbooks runs the runbooks' sh blocks whole; README's blocks mix
// commands for AWS, for make local and for a reader to fill in, so its
// commands are picked one kind at a time.
func fencedCommands(t *testing.T, path, prefix, sub string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		cmds    []string
		inBlock bool
		cur     string
		sc      = bufio.NewScanner(f)
	)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inBlock, cur = !inBlock, ""
			continue
		}
		if !inBlock {
			continue
		}
		if cur != "" {
			line = cur + " " + strings.TrimSpace(line)
		}
		if cont, ok := strings.CutSuffix(strings.TrimRight(line, " "), `\`); ok {
			cur = cont
			continue
		}
		cur = ""
		if strings.HasPrefix(line, prefix) && strings.Contains(line, sub) {
			cmds = append(cmds, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cmds
}

// functionPlaceholder is README's way of naming a deployed function whose
// name a reader fills in: `<ReaperFunction>`.
var functionPlaceholder = regexp.MustCompile(`<([A-Za-z]+Function)>`)

// TestREADMELambdaInvokes runs every `aws lambda invoke` of README, as
// a reader copies it (with the AWS CLI v2 the project names), against the
// local Lambda Invoke API: the function's own name for a placeholder, and
// the local endpoint where the command is for a deployed stack. Each must
// run and answer without a function error.
func TestREADMELambdaInvokes(t *testing.T) {
	needAWSCLI(t)
	cmds := fencedCommands(t, readmePath, "aws ", "lambda invoke")
	if len(cmds) < 2 {
		t.Fatalf("README has %d `aws lambda invoke` commands, want the local one and the reaper's dry run: %q", len(cmds), cmds)
	}
	s := startStack(t, nil)
	for _, c := range cmds {
		t.Run(c, func(t *testing.T) {
			line := functionPlaceholder.ReplaceAllString(c, "$1")
			line = strings.ReplaceAll(line, "http://127.0.0.1:3001", s.LambdaURL)
			if !strings.Contains(line, "--endpoint-url") {
				line = strings.Replace(line, "aws ", "aws --endpoint-url "+s.LambdaURL+" ", 1)
			}
			dir := t.TempDir()
			home := t.TempDir()
			env := []string{
				"PATH=/usr/bin:/bin",
				"HOME=" + home,
				"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_REGION=us-east-1",
				"AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
				"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
				"AWS_PAGER=",
			}
			out, err := runShell("cd '"+dir+"'\n"+line+"\n", env)
			if err != nil {
				t.Fatalf("%v\ncommand: %s\noutput:\n%s", err, line, out)
			}
			if strings.Contains(out, "FunctionError") || strings.Contains(out, "errorType") {
				t.Fatalf("a function error\ncommand: %s\noutput:\n%s", line, out)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*"))
			for _, f := range files {
				if b, _ := os.ReadFile(f); strings.Contains(string(b), "errorType") {
					t.Errorf("%s holds a function error: %s", filepath.Base(f), b)
				}
			}
		})
	}
}
