package samtemplate

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// checkParameterValue checks v against p's constraints as CloudFormation
// would (AllowedPattern must match the whole value).
func checkParameterValue(p Parameter, v string) error {
	if p.AllowedPattern != "" {
		re, err := regexp.Compile(`^(?:` + p.AllowedPattern + `)$`)
		if err != nil {
			return fmt.Errorf("parameter %s: AllowedPattern %q: %v", p.Name, p.AllowedPattern, err)
		}
		if !re.MatchString(v) {
			return fmt.Errorf("parameter %s: %q does not match AllowedPattern %q", p.Name, v, p.AllowedPattern)
		}
	}
	if len(p.AllowedValues) > 0 && !slices.Contains(p.AllowedValues, v) {
		return fmt.Errorf("parameter %s: %q is not one of %v", p.Name, v, p.AllowedValues)
	}
	if p.Type == "Number" {
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return fmt.Errorf("parameter %s: %q is not a number", p.Name, v)
		}
	}
	return nil
}

func TestCheckParameterValue(t *testing.T) {
	prefix := Parameter{Name: "SecretsPathPrefix", Type: "String", AllowedPattern: "(/[A-Za-z0-9_.-]+)+/"}
	level := Parameter{Name: "LogLevel", Type: "String", AllowedValues: []string{"debug", "info"}}
	quota := Parameter{Name: "DefaultUserQuota", Type: "Number"}
	tests := []struct {
		name    string
		p       Parameter
		v       string
		wantErr bool
	}{
		{"pattern ok", prefix, "/sandstep/secrets/", false},
		{"pattern must match whole value", prefix, "x/sandstep/secrets/", true},
		{"pattern missing trailing slash", prefix, "/sandstep/secrets", true},
		{"allowed value", level, "info", false},
		{"not an allowed value", level, "verbose", true},
		{"number", quota, "5", false},
		{"not a number", quota, "five", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkParameterValue(tt.p, tt.v)
			if (err != nil) != tt.wantErr {
				t.Errorf("checkParameterValue(%s, %q) = %v, want error %v", tt.p.Name, tt.v, err, tt.wantErr)
			}
		})
	}
}

var overridePair = regexp.MustCompile(`([A-Za-z0-9]+)=(?:"((?:[^"\\]|\\.)*)"|(\S+))`)

// parseOverrides reads SAM CLI's parameter_overrides string:
// Key="value" Key2=value2.
func parseOverrides(s string) (map[string]string, error) {
	out := map[string]string{}
	rest := strings.TrimSpace(s)
	for rest != "" {
		loc := overridePair.FindStringSubmatchIndex(rest)
		if loc == nil || loc[0] != 0 {
			return nil, fmt.Errorf("cannot parse parameter_overrides near %q", rest)
		}
		m := overridePair.FindStringSubmatch(rest)
		v := m[3]
		if loc[4] >= 0 {
			v = strings.ReplaceAll(m[2], `\"`, `"`)
		}
		out[m[1]] = v
		rest = strings.TrimSpace(rest[loc[1]:])
	}
	return out, nil
}

