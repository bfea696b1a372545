// The task state machine's definition, checked as AWS would check it.
package statemachine

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/infra/samtemplate"
	"github.com/sandstep/sandstep/internal/sfnlocal"
)

// TestASLValidates runs asl-validator (the runner's npm package, which
// aws-local-stepfunctions also validates with) over the definition as the
// template deploys it: substitutions applied, with ARNs of this account.
func TestASLValidates(t *testing.T) {
	tpl, err := samtemplate.Load("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	validator := validatorPath(t)
	for _, sm := range tpl.StateMachines() {
		t.Run(sm.LogicalID, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("../..", sm.DefinitionURI))
			if err != nil {
				t.Fatal(err)
			}
			subs := map[string]string{}
			for k, v := range sm.Substitutions {
				if fn, ok := strings.CutSuffix(strings.TrimPrefix(v, "${"), ".Arn}"); ok {
					v = "arn:aws:lambda:us-east-1:123456789012:function:" + fn
				}
				subs[k] = v
			}
			def := filepath.Join(t.TempDir(), "definition.json")
			if err := os.WriteFile(def, []byte(sfnlocal.Substitute(string(raw), subs)), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("node", validator, "--json-path", def).CombinedOutput()
			if err != nil {
				t.Fatalf("asl-validator: %v\n%s", err, out)
			}
		})
	}
}

// TestASLValidatorCanFail proves the validator run above can fail.
func TestASLValidatorCanFail(t *testing.T) {
	validator := validatorPath(t)
	def := filepath.Join(t.TempDir(), "definition.json")
	bad := `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:x","Next":"Missing"}}}`
	if err := os.WriteFile(def, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("node", validator, "--json-path", def).CombinedOutput(); err == nil {
		t.Fatalf("asl-validator accepted a transition to a missing state:\n%s", out)
	}
}

// validatorPath is asl-validator's command in the runner's packages; the
// test skips without Node or the packages (`make sfnlocal-deps`), except
// where SANDSTEP_REQUIRE_NODE is set (CI).
func validatorPath(t *testing.T) string {
	t.Helper()
	dir, err := sfnlocal.FindRunnerDir(".")
	if err == nil {
		_, err = exec.LookPath("node")
	}
	path := filepath.Join(dir, "node_modules", "asl-validator", "dist", "bin", "asl-validator.js")
	if err == nil {
		if _, serr := os.Stat(path); serr != nil {
			err = errors.New("asl-validator is not installed: run make sfnlocal-deps")
		}
	}
	if err != nil {
		if os.Getenv("SANDSTEP_REQUIRE_NODE") != "" {
			t.Fatalf("asl-validator is needed, and SANDSTEP_REQUIRE_NODE is set: %v", err)
		}
		t.Skipf("asl-validator unavailable: %v", err)
	}
	return path
}
