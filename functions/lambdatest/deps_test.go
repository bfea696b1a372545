package lambdatest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// clientsLinked is, for each function, the clients its bootstrap links,
// all sandstep's own: "daytona" (internal/daytona), "dynamodb"
// (internal/dynamo), "github" (internal/githubapp), "s3"
// (internal/objects) and "sfn" (internal/stepfunctions); SSM and Secrets
// Manager are internal/awsjson's. A generated SDK client costs each
// bootstrap a megabyte and its tables and middleware, built at every cold
// start, so no function links one (their attribute and error types may
// be). go-github may serve the stand-ins, never a function. A function's
// wiring builds, and its imports
// reach, only what internal/app's Service needs. One is linked without
// being used: execute never calls Step Functions (the service enables
// tasks only with a state machine, and execute merely computes execution
// ARNs from it).
var clientsLinked = map[string][]string{
	"create":  {"daytona", "dynamodb", "github", "s3", "sfn"},
	"execute": {"daytona", "dynamodb", "github", "s3", "sfn"},
	"status":  {"daytona", "dynamodb", "github", "s3", "sfn"},
	"delete":  {"daytona", "dynamodb", "github", "s3", "sfn"},
	"reaper":  {"daytona", "dynamodb", "github", "s3", "sfn"},
	"github":  {"daytona", "dynamodb", "github", "s3", "sfn"},
}

// TestFunctionsLinkOnlyTheirClients reads each function's import graph
// (go list -deps) and compares the clients in it with clientsLinked; no
// function may link a local stand-in or an SDK service's schemas either.
func TestFunctionsLinkOnlyTheirClients(t *testing.T) {
	goCmd := needGo(t)
	root := repoRoot(t)
	for _, name := range functionNames(t, root) {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(goCmd, "list", "-deps", "-f", "{{.ImportPath}}", "./functions/"+name)
			cmd.Dir = root
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list: %v", err)
			}
			const sdkService = "github.com/aws/aws-sdk-go-v2/service/"
			var clients []string
			for pkg := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
				switch {
				case strings.HasPrefix(pkg, sdkService) && !strings.Contains(pkg[len(sdkService):], "/"):
					t.Errorf("the %s function links the SDK's %s client: sandstep calls AWS through its own", name, pkg[len(sdkService):])
				case pkg == "github.com/sandstep/sandstep/internal/dynamo":
					clients = append(clients, "dynamodb")
				case pkg == "github.com/sandstep/sandstep/internal/daytona":
					clients = append(clients, "daytona")
				case pkg == "github.com/sandstep/sandstep/internal/objects":
					clients = append(clients, "s3")
				case pkg == "github.com/sandstep/sandstep/internal/stepfunctions":
					clients = append(clients, "sfn")
				case pkg == "github.com/sandstep/sandstep/internal/githubapp":
					clients = append(clients, "github")
				case strings.HasPrefix(pkg, "github.com/google/go-github/"), strings.HasPrefix(pkg, "github.com/golang-jwt/"):
					t.Errorf("the %s function links %s: GitHub is called through internal/githubapp", name, pkg)
				case strings.Contains(pkg, "/infra/"), strings.HasSuffix(pkg, "/daytonalocal"), strings.HasSuffix(pkg, "/storetest"):
					t.Errorf("the %s function links %s, a local stand-in", name, pkg)
				case strings.HasPrefix(pkg, sdkService) && strings.HasSuffix(pkg, "/schemas"):
					// A service's schema-serde model, built at package init:
					// DynamoDB's (0.6 MB in 3,000 allocations) cost every cold
					// start ~3 ms. go.mod pins the clients below it.
					t.Errorf("the %s function links %s, a service model built at package init on every cold start", name, pkg)
				}
			}
			slices.Sort(clients)
			if want := clientsLinked[name]; !slices.Equal(clients, want) {
				t.Errorf("the %s function links the clients %q, want %q", name, clients, want)
			}
		})
	}
}
