package api

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// panicService panics in every call it makes: a bug in the service.
type panicService struct{ Service }

func (panicService) GetSandbox(context.Context, service.Call, string) (*sandstep.Sandbox, error) {
	panic("boom: internal detail 0xdeadbeef")
}

func TestPanicIsAnInternalErrorInTheCallersShape(t *testing.T) {
	a, logs := newTestAPI(panicService{}, Options{})
	h := a.HandlerFunc(FunctionStatus)

	ev, _ := json.Marshal(apiEvent(RouteGetSandbox))
	out, err := h(context.Background(), ev)
	resp, ok := out.(events.APIGatewayV2HTTPResponse)
	if err != nil || !ok || resp.StatusCode != 500 || strings.Contains(resp.Body, "deadbeef") {
		t.Fatalf("API answer to a panic = %#v, %v", out, err)
	}
	var body ErrorResponse
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || body.Error.RequestID != "req-1" {
		t.Errorf("API answer to a panic: %s, %v; want it under API Gateway's request id req-1", resp.Body, err)
	}

	_, err = h(context.Background(), []byte(`{"action":"get","userId":"u","sandboxId":"sbx_one"}`))
	var ie messages.InvokeResponse_Error
	if !errors.As(err, &ie) || ie.Type != "Sandbox.Internal" || strings.Contains(ie.Message, "deadbeef") {
		t.Fatalf("direct answer to a panic = %#v", err)
	}
	var stacks, underID int
	for _, rec := range logs.records(t) {
		if rec["message"] == "handler panicked" && strings.Contains(rec["stack"].(string), "panic_test.go") {
			stacks++
		}
		if rec["message"] == "handler panicked" && rec["requestId"] == "req-1" {
			underID++
		}
	}
	if stacks != 2 || underID != 1 {
		t.Errorf("%d panic records with a stack, %d under the API's request id; want 2 and 1", stacks, underID)
	}
}
