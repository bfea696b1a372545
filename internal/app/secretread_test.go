package app

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/api"
)

// A webhook secret SSM cannot give is answered without naming the
// deployment's parameter to an unauthenticated caller: its name and place
// are the deployment's, logged for the operator. One that cannot be read
// at all (its grant lost, its KMS key disabled, the parameter deleted) is
// the deployment's fault: 500, counted as a fault (the alarm an operator
// watches), the cause logged under GITHUB_WEBHOOK_SECRET_REF, not a 400
// invalid_input (no fault counted, every delivery lost in silence). One
// SSM cannot give now (throttled, failing) is 503, so GitHub's delivery
// may be sent again.
func TestWebhookSecretSSMCannotGiveNamesNoParameter(t *testing.T) {
	const denied = "User: arn:aws:sts::123456789012:assumed-role/sandstep-GitHubRole/x is not authorized"
	cases := []struct {
		name          string
		status        int // SSM's
		code, message string
		want          int
		logged        string // what the log names for the operator
	}{
		{"access denied", http.StatusBadRequest, "AccessDeniedException", denied, http.StatusInternalServerError, "GITHUB_WEBHOOK_SECRET_REF"},
		{"KMS key disabled", http.StatusBadRequest, "KMSDisabledException", denied, http.StatusInternalServerError, "GITHUB_WEBHOOK_SECRET_REF"},
		{"parameter not found", http.StatusBadRequest, "ParameterNotFound", denied, http.StatusInternalServerError, "GITHUB_WEBHOOK_SECRET_REF"},
		{"throttled", http.StatusBadRequest, "ThrottlingException", "Rate exceeded", http.StatusServiceUnavailable, "webhook-secret"},
		{"SSM failing", http.StatusInternalServerError, "InternalServerError", "Rate exceeded", http.StatusServiceUnavailable, "webhook-secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ssm := fakeSSM(t, map[string]string{})
			ssm.fail(tc.status, tc.code, tc.message)
			env := gitHubEnv(ssm.URL, "")
			logs := &syncBuffer{}
			e, err := NewEnv(Options{Getenv: func(k string) string { return env[k] }, LogWriter: logs})
			if err != nil {
				t.Fatal(err)
			}
			a := api.New(nil, api.Options{MaxBodyBytes: 1 << 20, Logger: e.Logger, GitHub: e.GitHubOptions()})
			res := a.ServeEvent(context.Background(), signedDelivery("whatever", `{"zen":"x","hook_id":1}`))
			if res.StatusCode != tc.want {
				t.Errorf("answered %d %s, want %d", res.StatusCode, res.Body, tc.want)
			}
			for _, leak := range []string{"webhook-secret", "/sandstep/", "SSM parameter"} {
				if strings.Contains(res.Body, leak) {
					t.Errorf("the answer to an unauthenticated caller names the deployment's parameter (%q): %s", leak, res.Body)
				}
			}
			if !strings.Contains(logs.String(), tc.logged) {
				t.Errorf("no log line names %s for the operator:\n%s", tc.logged, logs.String())
			}
		})
	}
}
