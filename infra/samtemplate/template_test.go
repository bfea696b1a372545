package samtemplate

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	apihandlers "github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/config"
)

// repoTemplate is sandstep's own template, relative to this package.
const repoTemplate = "../../template.yaml"

// Sentinel parameter values: a value found where the sentinel is expected
// proves the template takes it from the parameter and not from a literal.
var sentinels = map[string]string{
	"JwtIssuer":              "https://issuer.sentinel.example/",
	"JwtAudience":            "aud-sentinel-1,aud-sentinel-2",
	"DaytonaApiKeyParameter": "/sentinel/daytona-key",
	"DrainParameter":         "/sentinel/drain",
	"SecretsPathPrefix":      "/sentinel/secrets/",
	"SecretsManagerPrefix":   "sentinel-sm/",
	"DaytonaApiUrl":          "https://daytona.sentinel.example/api",
	"DefaultUserQuota":       "7",
	"MetricsNamespace":       "sentinel/ns",
	"PriceTableParameter":    "/sentinel/prices",
}

func loadRepo(t *testing.T) *Template {
	t.Helper()
	tpl, err := Load(repoTemplate, WithParameters(sentinels))
	if err != nil {
		t.Fatalf("Load(%s): %v", repoTemplate, err)
	}
	return tpl
}

func TestRepoTemplateFunctions(t *testing.T) {
	tpl := loadRepo(t)
	tests := []struct {
		id      string
		codeURI string
		timeout int
		memory  int
	}{
		{"CreateFunction", "functions/create", 300, 256},
		// Longer than the service's longest exec (840 s) plus its margin;
		// through the HTTP API the 30 s integration timeout binds first.
		{"ExecuteFunction", "functions/execute", 900, 512},
		// The watch stores a task's new output.
		{"StatusFunction", "functions/status", 300, 256},
		{"DeleteFunction", "functions/delete", 120, 256},
		// A run lists every live record and sandbox of the deployment.
		{"ReaperFunction", "functions/reaper", 300, 256},
		// GitHub gives a delivery 10 s.
		{"GithubFunction", "functions/github", 10, 256},
	}
	var want []string
	for _, tt := range tests {
		want = append(want, tt.id)
		t.Run(tt.id, func(t *testing.T) {
			f, ok := tpl.Function(tt.id)
			if !ok {
				t.Fatalf("no function %s", tt.id)
			}
			checks := []struct {
				what      string
				got, want any
			}{
				{"CodeUri", f.CodeURI, tt.codeURI},
				{"Runtime", f.Runtime, "provided.al2023"},
				// Globals lists are prepended: a second arm64 in the function
				// would show up here.
				{"Architectures", strings.Join(f.Architectures, ","), "arm64"},
				{"Handler", f.Handler, "bootstrap"},
				{"Metadata.BuildMethod", f.BuildMethod, "go1.x"},
				{"BuildProperties.TrimGoPath", f.BuildProperties["TrimGoPath"], true},
				{"Timeout", f.Timeout, tt.timeout},
				{"MemorySize", f.MemorySize, tt.memory},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
				}
			}
		})
	}
	var got []string
	for _, f := range tpl.Functions() {
		got = append(got, f.LogicalID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("functions = %v, want exactly %v", got, want)
	}
}

