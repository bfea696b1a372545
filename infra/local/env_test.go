package local

import (
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sandstep/sandstep/infra/samtemplate"
	"github.com/sandstep/sandstep/internal/config"
)

func loadTemplate(t *testing.T) *samtemplate.Template {
	t.Helper()
	tpl, err := samtemplate.Load(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func TestEnvironmentLayers(t *testing.T) {
	tpl := loadTemplate(t)
	ep := endpoints{dynamoDB: "http://127.0.0.1:18000", daytona: "http://127.0.0.1:13003/api", github: "http://127.0.0.1:13005"}
	tmplEnv, _ := tpl.Function("CreateFunction")

	cases := []struct {
		name string
		user map[string]string
		ep   endpoints
		want map[string]string // "" means unset
		note string            // a substring of a note, if one is expected
	}{
		{
			name: "template values, then local settings",
			ep:   ep,
			want: map[string]string{
				"DEFAULT_USER_QUOTA":           tmplEnv.Environment["DEFAULT_USER_QUOTA"],
				"DEFAULT_EXEC_TIMEOUT_SECONDS": tmplEnv.Environment["DEFAULT_EXEC_TIMEOUT_SECONDS"],
				"TABLE_NAME":                   "SandboxTable",
				"LOG_FORMAT":                   "text",
				"SANDSTEP_ENV":                 "local",
				"DYNAMODB_ENDPOINT":            ep.dynamoDB,
				"DAYTONA_API_URL":              ep.daytona,
				"DAYTONA_API_KEY":              LocalDaytonaKey,
				"DAYTONA_API_KEY_REF":          "",
				"AWS_REGION":                   DefaultRegion,
				"AWS_EC2_METADATA_DISABLED":    "true",
				"GITHUB_API_URL":               ep.github,
			},
		},
		{
			name: "the GitHub stand-in wins over the user's GitHub",
			user: map[string]string{"GITHUB_API_URL": "https://api.github.com"},
			ep:   ep,
			want: map[string]string{"GITHUB_API_URL": ep.github},
			note: "GITHUB_API_URL",
		},
		{
			name: "the user's values win by the same names as in AWS",
			user: map[string]string{"DEFAULT_USER_QUOTA": "3", "LOG_FORMAT": "json", "LOG_LEVEL": "debug", "TABLE_NAME": "Mine", "AWS_REGION": "eu-west-1"},
			ep:   ep,
			want: map[string]string{"DEFAULT_USER_QUOTA": "3", "LOG_FORMAT": "json", "LOG_LEVEL": "debug", "TABLE_NAME": "Mine", "AWS_REGION": "eu-west-1"},
		},
		{
			name: "the stack's endpoints win over the user's",
			user: map[string]string{"DYNAMODB_ENDPOINT": "http://elsewhere:1", "SANDSTEP_ENV": "aws"},
			ep:   ep,
			want: map[string]string{"DYNAMODB_ENDPOINT": ep.dynamoDB, "SANDSTEP_ENV": "local"},
			note: "DYNAMODB_ENDPOINT",
		},
		{
			name: "a Daytona URL without a key is ignored",
			user: map[string]string{"DAYTONA_API_URL": "https://daytona.example/api"},
			ep:   ep,
			want: map[string]string{"DAYTONA_API_URL": ep.daytona, "DAYTONA_API_KEY": LocalDaytonaKey},
			note: "DAYTONA_API_URL",
		},
		{
			name: "a real Daytona key selects the real Daytona",
			user: map[string]string{"DAYTONA_API_KEY": "real-key"},
			ep:   endpoints{dynamoDB: ep.dynamoDB, github: ep.github},
			want: map[string]string{"DAYTONA_API_KEY": "real-key", "DAYTONA_API_KEY_REF": "", "DAYTONA_API_URL": config.DefaultDaytonaAPIURL, "DAYTONA_TARGET": "us"},
		},
		{
			name: "a real Daytona at the user's URL and target",
			user: map[string]string{"DAYTONA_API_KEY": "real-key", "DAYTONA_API_URL": "https://daytona.example/api", "DAYTONA_TARGET": "eu"},
			ep:   endpoints{dynamoDB: ep.dynamoDB, github: ep.github},
			want: map[string]string{"DAYTONA_API_URL": "https://daytona.example/api", "DAYTONA_TARGET": "eu"},
		},
		{
			name: "a key reference selects the real Daytona too",
			user: map[string]string{"DAYTONA_API_KEY_REF": "ssm:/my/key"},
			ep:   endpoints{dynamoDB: ep.dynamoDB, github: ep.github},
			want: map[string]string{"DAYTONA_API_KEY": "", "DAYTONA_API_KEY_REF": "ssm:/my/key"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := usesRealDaytona(envMap(c.user)); got != (c.ep.daytona == "") {
				t.Fatalf("usesRealDaytona = %v for %v", got, c.user)
			}
			e := newEnvironment(tpl, envMap(c.user), c.ep)
			for k, want := range c.want {
				if got := e.Getenv(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			notes := strings.Join(e.notes, "\n")
			if c.note != "" && !strings.Contains(notes, c.note) {
				t.Errorf("notes %q lack %q", notes, c.note)
			}
			if c.note == "" && notes != "" {
				t.Errorf("unexpected notes: %s", notes)
			}
			// Whatever the layers, the result is a valid local configuration
			// (a key reference aside, which config accepts as well).
			cfg, err := config.Load(e.Getenv)
			if err != nil {
				t.Fatalf("config.Load: %v", err)
			}
			if !cfg.Local() {
				t.Errorf("Env = %q, want local", cfg.Env)
			}
		})
	}
}

func TestFunctionResolution(t *testing.T) {
	tpl := loadTemplate(t)
	handlers := map[string]lambda.Handler{}
	for _, f := range tpl.Functions() {
		handlers[strings.TrimPrefix(f.CodeURI, "functions/")] = nil
	}
	fs, err := newFunctions(tpl, DefaultRegion, handlers)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, qualifier string
		want            string // logical id; "" = not found
	}{
		{"CreateFunction", "", "CreateFunction"},
		{"create", "", "CreateFunction"},
		{"create", "$LATEST", "CreateFunction"},
		{"create:$LATEST", "", "CreateFunction"},
		{"arn:aws:lambda:us-east-1:123456789012:function:execute", "", "ExecuteFunction"},
		{"arn:aws:lambda:eu-west-1:123456789012:function:StatusFunction:$LATEST", "", "StatusFunction"},
		{"123456789012:function:delete", "", "DeleteFunction"},
		{"create", "live", "CreateFunction"},
		{"create:live", "", "CreateFunction"},
		{"create:live", "live", "CreateFunction"},
		{"arn:aws:lambda:us-east-1:123456789012:function:ReaperFunction:live", "", "ReaperFunction"},
		{"123456789012:function:delete:live", "", "DeleteFunction"},
		{"create", "other", ""},
		{"create:other", "", ""},
		{"create:live", "$LATEST", ""},
		{"arn:aws:lambda:us-east-1:123456789012:function:create:$LATEST", "other", ""},
		{"arn:aws:s3:::bucket", "", ""},
		{"nope", "", ""},
		{"Create", "", ""},
	}
	// Every function answers to its alias (template.yaml: AutoPublishAlias: live).
	for _, f := range tpl.Functions() {
		cases = append(cases, struct {
			name, qualifier string
			want            string
		}{f.LogicalID, f.AutoPublishAlias, f.LogicalID})
	}
	for _, c := range cases {
		f, ok := fs.resolve(c.name, c.qualifier)
		got := ""
		if ok {
			got = f.LogicalID
		}
		if got != c.want {
			t.Errorf("resolve(%q, %q) = %q, want %q", c.name, c.qualifier, got, c.want)
		}
	}

	t.Run("a template function without a handler is an error", func(t *testing.T) {
		delete(handlers, "status")
		_, err := newFunctions(tpl, DefaultRegion, handlers)
		if err == nil || !strings.Contains(err.Error(), "StatusFunction") {
			t.Errorf("err = %v, want one naming StatusFunction", err)
		}
	})
}
