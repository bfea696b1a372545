package api

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// An error answer's requestId is API Gateway's (its apigw-requestid
// header, the audit trail's), and the answer's log line carries it: as
// requestId outside Lambda, as upstreamRequestId inside, where requestId
// is Lambda's own (README, "Errors"; docs/architecture.md, "Errors").
func TestErrorRequestIDFindsTheLogLine(t *testing.T) {
	inLambda := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "aws-req-1"})
	tests := []struct {
		name string
		ctx  context.Context
		svc  *fakeService
		ev   events.APIGatewayV2HTTPRequest
		key  string // the log line's attribute holding the answer's id
	}{
		{"a 500 of the service in Lambda", inLambda, &fakeService{err: errors.New("dynamodb: table x: throttled")}, apiEvent(RouteCreateSandbox), "upstreamRequestId"},
		{"a 401 without identity in Lambda", inLambda, &fakeService{}, apiEvent(RouteCreateSandbox, func(ev *events.APIGatewayV2HTTPRequest) {
			ev.RequestContext.Authorizer = nil
		}), "upstreamRequestId"},
		{"a 500 of the service outside Lambda", context.Background(), &fakeService{err: errors.New("dynamodb: table x: throttled")}, apiEvent(RouteCreateSandbox), "requestId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, logs := newTestAPI(tt.svc, Options{})
			payload, err := json.Marshal(tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			out, err := a.HandlerFunc(FunctionCreate)(tt.ctx, payload)
			if err != nil {
				t.Fatal(err)
			}
			res := out.(events.APIGatewayV2HTTPResponse)
			body := decodeErrorBody(t, res)
			if body.RequestID != tt.ev.RequestContext.RequestID {
				t.Errorf("answer %d with requestId %q, want API Gateway's %q", res.StatusCode, body.RequestID, tt.ev.RequestContext.RequestID)
			}
			var failed map[string]any
			for _, rec := range logs.records(t) {
				if rec["message"] == "request failed" {
					failed = rec
				}
			}
			if failed == nil {
				t.Fatalf("no request failed line; answer %d %s", res.StatusCode, res.Body)
			}
			if failed[tt.key] != body.RequestID {
				t.Errorf("answer %d with requestId %q, but its log line has %s %v (requestId %v)", res.StatusCode, body.RequestID, tt.key, failed[tt.key], failed["requestId"])
			}
		})
	}
}