func TestRepoTemplateRoutes(t *testing.T) {
	tpl := loadRepo(t)
	// The template wires exactly the routes internal/api serves, each to
	// the function whose code serves it (internal/api's own test holds
	// its table to docs/architecture.md's public contract).
	logicalID := map[string]string{} // "create" -> "CreateFunction"
	for _, f := range tpl.Functions() {
		logicalID[strings.TrimPrefix(f.CodeURI, "functions/")] = f.LogicalID
	}
	want := map[string]string{}
	for fn, keys := range apihandlers.Routes() {
		for _, key := range keys {
			want[key] = logicalID[fn]
		}
	}

	routes := tpl.Routes()
	got := map[string]string{}
	for _, r := range routes {
		got[r.Key()] = r.Function
	}
	if len(routes) != len(got) {
		t.Errorf("%d routes but %d distinct keys: %v", len(routes), len(got), routes)
	}
	if !maps.Equal(got, want) {
		t.Errorf("routes:\n got  %v\n want %v", got, want)
	}

	api, ok := tpl.HTTPAPI("HttpApi")
	if !ok {
		t.Fatalf("no HttpApi resource named HttpApi; APIs: %v", tpl.HTTPAPIs())
	}
	if n := len(tpl.HTTPAPIs()); n != 1 {
		t.Errorf("%d HTTP APIs, want 1 (an event without ApiId would add SAM's implicit API)", n)
	}
	for _, r := range routes {
		t.Run(r.Key(), func(t *testing.T) {
			if r.API != api.LogicalID {
				t.Errorf("API = %q, want %q", r.API, api.LogicalID)
			}
			if r.PayloadFormatVersion != "2.0" {
				t.Errorf("PayloadFormatVersion = %q, want 2.0", r.PayloadFormatVersion)
			}
			switch public := apihandlers.RoutePublic(r.Key()); {
			case public && r.Authorizer != "":
				t.Errorf("Authorizer = %q, want none: the route checks its caller itself", r.Authorizer)
			case !public && (r.Authorizer == "" || r.Authorizer != api.DefaultAuthorizer):
				t.Errorf("Authorizer = %q, want the API's default %q", r.Authorizer, api.DefaultAuthorizer)
			}
			if r.TimeoutMillis < 0 || r.TimeoutMillis > 30000 {
				t.Errorf("TimeoutInMillis = %d; HTTP API integrations allow at most 30000", r.TimeoutMillis)
			}
		})
	}
}

func TestRepoTemplateJWTAuthorizer(t *testing.T) {
	tpl := loadRepo(t)
	api, ok := tpl.HTTPAPI("HttpApi")
	if !ok {
		t.Fatal("no HttpApi")
	}
	if api.DefaultAuthorizer == "" {
		t.Fatal("HttpApi has no DefaultAuthorizer")
	}
	a, ok := api.Authorizers[api.DefaultAuthorizer]
	if !ok {
		t.Fatalf("default authorizer %q not among %v", api.DefaultAuthorizer, api.Authorizers)
	}
	checks := []struct {
		what      string
		got, want string
	}{
		{"Type", a.Type, "JWT"},
		{"Issuer (from JwtIssuer)", a.Issuer, sentinels["JwtIssuer"]},
		{"Audience (from JwtAudience)", strings.Join(a.Audience, ","), sentinels["JwtAudience"]},
		{"IdentitySource", strings.Join(a.IdentitySource, ","), "$request.header.Authorization"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
}

// requiredEnv are the variables internal/config reads.
var requiredEnv = []string{
	"TABLE_NAME", "DAYTONA_API_URL", "DAYTONA_TARGET", "DAYTONA_API_KEY_REF",
	"DEFAULT_USER_QUOTA", "DEFAULT_AUTO_STOP_MINUTES", "DEFAULT_TTL_MINUTES",
	"MAX_BODY_BYTES", "EXEC_TIMEOUT_MARGIN", "DEFAULT_EXEC_TIMEOUT_SECONDS",
	"MAX_OUTPUT_BYTES", "LOG_LEVEL", "LOG_FORMAT", "IDEMPOTENCY_TTL",
}

// secretRef reports whether v is a secret reference rather than a value.
func secretRef(v string) bool {
	return strings.HasPrefix(v, "ssm:/") || strings.HasPrefix(v, "secretsmanager:")
}

// rawSecret reports whether an environment variable looks like it carries a
// secret value: the Daytona key by its own name, or a *_TOKEN, *_SECRET,
// *_PASSWORD or *_API_KEY variable whose value is not a reference.
func rawSecret(name, value string) bool {
	if name == "DAYTONA_API_KEY" {
		return true
	}
	for _, suffix := range []string{"_TOKEN", "_SECRET", "_PASSWORD", "_API_KEY", "_PRIVATE_KEY"} {
		if strings.HasSuffix(name, suffix) {
			return !secretRef(value)
		}
	}
	if strings.HasSuffix(name, "_REF") {
		// Empty: no reference (an optional one, e.g. PRICE_TABLE_REF).
		return value != "" && !secretRef(value)
	}
	return false
}

func TestRawSecret(t *testing.T) {
	tests := []struct {
		name, value string
		want        bool
	}{
		{"DAYTONA_API_KEY", "dtn_abc", true},
		{"DAYTONA_API_KEY", "ssm:/sandstep/key", true}, // the name alone is forbidden
		{"GITHUB_TOKEN", "ghp_abc", true},
		{"GITHUB_TOKEN", "ssm:/sandstep/gh", false},
		{"WEBHOOK_SECRET", "hunter2", true},
		{"WEBHOOK_SECRET", "secretsmanager:sandstep/webhook", false},
		{"DB_PASSWORD", "", true},
		{"OPENAI_API_KEY", "sk-abc", true},
		{"DAYTONA_API_KEY_REF", "ssm:/sandstep/key", false},
		{"DAYTONA_API_KEY_REF", "dtn_abc", true}, // a reference variable holding a value
		{"PRICE_TABLE_REF", "", false},           // none given
		{"TABLE_NAME", "SandboxTable", false},
		{"MAX_OUTPUT_BYTES", "1048576", false},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			if got := rawSecret(tt.name, tt.value); got != tt.want {
				t.Errorf("rawSecret(%q, %q) = %v, want %v", tt.name, tt.value, got, tt.want)
			}
		})
	}
}

