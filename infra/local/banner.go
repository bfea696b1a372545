package local

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/sandstep/sandstep/internal/repos"
)

// WriteBanner writes what a person starting the stack wants to see: the
// endpoints, the routes and functions, the configuration (secrets masked),
// and a first command to try.
func (s *Stack) WriteBanner(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "sandstep local stack (routes and functions from %s)\n\n", s.TemplatePath)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  API Gateway\t%s\tAuthorization: Bearer <user id> (local only: the token is the user id)\n", s.APIURL)
	for _, r := range s.routes {
		auth := ""
		if r.Authorizer == "" {
			auth = " (no authorizer)"
		}
		fmt.Fprintf(tw, "\t  %s %s\t-> %s%s\n", r.Method, r.Path, r.Function, auth)
	}
	fmt.Fprintf(tw, "  Lambda\t%s\tPOST /2015-03-31/functions/{name}/invocations\n", s.LambdaURL)
	for _, f := range s.Functions() {
		fmt.Fprintf(tw, "\t  %s\t(%s, timeout %s)\n", f.LogicalID, f.Name, f.Timeout)
	}
	fmt.Fprintf(tw, "  DynamoDB\t%s\ttable %s\n", s.DynamoDBURL, s.Config.TableName)
	fmt.Fprintf(tw, "  SSM, Secrets Manager, S3\t%s\taws --endpoint-url %s ...\n", s.AWSURL, s.AWSURL)
	fmt.Fprintf(tw, "  Step Functions\t%s\taws --endpoint-url %s stepfunctions ...\n", s.StepFunctionsURL, s.StepFunctionsURL)
	for _, arn := range s.StateMachineARNs {
		fmt.Fprintf(tw, "\t  %s\n", arn)
	}
	fmt.Fprintf(tw, "  data\t%s\tkept across restarts\n", s.DataDir)
	if s.DaytonaURL != "" {
		fmt.Fprintf(tw, "  Daytona\t%s\tlocal stand-in: sandboxes are host directories and processes\n", s.DaytonaURL)
	} else {
		target := s.Config.DaytonaTarget
		if target == "" {
			target = "organisation default"
		}
		fmt.Fprintf(tw, "  Daytona\t%s\treal Daytona (target %s)\n", s.Config.DaytonaAPIURL, target)
	}
	fmt.Fprintf(tw, "  GitHub\t%s\tlocal stand-in (the functions' GITHUB_API_URL); repositories at %s/<owner>/<repo>.git\n", s.GitHubURL, s.GitHubURL)
	if d := s.GitHubDemo; d != nil {
		fmt.Fprintf(tw, "\t  demo App %d (%s), installation %d, private key %s\n", d.AppID, DemoGitHubAppSlug, d.InstallationID, d.KeyPath)
		fmt.Fprintf(tw, "\t  demo repository %s (public), issue #%d; %s may comment commands (write)\n", d.Repo, d.Issue, DemoGitHubCollaborator)
	}
	if s.Config.GitHubAppID == 0 {
		fmt.Fprintf(tw, "\t  no GitHub App (the log says why): issues start no tasks\n")
	}
	// In AWS no document means no repository: say what runs here instead.
	if s.Config.GitHubConfigRef.IsZero() {
		fmt.Fprintf(tw, "\t  no GITHUB_CONFIG_REF: every repository's issues run %q\n", repos.DefaultTask.Command)
	} else {
		fmt.Fprintf(tw, "\t  repositories and their tasks from %s\n", s.Config.GitHubConfigRef)
	}
	_ = tw.Flush()

	b.WriteString("\nconfiguration (secrets masked):\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, a := range s.Config.LogValue().Resolve().Group() {
		fmt.Fprintf(tw, "  %s\t%s\n", a.Key, a.Value.Resolve().String())
	}
	_ = tw.Flush()

	fmt.Fprintf(&b, "\ntry:\n  curl -s -H 'Authorization: Bearer alice' %s/sandboxes\n", s.APIURL)
	for _, arn := range s.StateMachineARNs {
		fmt.Fprintf(&b, "  aws --endpoint-url %s stepfunctions start-execution --state-machine-arn %s \\\n"+
			"    --name tsk_$(LC_ALL=C tr -dc a-z2-7 </dev/urandom | head -c 26) --input file://events/task-input.json\n", s.StepFunctionsURL, arn)
	}
	if d := s.GitHubDemo; d != nil {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  git clone %s/%s.git\t# the demo repository (pushing takes an App token)\n", s.GitHubURL, d.Repo)
		fmt.Fprintf(tw, "  curl -s %s/repos/%s/issues/%d/comments\t# what sandstep said on the issue\n", s.GitHubURL, d.Repo, d.Issue)
		fmt.Fprintf(tw, "  curl -s %s/repos/%s/pulls\t# the pull requests it opened\n", s.GitHubURL, d.Repo)
		_ = tw.Flush()
	}
	b.WriteString("Ctrl-C stops everything.\n")
	// The banner goes through the same redaction as the logs.
	_, err := io.WriteString(w, s.redactor.Redact(b.String()))
	return err
}
