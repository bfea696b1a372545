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

// API Gateway gives up on an integration after 30 s; the work done for an
// HTTP request must be bounded to answer before that, while a direct
// invocation keeps the Lambda's own deadline.
func TestHTTPRequestsAreBoundedBeforeAPIGatewayGivesUp(t *testing.T) {
	tests := []struct {
		name        string
		httpTimeout time.Duration
		ctxTimeout  time.Duration
		want        time.Duration // upper bound on the service's remaining time
		wantAtLeast time.Duration
	}{
		{"default under the 30 s integration limit", 0, 15 * time.Minute, 28500 * time.Millisecond, 27 * time.Second},
		{"custom", 5 * time.Second, 15 * time.Minute, 5 * time.Second, 3 * time.Second},
		{"a shorter Lambda deadline wins, less the time to answer", 0, 10 * time.Second, 8500 * time.Millisecond, 8 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			a := New(svc, Options{MaxBodyBytes: testMaxBody, HTTPTimeout: tt.httpTimeout})
			ctx, cancel := context.WithTimeout(context.Background(), tt.ctxTimeout)
			defer cancel()
			start := time.Now()
			resp := a.ServeEvent(ctx, apiEvent(RouteExec))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
			}
			calls := svc.recordedCalls()
			if len(calls) != 1 || calls[0].deadline.IsZero() {
				t.Fatalf("the service saw no deadline: %+v", calls)
			}
			left := calls[0].deadline.Sub(start)
			if left > tt.want+time.Second || left < tt.wantAtLeast {
				t.Errorf("service deadline in %v, want between %v and %v", left, tt.wantAtLeast, tt.want)
			}
		})
	}

	svc := &fakeService{}
	a := New(svc, Options{MaxBodyBytes: testMaxBody, HTTPTimeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	payload, _ := json.Marshal(map[string]any{"action": "exec", "userId": "u", "sandboxId": "sbx_one", "command": "true"})
	if _, err := a.HandlerFunc(FunctionExecute)(ctx, payload); err != nil {
		t.Fatal(err)
	}
	if d := svc.recordedCalls()[0].deadline; time.Until(d) < 50*time.Second {
		t.Errorf("a direct invocation was cut to the HTTP bound: deadline in %v", time.Until(d))
	}
}

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
func TestAnswerLeavesBeforeAShortLambdaDeadline(t *testing.T) {
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