func TestParseOverrides(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]string
		wantErr bool
	}{
		{`A="x" B=y`, map[string]string{"A": "x", "B": "y"}, false},
		{`A="with space" B="a,b"`, map[string]string{"A": "with space", "B": "a,b"}, false},
		{`A="q\"uote"`, map[string]string{"A": `q"uote`}, false},
		{``, map[string]string{}, false},
		{`A= x`, nil, true},
		{`just words`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseOverrides(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// samconfig.toml is what `make deploy` runs with: it must name the stack,
// allow IAM, and give every parameter the template needs a valid value.
func TestSamconfig(t *testing.T) {
	var cfg map[string]any
	if _, err := toml.DecodeFile("../../samconfig.toml", &cfg); err != nil {
		t.Fatalf("samconfig.toml: %v", err)
	}
	get := func(path ...string) any {
		var cur any = cfg
		for _, p := range path {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[p]
		}
		return cur
	}
	fixed := []struct {
		path []string
		want any
	}{
		{[]string{"version"}, 0.1},
		{[]string{"default", "global", "parameters", "stack_name"}, "sandstep"},
		{[]string{"default", "build", "parameters", "cached"}, false},
		{[]string{"default", "build", "parameters", "parallel"}, true},
		{[]string{"default", "deploy", "parameters", "capabilities"}, "CAPABILITY_IAM"},
		{[]string{"default", "deploy", "parameters", "resolve_s3"}, true},
		{[]string{"default", "deploy", "parameters", "confirm_changeset"}, true},
	}
	for _, f := range fixed {
		if got := get(f.path...); got != f.want {
			t.Errorf("%s = %v, want %v", strings.Join(f.path, "."), got, f.want)
		}
	}

	tpl, err := Load(repoTemplate)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]Parameter{}
	for _, p := range tpl.Parameters() {
		params[p.Name] = p
	}
	for _, section := range [][2]string{{"default", "deploy"}, {"default", "local_invoke"}, {"default", "local_start_api"}, {"staging", "deploy"}} {
		t.Run(section[0]+"."+section[1], func(t *testing.T) {
			raw, _ := get(section[0], section[1], "parameters", "parameter_overrides").(string)
			overrides, err := parseOverrides(raw)
			if err != nil {
				t.Fatal(err)
			}
			for name, v := range overrides {
				p, ok := params[name]
				if !ok {
					t.Errorf("override %s: the template has no such parameter", name)
					continue
				}
				if err := checkParameterValue(p, v); err != nil {
					t.Error(err)
				}
			}
			for _, p := range params {
				if _, ok := overrides[p.Name]; !ok && !p.HasDefault {
					t.Errorf("parameter %s has no default and no override in [%s.%s.parameters]", p.Name, section[0], section[1])
				}
			}
			if _, err := Load(repoTemplate, WithParameters(overrides)); err != nil {
				t.Errorf("template with these overrides: %v", err)
			}
		})
	}
}

// The Makefile builds functions/<name> for the template's <Name>Function;
// the two lists must agree.
func TestMakefileFunctions(t *testing.T) {
	data, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^FUNCTIONS \?= (.+)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("Makefile has no `FUNCTIONS ?= ...` line")
	}
	names := strings.Fields(string(m[1]))
	tpl, err := Load(repoTemplate)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range tpl.Functions() {
		name, ok := strings.CutPrefix(f.CodeURI, "functions/")
		if !ok || strings.Contains(name, "/") {
			t.Errorf("%s: CodeUri %q is not functions/<name>", f.LogicalID, f.CodeURI)
			continue
		}
		if id := strings.ToUpper(name[:1]) + name[1:] + "Function"; id != f.LogicalID {
			t.Errorf("CodeUri %s belongs to %s; make invoke-%s would call %s", f.CodeURI, f.LogicalID, name, id)
		}
		want = append(want, name)
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("Makefile FUNCTIONS = %v, template functions = %v", names, want)
	}
}

// The staging environment (`sam deploy --config-env staging`) is a stack
// of its own that shares nothing named with production: its stack (and so
// its table and bucket), and every SSM parameter and secrets prefix.
func TestSamconfigStaging(t *testing.T) {
	var cfg map[string]map[string]map[string]map[string]any
	if _, err := toml.DecodeFile("../../samconfig.toml", &cfg); err != nil {
		t.Fatalf("samconfig.toml: %v", err)
	}
	stack := func(env string) any { return cfg[env]["global"]["parameters"]["stack_name"] }
	if stack("staging") != "sandstep-staging" || stack("staging") == stack("default") {
		t.Errorf("staging stack_name = %v (production's %v), want sandstep-staging", stack("staging"), stack("default"))
	}
	for _, key := range []string{"capabilities", "resolve_s3"} {
		if got, want := cfg["staging"]["deploy"]["parameters"][key], cfg["default"]["deploy"]["parameters"][key]; got != want {
			t.Errorf("staging deploy %s = %v, want production's %v", key, got, want)
		}
	}
	tpl, err := Load(repoTemplate)
	if err != nil {
		t.Fatal(err)
	}
	values := func(env string) map[string]string {
		raw, _ := cfg[env]["deploy"]["parameters"]["parameter_overrides"].(string)
		overrides, err := parseOverrides(raw)
		if err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		out := map[string]string{}
		for _, p := range tpl.Parameters() {
			out[p.Name] = p.Default
			if v, ok := overrides[p.Name]; ok {
				out[p.Name] = v
			}
		}
		return out
	}
	prod, staging := values("default"), values("staging")
	named := 0
	for name, v := range staging {
		if !strings.HasSuffix(name, "Parameter") && !strings.HasSuffix(name, "Prefix") {
			continue
		}
		named++
		if v == prod[name] && v != "" { // empty: an optional one, set in neither
			t.Errorf("%s = %q in staging and in production", name, v)
		}
	}
	if named < 5 {
		t.Errorf("only %d named parameters compared", named)
	}
	// Metrics namespaces too: the metrics' dimensions do not name the
	// stack, so alarms and dashboards select by namespace, and a shared one
	// would count each stack's faults in the other's alarms.
	if prod["MetricsNamespace"] == staging["MetricsNamespace"] {
		t.Errorf("MetricsNamespace = %q in staging and in production: each stack's alarms count the other's metrics", prod["MetricsNamespace"])
	}
	for _, name := range []string{"JwtIssuer", "JwtAudience"} {
		if staging[name] == "" {
			t.Errorf("staging sets no %s", name)
		}
	}
}
