package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sandstep/sandstep/internal/service"
)

// slowIssues is a service whose GitHub work takes as long as it is let:
// GitHub's permission API, say, not answering.
type slowIssues struct {
	fakeService
	deadline time.Time
}

func (s *slowIssues) HandleIssue(ctx context.Context, ev service.IssueEvent) (*service.IssueOutcome, error) {
	s.deadline, _ = ctx.Deadline()
	<-ctx.Done()
	return nil, ctx.Err()
}

// The github function runs with a Lambda timeout of 10 s (template.yaml),
// shorter than the edge's HTTP bound of 29 s. Lambda ends an invocation at
// its deadline: an answer made at that instant never leaves, and GitHub
// gets API Gateway's own 500 instead of the 504 README promises for a slow
// delivery ("A delivery answered 503 or 504 ... started nothing"), with no
// log line of ours under its request id. The edge must keep back the time
// to answer from the Lambda's deadline too, as it does from API Gateway's
// 30 s (DefaultHTTPTimeout: "less a second to answer").
func TestHuntShortLambdaDeadlineLeavesTimeToAnswer(t *testing.T) {
	tests := []struct {
		name   string
		lambda time.Duration // the invocation's time, as Lambda gives it
	}{
		{"github function, its 10 s timeout scaled down", 1500 * time.Millisecond},
		{"a Lambda deadline of a few seconds", 2500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &slowIssues{}
			a, _ := newTestAPI(svc, Options{})
			payload, err := json.Marshal(apiEvent(RouteGitHubWebhook))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tt.lambda)
			defer cancel()
			lambdaEnd, _ := ctx.Deadline()
			out, err := a.HandlerFunc(FunctionGitHub)(ctx, payload)
			answered := time.Now()
			if err != nil {
				t.Fatalf("handler error %v", err)
			}
			res, ok := out.(events.APIGatewayV2HTTPResponse)
			if !ok {
				t.Fatalf("answer %T", out)
			}
			if res.StatusCode != http.StatusGatewayTimeout {
				t.Errorf("status %d (%s), want 504", res.StatusCode, res.Body)
			}
			if left := lambdaEnd.Sub(answered); left < 500*time.Millisecond {
				t.Errorf("answered %v before the Lambda's deadline (the service's work ran until %v before it): Lambda has ended the invocation by then",
					left.Round(time.Millisecond), lambdaEnd.Sub(svc.deadline).Round(time.Millisecond))
			}
		})
	}
}
