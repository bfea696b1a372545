package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/infra/local"
	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
)

// Only the shared create rate's own refusal is asked again: any other 503
// (Daytona or the store failed, capacity, a drain, Daytona's own 429
// passed on) is a failure the run must report.
func TestRateRefusal(t *testing.T) {
	body := func(code sandstep.Code, msg string) []byte {
		b, err := json.Marshal(api.ErrorResponse{Error: api.ErrorDetail{Code: code, Message: msg, RequestID: "req"}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// The store's message for a spent window (internal/store, rateSpent).
	rateMsg := "the deployment has created its 40 sandboxes for this 1m0s " + store.RateRefusalMarker + "; try again in 12.5s"
	heldMsg := "the provider refused a create for its rate and asked for a wait, which holds back the deployment's creates " + store.RateRefusalMarker + "; try again in 4.2s"
	tests := []struct {
		name       string
		status     int
		retryAfter string
		body       []byte
		wantWait   time.Duration
		wantRetry  bool
	}{
		{"the create rate spent", 503, "13", body(sandstep.ETRANSIENT, rateMsg), 13 * time.Second, true},
		{"the creates held back for the provider's wait", 503, "5", body(sandstep.ETRANSIENT, heldMsg), 5 * time.Second, true},
		{"a create Daytona failed", 503, "", body(sandstep.ETRANSIENT, "the sandbox did not start"), 0, false},
		{"the store failed", 503, "", body(sandstep.ETRANSIENT, "the operation was interrupted; try again"), 0, false},
		{"a failure with a Retry-After", 503, "5", body(sandstep.ETRANSIENT, "create sandbox: Daytona is unavailable, slow or rate limited; try again"), 0, false},
		{"Daytona's own 429 passed on", 503, "30", body(sandstep.ETRANSIENT, "create sandbox: Daytona is rate limiting us; try again"), 0, false},
		{"no capacity", 503, "60", body(sandstep.ECAPACITY, "the Daytona organisation has no capacity left; try again later"), 0, false},
		{"draining", 503, "60", body(sandstep.EDRAINING, "the deployment is draining"), 0, false},
		{"the rate's message without Retry-After", 503, "", body(sandstep.ETRANSIENT, rateMsg), 0, false},
		{"the rate's message with Retry-After 0", 503, "0", body(sandstep.ETRANSIENT, rateMsg), 0, false},
		{"the rate's message with a date for Retry-After", 503, "Wed, 21 Oct 2026 07:28:00 GMT", body(sandstep.ETRANSIENT, rateMsg), 0, false},
		{"the rate's message under another code", 503, "13", body(sandstep.EINTERNAL, rateMsg), 0, false},
		{"a body that is not the API's", 503, "13", []byte("Service Unavailable " + store.RateRefusalMarker), 0, false},
		{"the quota's 429", 429, "13", body(sandstep.EQUOTA, "quota exceeded "+store.RateRefusalMarker), 0, false},
		{"a gateway timeout", 504, "13", body(sandstep.ETIMEOUT, rateMsg), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.retryAfter != "" {
				h.Set("Retry-After", tt.retryAfter)
			}
			wait, retry := rateRefusal(tt.status, h, tt.body)
			if wait != tt.wantWait || retry != tt.wantRetry {
				t.Errorf("rateRefusal = %s, %v; want %s, %v", wait, retry, tt.wantWait, tt.wantRetry)
			}
		})
	}
}

// rateRefusal reads the API's own answers: the stack with a create rate of
// one a minute, its Daytona failing the first create, answers that create
// a 503 that is a failure, and one the spent minute refuses a 503 that is
// the rate's refusal.
func TestRateRefusalReadsTheAPIsAnswers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logs := &tailBuffer{max: 40}
	needRunner(t)
	si, err := startStandIns(ctx, standInsSpec{Faults: []daytonalocal.Fault{{
		Kind: daytonalocal.FaultCreateError, Message: "injected by the load test",
		Match: daytonalocal.Match{Operation: "createSandbox"}, Times: 1,
	}}}, logs)
	if err != nil {
		t.Fatal(err)
	}
	defer si.Close()
	env := map[string]string{"DAYTONA_CREATE_RATE": "1", "DAYTONA_API_URL": si.Daytona, "DAYTONA_API_KEY": local.LocalDaytonaKey}
	st, err := local.Start(ctx, local.Options{
		Getenv: func(k string) string { return env[k] }, LogWriter: logs,
		TemplatePath: smallConfig(t).templatePath, DynamoDBURL: si.DynamoDB,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	post := func(user string) (int, http.Header, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.APIURL+"/sandboxes", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+user)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, res.Header, b
	}

	status, h, b := post("rate-failed")
	if status != http.StatusServiceUnavailable {
		t.Fatalf("the create Daytona failed: %d %s, want 503\n%s", status, b, logs)
	}
	t.Logf("the create Daytona failed: %d, Retry-After %q, %s", status, h.Get("Retry-After"), b)
	if _, retry := rateRefusal(status, h, b); retry {
		t.Errorf("the create Daytona failed (Retry-After %q, %s) is taken for the rate's refusal", h.Get("Retry-After"), b)
	}
	// The minute may turn between two creates: a third then meets the
	// spent one.
	for i := range 3 {
		status, h, b = post(fmt.Sprintf("rate-%d", i))
		if status != http.StatusCreated {
			break
		}
	}
	if status != http.StatusServiceUnavailable {
		t.Fatalf("creates beyond the rate: %d %s, want 503\n%s", status, b, logs)
	}
	t.Logf("the rate's refusal: %d, Retry-After %q, %s", status, h.Get("Retry-After"), b)
	if wait, retry := rateRefusal(status, h, b); !retry || wait < time.Second || wait > time.Minute {
		t.Errorf("the rate's refusal (Retry-After %q, %s) is read as %s, %v; want a wait of 1 s to a minute, true", h.Get("Retry-After"), b, wait, retry)
	}
}

// Daytona's create counts are exact when every request it saw made a
// sandbox the run was given or was refused for its rate, and it refused
// none.
func TestCreateProblems(t *testing.T) {
	tests := []struct {
		name string
		c    createCounts
		made int
		want []string // what each problem says, in order
	}{
		{"every request made a sandbox", createCounts{Requests: 20}, 20, nil},
		{"nothing asked", createCounts{}, 0, nil},
		{"a create failed", createCounts{Requests: 21}, 20, []string{"asked 21 times to create, for 20 sandbox(es) the run was given and 0 refused for its rate: 1 request(s) made no sandbox"}},
		{"Daytona refused one, asked again", createCounts{Requests: 21, Refused: 1}, 20, []string{"Daytona refused 1 create(s) for its rate: the shared budget let them through"}},
		{"refused and failed", createCounts{Requests: 23, Refused: 1}, 20, []string{"refused 1 create(s)", "asked 23 times to create, for 20 sandbox(es) the run was given and 1 refused for its rate: 2 request(s) made no sandbox"}},
		{"more sandboxes than requests", createCounts{Requests: 19}, 20, []string{"1 sandbox(es) were never asked of it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := createProblems("the creates", tt.c, tt.made)
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], "by the end of the creates ") || !strings.Contains(got[i], w) {
					t.Errorf("problem %q, want one after the creates saying %q", got[i], w)
				}
			}
		})
	}
}
