package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// TestWebhookLinesNameGitHubsDelivery: a GitHub App's admin sees a
// delivery by its X-GitHub-Delivery id on the App's "Recent Deliveries"
// page, with the status sandstep answered. The function's line about it
// must carry that id, a refused delivery's most of all, or the operator
// cannot find why it was refused.
func TestWebhookLinesNameGitHubsDelivery(t *testing.T) {
	tests := []struct {
		name string
		svc  *fakeService
		opts []evOption
		msg  string
	}{
		{"a signature that does not match", &fakeService{}, []evOption{withHeader("x-hub-signature-256", "sha256=00")}, "request failed"},
		{"no signature", &fakeService{}, []evOption{withHeader("x-hub-signature-256", "")}, "request failed"},
		{"no event named", &fakeService{}, []evOption{withHeader("x-github-event", "")}, "request failed"},
		{"a body over the limit", &fakeService{}, []evOption{withBody(strings.Repeat(" ", testMaxBody+1))}, "request failed"},
		{"the service failing", &fakeService{err: sandstep.Errorf(sandstep.ETRANSIENT, "github: 502")}, nil, "request failed"},
		{"a task started", &fakeService{}, nil, "request served"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, logs := newTestAPI(tt.svc, Options{})
			payload, err := json.Marshal(apiEvent(RouteGitHubWebhook, tt.opts...))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.HandlerFunc(FunctionGitHub)(context.Background(), payload); err != nil {
				t.Fatal(err)
			}
			var line map[string]any
			for _, rec := range logs.records(t) {
				if rec["message"] == tt.msg {
					line = rec
				}
			}
			if line == nil {
				t.Fatalf("no %q line in %v", tt.msg, logs.records(t))
			}
			if line["githubDelivery"] != "delivery-1" {
				t.Errorf("the delivery's line %v; want githubDelivery delivery-1 (its X-GitHub-Delivery)", line)
			}
		})
	}
}
