package api

import (
	"context"
	"encoding/json"
	"testing"
	"time"
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
		{"default under the 30 s integration limit", 0, 15 * time.Minute, DefaultHTTPTimeout, DefaultHTTPTimeout - 2*time.Second},
		{"custom", 5 * time.Second, 15 * time.Minute, 5 * time.Second, 3 * time.Second},
		{"a shorter Lambda deadline wins", 0, 10 * time.Second, 10 * time.Second, 8 * time.Second},
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
