package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestGitHubWebhook(t *testing.T) {
	signed := apiEvent(RouteGitHubWebhook)
	tests := []struct {
		name   string
		opts   []evOption
		status int
		action string
		calls  int
	}{
		{"signed", nil, http.StatusAccepted, "started", 1},
		{"base64 body", []evOption{func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(ev.Body)), true
		}}, http.StatusAccepted, "started", 1},
		{"no signature", []evOption{withHeader("x-hub-signature-256", "")}, http.StatusUnauthorized, "", 0},
		{"wrong signature", []evOption{withHeader("x-hub-signature-256", "sha256=00")}, http.StatusUnauthorized, "", 0},
		{"body changed after signing", []evOption{withBody(signed.Body + " ")}, http.StatusUnauthorized, "", 0},
		{"ping", []evOption{withHeader("x-github-event", "ping")}, http.StatusOK, "pong", 0},
		{"another event", []evOption{withHeader("x-github-event", "star")}, http.StatusOK, "ignored", 0},
		{"no delivery id", []evOption{withHeader("x-github-delivery", "")}, http.StatusBadRequest, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			a, _ := newTestAPI(svc, Options{})
			res := a.ServeEvent(context.Background(), apiEvent(RouteGitHubWebhook, tt.opts...))
			var out struct {
				Action string `json:"action"`
			}
			_ = json.Unmarshal([]byte(res.Body), &out)
			if res.StatusCode != tt.status || out.Action != tt.action || len(svc.recordedCalls()) != tt.calls {
				t.Errorf("%d %s with %d calls, want %d %q with %d", res.StatusCode, res.Body, len(svc.recordedCalls()), tt.status, tt.action, tt.calls)
			}
		})
	}
	// Without a secret configured the route is not there.
	a := New(&fakeService{}, Options{MaxBodyBytes: testMaxBody})
	if res := a.ServeEvent(context.Background(), signed); res.StatusCode != http.StatusNotFound {
		t.Errorf("without a secret: %d, want 404", res.StatusCode)
	}
}