func TestRepoTemplateEnvironment(t *testing.T) {
	tpl := loadRepo(t)
	table, err := tpl.TableLogicalID()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tpl.Functions() {
		t.Run(f.LogicalID, func(t *testing.T) {
			for _, name := range requiredEnv {
				if _, ok := f.Environment[name]; !ok {
					t.Errorf("environment lacks %s (has %v)", name, f.EnvNames())
				}
			}
			for _, name := range f.EnvNames() {
				if rawSecret(name, f.Environment[name]) {
					t.Errorf("%s looks like a secret value in the environment; pass a ssm:/ or secretsmanager: reference", name)
				}
			}
			fixed := []struct {
				name, want, why string
			}{
				{"TABLE_NAME", table, "Ref to the table"},
				{"DAYTONA_API_KEY_REF", "ssm:" + sentinels["DaytonaApiKeyParameter"], "ssm: reference to DaytonaApiKeyParameter"},
				{"DAYTONA_API_URL", sentinels["DaytonaApiUrl"], "Ref to DaytonaApiUrl"},
				{"DRAIN_PARAMETER", sentinels["DrainParameter"], "Ref to DrainParameter"},
				{"DEFAULT_USER_QUOTA", sentinels["DefaultUserQuota"], "Ref to DefaultUserQuota, as a string"},
				{"LOG_FORMAT", "json", "CloudWatch-friendly logs"},
			}
			for _, c := range fixed {
				if got := f.Environment[c.name]; got != c.want {
					t.Errorf("%s = %q, want %q (%s)", c.name, got, c.want, c.why)
				}
			}
		})
	}
}

