package samtransform

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// translated runs transform.py over the repository's template; without
// python3 and the SAM translator (cfn-lint's dependency) the test skips,
// unless SANDSTEP_REQUIRE_SAMTRANSLATOR is set (CI sets it).
func translated(t *testing.T) map[string]map[string]any {
	t.Helper()
	if err := exec.Command("python3", "-c", "import samtranslator").Run(); err != nil {
		if os.Getenv("SANDSTEP_REQUIRE_SAMTRANSLATOR") != "" {
			t.Fatalf("python3 with samtranslator: %v", err)
		}
		t.Skip("needs python3 with samtranslator (pip install cfn-lint)")
	}
	out := filepath.Join(t.TempDir(), "template.json")
	if b, err := exec.Command("python3", "transform.py", "../../template.yaml", out).CombinedOutput(); err != nil {
		t.Fatalf("transform.py: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Resources map[string]map[string]any
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Resources
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// What reaches a function reaches its alias live, never $LATEST: the
// API's integrations, their invoke permissions and the rules' targets.
func TestInvocationsUseAliases(t *testing.T) {
	res := translated(t)
	n := 0
	for id, r := range res {
		switch r["Type"] {
		case "AWS::ApiGatewayV2::Api":
			paths, _ := props(r)["Body"].(map[string]any)["paths"].(map[string]any)
			for path, ops := range paths {
				for method, op := range ops.(map[string]any) {
					integ, ok := op.(map[string]any)["x-amazon-apigateway-integration"]
					if !ok {
						continue
					}
					n++
					if uri := mustJSON(t, integ.(map[string]any)["uri"]); !strings.Contains(uri, "Aliaslive}") {
						t.Errorf("%s %s integrates %s, not a function's alias", method, path, uri)
					}
				}
			}
		case "AWS::Lambda::Permission":
			n++
			if fn := mustJSON(t, props(r)["FunctionName"]); !strings.HasSuffix(fn, `Aliaslive"}`) {
				t.Errorf("%s grants %s, not a function's alias", id, fn)
			}
		case "AWS::Events::Rule":
			targets, _ := props(r)["Targets"].([]any)
			for _, tg := range targets {
				n++
				if arn := mustJSON(t, tg.(map[string]any)["Arn"]); !strings.HasSuffix(arn, `Aliaslive"}`) {
					t.Errorf("%s targets %s, not a function's alias", id, arn)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no integrations, permissions or rule targets found")
	}
}

// The machine has a version and the alias live on it, and its Task states
// name function versions (AWS::Lambda::Version), not functions or aliases.
func TestMachineVersionAndFunctionVersions(t *testing.T) {
	res := translated(t)
	sm := props(res["TaskStateMachine"])
	if sm == nil {
		t.Fatal("no TaskStateMachine")
	}
	for k, v := range sm["DefinitionSubstitutions"].(map[string]any) {
		if !strings.HasSuffix(k, "FunctionArn") {
			continue
		}
		ref, _ := v.(map[string]any)["Ref"].(string)
		if res[ref]["Type"] != "AWS::Lambda::Version" {
			t.Errorf("%s = %s, want a Ref to an AWS::Lambda::Version", k, mustJSON(t, v))
		}
	}
	alias := props(res["TaskStateMachineAliaslive"])
	if alias["Name"] != "live" {
		t.Errorf("machine alias %s, want one named live", mustJSON(t, alias))
	}
	if ver := res["TaskStateMachineVersion"]; ver["Type"] != "AWS::StepFunctions::StateMachineVersion" {
		t.Errorf("machine version %s", mustJSON(t, ver))
	}
}
