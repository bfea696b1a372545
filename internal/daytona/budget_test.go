package daytona

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// A create's answer tells what is left of Daytona's create limit, whether
// the sandbox was started in the answer or waited for.
func TestCreateReportsTheCreateBudget(t *testing.T) {
	full := map[string]string{"X-RateLimit-Limit-sandbox-create": "300", "X-RateLimit-Remaining-sandbox-create": "0", "X-RateLimit-Reset-sandbox-create": "12"}
	tests := []struct {
		name      string
		header    map[string]string
		state     SandboxState // in the create's answer
		want      *RateBudget  // but ResetAt
		reset     time.Duration
		wantSpent bool
	}{
		{name: "spent, started in the answer", header: full, state: StateStarted,
			want: &RateBudget{Limit: 300, Remaining: 0}, reset: 12 * time.Second, wantSpent: true},
		{name: "spent, waited for", header: full, state: StateCreating,
			want: &RateBudget{Limit: 300, Remaining: 0}, reset: 12 * time.Second, wantSpent: true},
		{name: "some left", state: StateStarted,
			header: map[string]string{"X-RateLimit-Limit-sandbox-create": "300", "X-RateLimit-Remaining-sandbox-create": "7", "X-RateLimit-Reset-sandbox-create": "40"},
			want:   &RateBudget{Limit: 300, Remaining: 7}, reset: 40 * time.Second},
		{name: "no headers", state: StateStarted},
		{name: "another limiter's headers", state: StateStarted,
			header: map[string]string{"X-RateLimit-Limit-authenticated": "10000", "X-RateLimit-Remaining-authenticated": "0", "X-RateLimit-Reset-authenticated": "3"}},
		{name: "a reset that is not a count", state: StateStarted,
			header: map[string]string{"X-RateLimit-Limit-sandbox-create": "300", "X-RateLimit-Remaining-sandbox-create": "0", "X-RateLimit-Reset-sandbox-create": "soon"}},
		{name: "a remaining below zero", state: StateStarted,
			header: map[string]string{"X-RateLimit-Limit-sandbox-create": "300", "X-RateLimit-Remaining-sandbox-create": "-1", "X-RateLimit-Reset-sandbox-create": "3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				if r.Method == http.MethodPost {
					for k, v := range tt.header {
						w.Header().Set(k, v)
					}
					writeJSON(w, 200, sandboxJSON("id-1", "ss-1", tt.state, ""))
					return
				}
				writeJSON(w, 200, sandboxJSON("id-1", "ss-1", StateStarted, ""))
			})
			c := newClient(t, f.URL)
			before := time.Now()
			sb, err := c.CreateSandboxAndWait(context.Background(), CreateSandboxParams{Name: "ss-1"})
			after := time.Now()
			if err != nil {
				t.Fatal(err)
			}
			got := sb.CreateBudget
			switch {
			case tt.want == nil && got != nil:
				t.Errorf("budget %+v, want none", *got)
			case tt.want == nil:
			case got == nil || got.Limit != tt.want.Limit || got.Remaining != tt.want.Remaining:
				t.Errorf("budget %v, want %+v", got, *tt.want)
			case got.ResetAt.Before(before.Add(tt.reset)) || got.ResetAt.After(after.Add(tt.reset)):
				t.Errorf("window ends at %v, want %v after the answer (between %v and %v)", got.ResetAt, tt.reset, before, after)
			case got.Spent() != tt.wantSpent:
				t.Errorf("Spent() = %v, want %v", got.Spent(), tt.wantSpent)
			}
		})
	}
}