func TestRepoTemplatePolicies(t *testing.T) {
	tpl := loadRepo(t)
	const (
		tableARN  = "${SandboxTable.Arn}"
		indexARN  = "${SandboxTable.Arn}/index/GSI1"
		liveARN   = "${SandboxTable.Arn}/index/Live"
		keyARN    = "arn:aws:ssm:us-east-1:123456789012:parameter/sentinel/daytona-key"
		paramsARN = "arn:aws:ssm:us-east-1:123456789012:parameter/sentinel/secrets/*"
		smARN     = "arn:aws:secretsmanager:us-east-1:123456789012:secret:sentinel-sm/*"
		// The drain switch: read by the functions that admit new work.
		drainARN = "arn:aws:ssm:us-east-1:123456789012:parameter/sentinel/drain"
		// The functions that show a task's cost read the price table.
		pricesARN = "arn:aws:ssm:us-east-1:123456789012:parameter/sentinel/prices"
		kmsARN    = "arn:aws:kms:us-east-1:123456789012:key/*"
		viaSSM    = "ssm.us-east-1.amazonaws.com"
		viaSM     = "secretsmanager.us-east-1.amazonaws.com"
		objects   = "${TaskBucket.Arn}/tasks/*"
		bucket    = "${TaskBucket.Arn}"
		machine   = "arn:aws:states:us-east-1:123456789012:stateMachine:sandstep-local-tasks"
		runs      = "arn:aws:states:us-east-1:123456789012:execution:sandstep-local-tasks:*"
		// Every function reads the App's key at cold start: issues' tasks'
		// steps and clean-up act as the App.
		appKeyARN = "arn:aws:ssm:us-east-1:123456789012:parameter/sandstep/github/app-key"
		hookARN   = "arn:aws:ssm:us-east-1:123456789012:parameter/sandstep/github/webhook-secret"
		// Readers of repositories' tasks are in the repositories document.
		configARN = "arn:aws:ssm:us-east-1:123456789012:parameter/sandstep/github/config"
	)
	// Every function deletes an item: the POST routes free a failed
	// attempt's idempotency record, and whichever ends an issue's task
	// (store.TransitionTask) deletes its issue's claim in the same write.
	items := []string{"dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
	grant := func(actions []string, resources ...string) map[string][]string {
		m := map[string][]string{}
		for _, a := range actions {
			m[a] = resources
		}
		return m
	}
	merge := func(ms ...map[string][]string) map[string][]string {
		out := map[string][]string{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = append(out[k], v...)
			}
		}
		return out
	}
	withSecrets := merge(
		grant(items, tableARN),
		grant([]string{"ssm:GetParameter"}, keyARN, appKeyARN, paramsARN),
		grant([]string{"secretsmanager:GetSecretValue"}, smARN),
		grant([]string{"kms:Decrypt"}, kmsARN),
	)
	// Every function serves task steps: a task's spec, output and
	// artifacts, under tasks/ only.
	taskObjects := merge(
		grant([]string{"s3:GetObject", "s3:PutObject"}, objects),
		grant([]string{"s3:ListBucket"}, bucket),
	)
	tests := []struct {
		id      string
		want    map[string][]string // action -> resources
		viaKMS  []string            // allowed kms:ViaService values
		comment string
	}{
		{"CreateFunction", merge(withSecrets, taskObjects, grant([]string{"states:StartExecution"}, machine), grant([]string{"ssm:GetParameter"}, drainARN)),
			[]string{viaSSM, viaSM}, "resolves secretEnv and git tokens; starts tasks"},
		{"ExecuteFunction", merge(withSecrets, taskObjects, grant([]string{"ssm:GetParameter"}, drainARN)), []string{viaSSM, viaSM}, "agent/execute creates, runs and deletes"},
		{"StatusFunction", merge(
			grant(items, tableARN),
			grant([]string{"dynamodb:Query"}, indexARN, tableARN),
			grant([]string{"ssm:GetParameter"}, keyARN, appKeyARN, configARN, pricesARN),
			grant([]string{"kms:Decrypt"}, kmsARN),
			taskObjects,
			grant([]string{"states:SendTaskSuccess"}, machine),
		), []string{viaSSM}, "lists via GSI1; reads audit trails; marks lost sandboxes gone; wakes a task's watch; lets readers read"},
		{"DeleteFunction", merge(
			grant(items, tableARN),
			grant([]string{"ssm:GetParameter"}, keyARN, appKeyARN, configARN, paramsARN, pricesARN),
			grant([]string{"secretsmanager:GetSecretValue"}, smARN),
			grant([]string{"kms:Decrypt"}, kmsARN),
			taskObjects,
			grant([]string{"states:StopExecution"}, runs),
		), []string{viaSSM, viaSM}, "reads a task's notify.secretRef to sign its notice; stops a cancelled task's execution; tells the issue; lets readers cancel"},
		{"ReaperFunction", merge(
			grant(append(slices.Clone(items), "dynamodb:Scan", "dynamodb:Query"), tableARN),
			grant([]string{"dynamodb:Scan"}, liveARN),
			grant([]string{"ssm:GetParameter"}, keyARN, appKeyARN, paramsARN, pricesARN),
			grant([]string{"secretsmanager:GetSecretValue"}, smARN),
			grant([]string{"kms:Decrypt"}, kmsARN),
			taskObjects,
			grant([]string{"states:DescribeExecution"}, runs),
		), []string{viaSSM, viaSM}, "scans the live index, sweeps the table; stores a gone execution's last output; reads a task's notify.secretRef to sign the notices it retries; tells the issue"},
		{"GithubFunction", merge(
			grant(append(slices.Clone(items), "dynamodb:Query"), tableARN, indexARN),
			grant([]string{"ssm:GetParameter"}, keyARN, hookARN, configARN, appKeyARN, drainARN),
			grant([]string{"kms:Decrypt"}, kmsARN),
			grant([]string{"s3:GetObject", "s3:PutObject"}, objects),
			grant([]string{"states:StartExecution"}, machine),
			grant([]string{"states:StopExecution"}, runs),
		), []string{viaSSM}, "starts and cancels issues' tasks; reads no caller's secret"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			f, ok := tpl.Function(tt.id)
			if !ok {
				t.Fatalf("no function %s", tt.id)
			}
			if len(f.ManagedPolicies) != 0 {
				t.Errorf("managed policies or policy templates %v: grant inline, least privilege", f.ManagedPolicies)
			}
			got := map[string][]string{}
			for _, s := range f.Policies {
				if s.Effect != "Allow" {
					t.Errorf("statement %q: Effect %q", s.Sid, s.Effect)
				}
				for _, a := range s.Actions {
					if strings.Contains(a, "*") {
						t.Errorf("statement %q grants wildcard action %q", s.Sid, a)
					}
					if a == "dynamodb:TransactWriteItems" {
						t.Errorf("statement %q: dynamodb:TransactWriteItems is not an IAM action; grant the item actions", s.Sid)
					}
					got[a] = append(got[a], s.Resources...)
				}
				for _, r := range s.Resources {
					// The executions of one state machine are scoped; a
					// whole service's resources are not.
					if r == "*" || (strings.HasSuffix(r, ":*") && !strings.Contains(r, ":execution:")) {
						t.Errorf("statement %q: Resource %q is not scoped", s.Sid, r)
					}
				}
				if slices.Contains(s.Actions, "kms:Decrypt") {
					via := viaServices(s.Condition)
					if len(via) == 0 {
						t.Errorf("statement %q: kms:Decrypt without a kms:ViaService condition", s.Sid)
					}
					for _, v := range via {
						if !slices.Contains(tt.viaKMS, v) {
							t.Errorf("statement %q: kms:ViaService %q, want only %v", s.Sid, v, tt.viaKMS)
						}
					}
				}
			}
			for a := range got {
				slices.Sort(got[a])
			}
			for a := range tt.want {
				slices.Sort(tt.want[a])
			}
			if !maps.EqualFunc(got, tt.want, slices.Equal[[]string]) {
				t.Errorf("grants (%s):\n got  %v\n want %v", tt.comment, got, tt.want)
			}
		})
	}
}

