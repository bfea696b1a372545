package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// API_URL may spell the scheme's default port (https://api.example.com:443/v1
// is the same URL as https://api.example.com/v1), but API Gateway's event
// never carries a port in its domainName. A request that came to API_URL's
// host must still be answered under API_URL's path: README promises a
// create's or a start's Location "under API_URL's path on its host".
func TestHuntAPIURLWithDefaultPort(t *testing.T) {
	tests := []struct {
		name, apiURL, domain, wantLocationPrefix string
	}{
		{"no port", "https://api.example.com/v1", "api.example.com", "/v1/tasks/"},
		{"https default port spelled out", "https://api.example.com:443/v1", "api.example.com", "/v1/tasks/"},
		{"http default port spelled out", "http://api.example.com:80/v1", "api.example.com", "/v1/tasks/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			a, _ := newTestAPI(svc, Options{APIURL: tt.apiURL})
			ev := apiEvent(RouteStartTask)
			ev.RequestContext.APIID, ev.RequestContext.DomainName, ev.RequestContext.DomainPrefix = "abc", tt.domain, "api"
			ev.Headers["x-forwarded-proto"] = "https"
			res := a.ServeEvent(context.Background(), ev)
			if res.StatusCode != http.StatusAccepted {
				t.Fatalf("status %d: %s", res.StatusCode, res.Body)
			}
			var started sandstep.Task
			if err := json.Unmarshal([]byte(res.Body), &started); err != nil {
				t.Fatal(err)
			}
			if got, want := res.Headers["Location"], tt.wantLocationPrefix+started.ID; got != want {
				t.Errorf("Location %q, want %q (API_URL %s, request to %s)", got, want, tt.apiURL, tt.domain)
			}
		})
	}
}
