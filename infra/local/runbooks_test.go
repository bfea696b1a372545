package local

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runbooksDir holds the operators' runbooks, from this directory.
const runbooksDir = "../../docs/runbooks"

// migrationGuide is docs/migration.md, from this directory.
const migrationGuide = "../../docs/migration.md"

// shellBlock is one ```sh block of a document.
type shellBlock struct {
	file   string
	line   int
	script string
	// skip is the reason given by a `<!-- not run: why -->` line just
	// before the block, or "".
	skip string
}

var notRunRE = regexp.MustCompile(`^<!--\s*not run:\s*(.*?)\s*-->$`)

// shellBlocks returns the ```sh blocks of the Markdown file at path.
func shellBlocks(path string) ([]shellBlock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		blocks []shellBlock
		cur    *shellBlock
		prev   string // the last non-blank line outside a block
		sc     = bufio.NewScanner(f)
		n      int
	)
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur != nil && trimmed == "```":
			blocks = append(blocks, *cur)
			cur, prev = nil, ""
		case cur != nil:
			cur.script += line + "\n"
		case trimmed == "```sh":
			cur = &shellBlock{file: filepath.Base(path), line: n}
			if m := notRunRE.FindStringSubmatch(prev); m != nil {
				if m[1] == "" {
					return nil, fmt.Errorf("%s:%d: a not-run mark must say why", path, n-1)
				}
				cur.skip = m[1]
			}
		case trimmed != "":
			prev = trimmed
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: the block never ends", path, cur.line)
	}
	return blocks, sc.Err()
}

func TestShellBlocks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		text    string
		want    []shellBlock
		wantErr bool
	}{
		{"run and skipped", "# T\n\n```sh\necho a\n```\n\n<!-- not run: needs AWS -->\n```sh\necho b\n```\n```json\n{}\n```\n",
			[]shellBlock{{file: "doc.md", line: 3, script: "echo a\n"}, {file: "doc.md", line: 8, script: "echo b\n", skip: "needs AWS"}}, false},
		{"a mark is for the next block only", "<!-- not run: x -->\n\ntext\n```sh\ntrue\n```\n",
			[]shellBlock{{file: "doc.md", line: 4, script: "true\n"}}, false},
		{"other languages are not run", "```bash\nfalse\n```\n", nil, false},
		{"a mark without a reason", "<!-- not run: -->\n```sh\ntrue\n```\n", nil, true},
		{"unterminated", "```sh\ntrue\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := shellBlocks(write("doc.md", tt.text))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("blocks = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestRunbooks runs every ```sh block of docs/runbooks (and of
// docs/migration.md) against a local
// stack, after the local block of setup.md, so a command the runbooks give
// cannot rot. A block marked `<!-- not run: why -->` (it needs AWS) is
// listed, not run. `make docs-check` runs this test alone.
func TestRunbooks(t *testing.T) {
	needAWSCLI(t)
	for _, tool := range []string{"curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("SANDSTEP_REQUIRE_AWSCLI") != "" {
				t.Fatalf("the runbooks need %s, which is not installed (Debian package %s): %v", tool, tool, err)
			}
			t.Skipf("the runbooks need %s (Debian package %s): %v", tool, tool, err)
		}
	}
	files, err := filepath.Glob(filepath.Join(runbooksDir, "*.md"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no runbooks in %s: %v", runbooksDir, err)
	}
	// The migration guide's checks are the same kind of command.
	files = append(files, migrationGuide)
	setup, err := shellBlocks(filepath.Join(runbooksDir, "setup.md"))
	if err != nil {
		t.Fatal(err)
	}
	var preamble string
	for _, b := range setup {
		if b.skip == "" {
			preamble += b.script
		}
	}
	if preamble == "" {
		t.Fatal("setup.md has no block to run: the runbooks' variables for make local")
	}

	s := startStack(t, map[string]string{"LOCAL_ADMIN_USERS": "root"}, fastRetries)
	env := s.runbookEnv(t)

	for _, f := range files {
		if filepath.Base(f) == "setup.md" {
			continue
		}
		blocks, err := shellBlocks(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			t.Run(fmt.Sprintf("%s:%d", b.file, b.line), func(t *testing.T) {
				if b.skip != "" {
					t.Skipf("not run: %s", b.skip)
				}
				out, err := runShell(preamble+b.script, env)
				if err != nil {
					t.Fatalf("%v\nscript:\n%s\noutput:\n%s", err, b.script, out)
				}
				t.Logf("output:\n%s", out)
			})
		}
	}
}

// runbookEnv prepares what a runbook's reader has: the Daytona key in SSM as
// a deploy puts it, a ready sandbox of alice's and a finished task, and the
// variables setup.md says to set, pointing at this stack.
func (s *testStack) runbookEnv(t *testing.T) []string {
	t.Helper()
	if _, stderr, err := runAWS(t, "ssm", "put-parameter", "--endpoint-url", s.AWSURL, "--name", "/sandstep/daytona-api-key",
		"--type", "SecureString", "--value", LocalDaytonaKey, "--overwrite"); err != nil {
		t.Fatalf("put the Daytona key parameter: %v: %s", err, stderr)
	}
	sb := s.create("alice", nil)
	tk := s.startTask("alice", map[string]any{"command": "echo done"})
	if done := s.waitTask("alice", tk.ID, time.Minute); done.Status != "succeeded" {
		t.Fatalf("task ended %+v", done)
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	return []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + home,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_PAGER=",
		"REPO=" + repo,
		"API=" + s.APIURL,
		"TABLE=" + s.Config.TableName,
		"STACK=" + s.Config.StackName,
		"STATE_MACHINE_ARN=" + s.StateMachineARNs[0],
		"DAYTONA_API_URL=" + s.DaytonaURL,
		"DYNAMODB_URL=" + s.DynamoDBURL,
		"LAMBDA_URL=" + s.LambdaURL,
		"SFN_URL=" + s.StepFunctionsURL,
		"AWS_LOCAL_URL=" + s.AWSURL,
		"SANDBOX=" + sb.ID,
		"TASK=" + tk.ID,
		"BUCKET=" + s.Config.TaskBucket,
	}
}

// runShell runs script with bash -euo pipefail in env, at most two minutes.
func runShell(script string, env []string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/bash", "-euo", "pipefail", "-c", script)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}