// viaServices returns the kms:ViaService values of a StringEquals condition.
func viaServices(cond map[string]any) []string {
	eq, _ := cond["StringEquals"].(map[string]any)
	return stringList(eq["kms:ViaService"])
}

// The status policy names GSI1 by hand; the table must have it.
func TestRepoTemplatePolicyIndexesExist(t *testing.T) {
	tpl := loadRepo(t)
	id, err := tpl.TableLogicalID()
	if err != nil {
		t.Fatal(err)
	}
	table, err := tpl.CloudFormation().GetDynamoDBTableWithName(id)
	if err != nil {
		t.Fatal(err)
	}
	indexes := map[string]bool{}
	for _, g := range table.GlobalSecondaryIndexes {
		indexes[g.IndexName] = true
	}
	prefix := "${" + id + ".Arn}/index/"
	granted := map[string]bool{}
	for _, f := range tpl.Functions() {
		for _, s := range f.Policies {
			for _, r := range s.Resources {
				name, ok := strings.CutPrefix(r, prefix)
				if ok && !indexes[name] {
					t.Errorf("%s statement %q grants on index %q, which %s does not have (%v)", f.LogicalID, s.Sid, name, id, indexes)
				}
				if ok {
					granted[name] = true
				}
			}
		}
	}
	// An index no function may read is a grant forgotten (or an index
	// nothing uses): a read of it is denied in AWS, not locally.
	for name := range indexes {
		if !granted[name] {
			t.Errorf("no function may read %s's index %q", id, name)
		}
	}
}

func TestRepoTemplateOutputs(t *testing.T) {
	tpl := loadRepo(t)
	table, err := tpl.TableLogicalID()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ApiUrl":             "https://HttpApi.execute-api.us-east-1.amazonaws.com",
		"TableName":          table,
		"CreateFunctionArn":  "${CreateFunction.Arn}",
		"ExecuteFunctionArn": "${ExecuteFunction.Arn}",
		"StatusFunctionArn":  "${StatusFunction.Arn}",
		"DeleteFunctionArn":  "${DeleteFunction.Arn}",
	}
	outs := tpl.Outputs()
	for name, value := range want {
		t.Run(name, func(t *testing.T) {
			o, ok := outs[name]
			if !ok {
				t.Fatalf("no output %s", name)
			}
			if o.Value != value {
				t.Errorf("value = %q, want %q", o.Value, value)
			}
		})
	}
}

