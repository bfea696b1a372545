package samtemplate

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every make target that starts a local stack installs the Step Functions
// runner's npm packages first (npm ci): the stack refuses to start
// without them, and `make demo` starts one when none runs.
func TestMakeTargetsThatStartAStackInstallTheRunnersPackages(t *testing.T) {
	data, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"local", "load", "docs-check", "demo"} {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(target) + `:([^#\n]*)`).FindSubmatch(data)
		if m == nil {
			t.Errorf("Makefile has no %s target", target)
			continue
		}
		if !strings.Contains(" "+string(m[1])+" ", " sfnlocal-deps ") {
			t.Errorf("make %s starts a local stack but does not depend on sfnlocal-deps (prerequisites:%s)", target, m[1])
		}
	}
}

// README's "Deploy with AWS SAM" table names every parameter of the
// template.
func TestREADMEDeployTableNamesEveryParameter(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Deploy with AWS SAM\n")
	if !ok {
		t.Fatal("README has no \"Deploy with AWS SAM\" section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var rows strings.Builder
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "| `") {
			first, _, _ := strings.Cut(line[1:], "|")
			rows.WriteString(first)
		}
	}
	tpl, err := Load(repoTemplate)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tpl.Parameters() {
		if !strings.Contains(rows.String(), "`"+p.Name+"`") {
			t.Errorf("template parameter %s has no row in README's \"Deploy with AWS SAM\" table", p.Name)
		}
	}
}

// A bootstrap is built stripped and without the RPC shim (SAM_GOFLAGS),
// and SAM's go1.x builder takes those only from GOFLAGS: so every `sam
// build` the Makefile runs passes them, and the documents' commands build
// through make, never by a bare `sam build` (a stage built so would run
// bootstraps unlike the ones measured and sized), and deploy only what
// make has just built (a bare `sam deploy` deploys whatever the last build
// left, the bad commit's when rolling back).
func TestEverySamBuildPassesTheBootstrapFlags(t *testing.T) {
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	runbooks, err := filepath.Glob("../../docs/runbooks/*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range append(append([]string{"../../Makefile", "../../README.md"}, docs...), runbooks...) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		inBlock := false
		for i, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "```") {
				inBlock = !inBlock
				continue
			}
			if strings.HasSuffix(file, ".md") && !inBlock {
				continue
			}
			if regexp.MustCompile(`(^|[;&|]\s*|\t)(\S+=\S+\s+)*sam build`).MatchString(line) && !strings.Contains(line, "$(SAM_GOFLAGS)") {
				t.Errorf("%s:%d runs sam build without the bootstrap flags: %s", file, i+1, strings.TrimSpace(line))
			}
			if inBlock && strings.Contains(line, "sam deploy") && !strings.Contains(line, "make sam-build &&") {
				t.Errorf("%s:%d runs sam deploy without building first (make deploy-staging, or make sam-build && sam deploy): %s", file, i+1, strings.TrimSpace(line))
			}
		}
	}
}
