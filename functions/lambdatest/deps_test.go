package lambdatest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// clientsLinked is, for each function, the AWS service clients its actions
// use and its bootstrap may link: every client added to every bootstrap
// would outgrow the 12 MB budget, so a function's wiring builds, and its
// imports reach, only its own. SSM and Secrets Manager are read through
// internal/awsjson, not their SDK clients.
var clientsLinked = map[string][]string{
	"create":  {"dynamodb", "s3", "sfn"},
	"execute": {"dynamodb", "s3", "sfn"},
	"status":  {"dynamodb", "s3", "sfn"},
	"delete":  {"dynamodb", "s3", "sfn"},
	"reaper":  {"dynamodb", "s3", "sfn"},
	"github":  {"dynamodb", "s3", "sfn"},
}

// TestFunctionsLinkOnlyTheirClients reads each function's import graph
// (go list -deps) and compares the AWS SDK service clients in it with
// clientsLinked; no function may link a local stand-in either.
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
					clients = append(clients, pkg[len(sdkService):])
				case strings.Contains(pkg, "/infra/"), strings.HasSuffix(pkg, "/daytonalocal"), strings.HasSuffix(pkg, "/storetest"):
					t.Errorf("the %s function links %s, a local stand-in", name, pkg)
				}
			}
			slices.Sort(clients)
			if want := clientsLinked[name]; !slices.Equal(clients, want) {
				t.Errorf("the %s function links the AWS clients %q, want %q", name, clients, want)
			}
		})
	}
}
