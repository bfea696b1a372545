package samtemplate

import (
	"maps"
	"slices"
	"testing"

	"github.com/sandstep/sandstep/internal/config"
)

// A parameter value the deploy accepts (its AllowedPattern, AllowedValues,
// Type) reaches the functions' environment; one internal/config refuses
// stops every function at its cold start (app.Main exits at init), after a
// deploy that succeeded. TestRepoTemplateEnvironmentPassesConfig tries the
// defaults only, and TestRepoTemplateReaperSchedulePatternIsConfigs one
// parameter: each value here passes the template's own constraints.
func TestDeployedParameterValuesTheFunctionsAccept(t *testing.T) {
	tests := []struct {
		param, value, why string
	}{
		{"MetricsNamespace", "AWS/Sandstep", "the pattern ^[A-Za-z0-9._/#:-]{1,255}$ lets AWS/ through; config refuses AWS's own namespaces"},
		{"SecretsManagerPrefix", "sandstep", "the pattern does not ask for the trailing / that config (and the per-owner scoping) needs"},
		{"DaytonaApiUrl", "http://daytona.internal:3000/api", "the pattern ^https?://.+ allows http; config allows http only for loopback"},
		{"GitHubAppId", "0", "the pattern ^[0-9]*$ allows 0; config's GITHUB_APP_ID is 1 or more"},
		{"DefaultUserQuota", "2.5", "a Number within MinValue and MaxValue; config's quota is an integer"},
		{"SecretsSharedPrefixes", "ssm:/sandstep/shared/", "the pattern cannot say a shared prefix must lie under SecretsPathPrefix, which config requires"},
	}
	for _, tt := range tests {
		t.Run(tt.param+"="+tt.value, func(t *testing.T) {
			tpl, err := Load(repoTemplate, WithParameters(deployedParams(map[string]string{tt.param: tt.value})))
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(tpl.Parameters(), func(p Parameter) bool { return p.Name == tt.param })
			if i < 0 {
				t.Fatalf("no parameter %s", tt.param)
			}
			if err := checkParameterValue(tpl.Parameters()[i], tt.value); err != nil {
				t.Logf("the deploy refuses it: %v", err)
				return
			}
			for _, f := range tpl.Functions() {
				env := maps.Clone(f.Environment)
				if _, err := config.Load(func(k string) string { return env[k] }); err != nil {
					t.Errorf("%s deploys, and %s does not start: %v\n(%s)", tt.param, f.LogicalID, err, tt.why)
					break
				}
			}
		})
	}
}