// Every parameter default must satisfy the parameter's own constraints, or
// a deploy that relies on it fails.
func TestRepoTemplateParameterDefaults(t *testing.T) {
	tpl, err := Load(repoTemplate)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tpl.Parameters() {
		if !p.HasDefault {
			continue
		}
		t.Run(p.Name, func(t *testing.T) {
			if err := checkParameterValue(p, p.Default); err != nil {
				t.Error(err)
			}
		})
	}
}

// A parameter value the deploy accepts (AllowedPattern, AllowedValues,
// Type) is one every function accepts at cold start, and the other way
// round: else the stack deploys functions that never start (app.Main exits
// at init). ReaperSchedule's also keeps out what EventBridge refuses (a
// rate's unit singular for 1, plural otherwise), or the deploy fails at the
// rule after the functions. One rule the template cannot hold: each of
// SecretsSharedPrefixes must lie under SecretsPathPrefix or
// SecretsManagerPrefix (CloudFormation's Rules have no "starts with"); the
// parameter's Description and the README say so.
func TestRepoTemplateParametersAreConfigs(t *testing.T) {
	tests := []struct {
		param, value string
		ok           bool
	}{
		{"ReaperSchedule", "rate(5 minutes)", true}, {"ReaperSchedule", "rate(1 minute)", true},
		{"ReaperSchedule", "rate(1 hour)", true}, {"ReaperSchedule", "rate(2 days)", true},
		{"ReaperSchedule", "rate(999999 minutes)", true}, {"ReaperSchedule", "cron(0/5 * * * ? *)", true},
		{"ReaperSchedule", "rate(1 minutes)", false}, {"ReaperSchedule", "rate(5 minute)", false},
		{"ReaperSchedule", "rate(1 days)", false}, {"ReaperSchedule", "rate(10 hour)", false},
		{"ReaperSchedule", "rate(0 minutes)", false}, {"ReaperSchedule", "rate(05 minutes)", false},
		{"ReaperSchedule", "rate(1000000 days)", false}, {"ReaperSchedule", "rate(5 weeks)", false},
		{"ReaperSchedule", "cron(0 12 * * ?)", false}, {"ReaperSchedule", "cron(0 12 * * ? * *)", false},
		{"ReaperSchedule", "every 5 minutes", false},
		{"MetricsNamespace", "sandstep-staging", true}, {"MetricsNamespace", "AWS", true},
		{"MetricsNamespace", "AWSX/sandstep", true}, {"MetricsNamespace", "Custom/AWS/x", true},
		{"MetricsNamespace", strings.Repeat("n", 255), true}, {"MetricsNamespace", "AWS/Sandstep", false},
		{"MetricsNamespace", "AWS/", false}, {"MetricsNamespace", strings.Repeat("n", 256), false},
		{"SecretsManagerPrefix", "sandstep/", true}, {"SecretsManagerPrefix", "team/sandstep/", true},
		{"SecretsManagerPrefix", "sandstep", false}, {"SecretsManagerPrefix", "/", false},
		{"DaytonaApiUrl", "https://daytona.internal:3000/api", true},
		{"DaytonaApiUrl", "http://daytona.internal:3000/api", false},
		{"GitHubAppId", "", true}, {"GitHubAppId", "123456", true}, {"GitHubAppId", "999999999999999", true},
		{"GitHubAppId", "0", false}, {"GitHubAppId", "99999999999999999", false},
		{"DefaultUserQuota", "1", true}, {"DefaultUserQuota", "1000", true},
		{"DefaultUserQuota", "2.5", false}, {"DefaultUserQuota", "0", false}, {"DefaultUserQuota", "1001", false},
		{"GitHubRepoQuota", "2", true}, {"GitHubRepoQuota", "2.5", false},
	}
	for _, tt := range tests {
		t.Run(tt.param+"="+tt.value, func(t *testing.T) {
			tpl, _ := deployedTemplate(t, map[string]string{tt.param: tt.value})
			i := slices.IndexFunc(tpl.Parameters(), func(p Parameter) bool { return p.Name == tt.param })
			if i < 0 {
				t.Fatalf("no parameter %s", tt.param)
			}
			deploys := checkParameterValue(tpl.Parameters()[i], tt.value)
			var starts error
			for _, f := range tpl.Functions() {
				env := maps.Clone(f.Environment)
				if tt.param == "ReaperSchedule" {
					// The rule takes it, not the functions; config
					// checks it as the local stack's REAPER_SCHEDULE.
					env["REAPER_SCHEDULE"] = tt.value
				}
				if _, err := config.Load(func(k string) string { return env[k] }); err != nil {
					starts = fmt.Errorf("%s: %w", f.LogicalID, err)
					break
				}
			}
			if (deploys == nil) != tt.ok || (starts == nil) != tt.ok {
				t.Errorf("the template refuses it: %v; the functions: %v; want accepted: %v", deploys, starts, tt.ok)
			}
		})
	}
}

