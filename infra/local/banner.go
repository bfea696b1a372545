package local

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
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
	b.WriteString("Ctrl-C stops everything.\n")
	// The banner goes through the same redaction as the logs.
	_, err := io.WriteString(w, s.redactor.Redact(b.String()))
	return err
}