// Each function's environment, as deployed with the parameter defaults (and
// the samconfig placeholders), must pass internal/config: a value the
// functions would refuse at cold start fails here instead. A Ref to a
// resource (TABLE_NAME) stands in as the resource's logical id. Every
// variable the template sets must be one of config's: anything else would
// be ignored by the functions, or read without being documented.
func TestRepoTemplateEnvironmentPassesConfig(t *testing.T) {
	tpl, err := Load(repoTemplate, WithParameters(map[string]string{
		"JwtIssuer": "https://issuer.example.com/", "JwtAudience": "sandstep-api",
	}))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, v := range config.Vars() {
		known[v.Name] = true
	}
	for _, f := range tpl.Functions() {
		t.Run(f.LogicalID, func(t *testing.T) {
			for _, name := range f.EnvNames() {
				if !known[name] {
					t.Errorf("the template sets %s, which is not a variable of internal/config (vars.go)", name)
				}
			}
			env := maps.Clone(f.Environment)
			c, err := config.Load(func(k string) string { return env[k] })
			if err != nil {
				t.Fatalf("config.Load with the template's environment: %v", err)
			}
			if c.Local() {
				t.Error("the deployed environment must not select the local stack")
			}
			// The longest exec must end before the function that runs it does.
			if limit := time.Duration(f.Timeout) * time.Second; f.LogicalID == "ExecuteFunction" && c.MaxExecTimeout+c.ExecTimeoutMargin > limit {
				t.Errorf("MAX_EXEC_TIMEOUT_SECONDS (%s) + EXEC_TIMEOUT_MARGIN (%s) exceed the function Timeout %s",
					c.MaxExecTimeout, c.ExecTimeoutMargin, limit)
			}
		})
	}
}

// PriceTableParameter reaches exactly the functions that show a task's
// cost, as a reference with its grant; left empty, they get no reference
// and no grant, and use the built-in prices.
func TestRepoTemplatePriceTable(t *testing.T) {
	readers := []string{"StatusFunction", "DeleteFunction", "ReaperFunction"}
	for _, tt := range []struct {
		name, param, wantEnv string
	}{
		{"given", "/sentinel/prices", "ssm:/sentinel/prices"},
		{"empty", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			params := maps.Clone(sentinels)
			params["PriceTableParameter"] = tt.param
			tpl, err := Load(repoTemplate, WithParameters(params))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range tpl.Functions() {
				reads := slices.Contains(readers, f.LogicalID)
				want := ""
				if reads {
					want = tt.wantEnv
				}
				if got := f.Environment["PRICE_TABLE_REF"]; got != want {
					t.Errorf("%s: PRICE_TABLE_REF = %q, want %q", f.LogicalID, got, want)
				}
				granted := false
				for _, st := range f.Policies {
					for _, r := range st.Resources {
						granted = granted || strings.HasSuffix(r, ":parameter/sentinel/prices")
					}
					if st.Sid == "PriceTable" && tt.param == "" {
						t.Errorf("%s: the PriceTable statement is there with no parameter", f.LogicalID)
					}
				}
				if granted != (reads && tt.param != "") {
					t.Errorf("%s: price table granted = %v", f.LogicalID, granted)
				}
			}
		})
	}
}
