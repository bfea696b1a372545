package config

import (
	"log/slog"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Load must read every variable of the table and nothing else, so that a
// variable cannot be read without being documented.
func TestLoadReadsExactlyTheTable(t *testing.T) {
	read := map[string]bool{}
	getenv := env(nil)
	if _, err := Load(func(k string) string { read[k] = true; return getenv(k) }); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, v := range Vars() {
		want = append(want, v.Name)
	}
	got := slices.Sorted(maps.Keys(read))
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Load reads %v\nthe table has %v", got, want)
	}
}

var varName = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$`)

func TestVarsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range Vars() {
		t.Run(v.Name, func(t *testing.T) {
			if !varName.MatchString(v.Name) {
				t.Errorf("name %q is not UPPER_SNAKE_CASE", v.Name)
			}
			if seen[v.Name] {
				t.Errorf("listed twice")
			}
			seen[v.Name] = true
			if v.Meaning == "" || v.Format() == "" {
				t.Errorf("meaning %q, format %q: both must say something", v.Meaning, v.Format())
			}
			// Exactly one of: a default, required, or what unset means.
			n := 0
			for _, set := range []bool{v.Default != "", v.Required(), v.Unset != ""} {
				if set {
					n++
				}
			}
			if n != 1 {
				t.Errorf("Default %q, Required %v, Unset %q: want exactly one", v.Default, v.Required(), v.Unset)
			}
			if v.Default != "" && v.Default != strings.TrimSpace(v.Default) {
				t.Errorf("Default %q has surrounding white space, which Load would trim", v.Default)
			}
			if v.atMost != "" {
				i := position(v.atMost)
				if i < 0 || vars[i].kind.integer == nil || v.kind.integer == nil {
					t.Errorf("atMost %q: both must be integer variables of the table", v.atMost)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	want := Config{
		Env:                    EnvAWS,
		StackName:              "sandstep",
		DaytonaAPIURL:          "https://app.daytona.io/api",
		DaytonaCreateRate:      300,
		SecretsSSMPrefix:       "/sandstep/secrets/",
		SecretsManagerPrefix:   "sandstep/",
		DefaultUserQuota:       3,
		DefaultAutoStopMinutes: 15,
		DefaultTTLMinutes:      240,
		MaxTTLMinutes:          1440,
		MaxBodyBytes:           4194304,
		ExecTimeoutMargin:      3 * time.Second,
		DefaultExecTimeout:     60 * time.Second,
		MaxExecTimeout:         840 * time.Second,
		MaxOutputBytes:         1048576,
		LogLevel:               slog.LevelInfo,
		LogFormat:              "json",
		IdempotencyTTL:         24 * time.Hour,
		MaxTaskDuration:        12 * time.Hour,
		CapacityWait:           15 * time.Minute,
		ReaperSchedule:         "rate(5 minutes)",
		GitHubTriggerLabel:     "sandstep",
		GitHubTriggerCommand:   "/sandstep",
		GitHubRepoQuota:        2,
		GitHubQueueTimeout:     30 * time.Minute,
		GitHubAPIURL:           "https://api.github.com",
		AdminClaim:             "cognito:groups",
		AdminGroup:             "sandstep-admins",
		DrainParameter:         "/sandstep/drain",
		MetricsNamespace:       "sandstep",
		TaskBackstop:           10 * time.Minute,
		MaxTaskLogBytes:        1 << 30,
		TaskRetentionDays:      30,
		NotifyRetryFor:         24 * time.Hour,
	}
	got := Defaults()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Defaults():\n got %+v\nwant %+v", got, want)
	}
	// Load of an environment that sets only what has no default gives the
	// same configuration.
	loaded, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	got.TableName, got.DaytonaAPIKeyRef = loaded.TableName, loaded.DaytonaAPIKeyRef
	if !reflect.DeepEqual(got, loaded) {
		t.Fatalf("Defaults() and Load differ:\nDefaults %+v\n    Load %+v", got, loaded)
	}
}

// A non-default LOG_LEVEL proves the default is the table's, not the zero
// slog.Level that happens to be info.
func TestDefaultsAreTheTables(t *testing.T) {
	saved := vars
	t.Cleanup(func() { vars = saved })
	vars = slices.Clone(saved)
	i := position("LOG_LEVEL")
	vars[i].Default = "warn"
	if got := Defaults().LogLevel; got != slog.LevelWarn {
		t.Fatalf("LOG_LEVEL default warn gives %v", got)
	}
	vars[i].Default = "loud"
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "LOG_LEVEL") {
			t.Fatalf("a bad default: recovered %v, want a panic naming LOG_LEVEL", r)
		}
	}()
	Defaults()
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		want string
	}{
		{"SANDSTEP_ENV", "`aws` or `local` (any case)"},
		{"LOG_LEVEL", "`debug`, `info`, `warn` or `error` (any case)"},
		{"DEFAULT_USER_QUOTA", "integer, 1 to 1000"},
		{"DEFAULT_TTL_MINUTES", "integer, 1 to 10080 minutes, at most `MAX_TTL_MINUTES`"},
		{"DEFAULT_EXEC_TIMEOUT_SECONDS", "integer, 1 to 900 seconds, at most `MAX_EXEC_TIMEOUT_SECONDS`"},
		{"EXEC_TIMEOUT_MARGIN", "Go duration, 0s to 1m"},
		{"IDEMPOTENCY_TTL", "Go duration, 1m to 720h"},
		{"SECRETS_SSM_PREFIX", "starts with `/`, ends with `/`, not `/` alone, no `.` or `..` segment"},
		{"SECRETS_MANAGER_PREFIX", "ends with `/`, not `/` alone, no `.` or `..` segment"},
		{"DYNAMODB_ENDPOINT", "absolute http(s) URL without user (no `@`), query or fragment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := position(tt.name)
			if i < 0 {
				t.Fatalf("no variable %s", tt.name)
			}
			if got := vars[i].Format(); got != tt.want {
				t.Errorf("Format() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestShortDuration(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{"zero", 0, "0s"},
		{"seconds", 3 * time.Second, "3s"},
		{"whole minute", time.Minute, "1m"},
		{"minutes and seconds", 90 * time.Second, "1m30s"},
		{"whole hours", 720 * time.Hour, "720h"},
		{"hours and minutes", 90 * time.Minute, "1h30m"},
		{"ten seconds", 10 * time.Second, "10s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shortDuration(tt.d); got != tt.want {
				t.Errorf("shortDuration(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

func TestScheduleInterval(t *testing.T) {
	tests := []struct {
		expr string
		want time.Duration
		ok   bool
	}{
		{"rate(5 minutes)", 5 * time.Minute, true},
		{"rate(1 minute)", time.Minute, true},
		{"rate(2 hours)", 2 * time.Hour, true},
		{"rate(1 day)", 24 * time.Hour, true},
		{"cron(0/5 * * * ? *)", 0, false},
		{"rate(5 fortnights)", 0, false},
		{"rate(0 minutes)", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, ok := ScheduleInterval(tt.expr)
			if got != tt.want || ok != tt.ok {
				t.Errorf("ScheduleInterval(%q) = %v, %v; want %v, %v", tt.expr, got, ok, tt.want, tt.ok)
			}
			if valid := validSchedule(tt.expr); valid != (tt.ok || strings.HasPrefix(tt.expr, "cron")) {
				t.Errorf("REAPER_SCHEDULE accepts %q: %v", tt.expr, valid)
			}
		})
	}
}

// Each sized pattern must accept exactly what its counted regexp (the
// spelling it replaces) accepts, at and beyond its length limits.
func TestSizedMatchesCountedPattern(t *testing.T) {
	tests := []struct {
		name    string
		got     sized
		counted string
		fill    string // a character the class accepts
	}{
		{"command", commandRE, `^/[A-Za-z0-9_-]{1,40}$`, "a"},
		{"parameter", parameterRE, `^/[A-Za-z0-9_./-]{1,1000}$`, "a"},
		{"namespace", namespaceRE, `^[A-Za-z0-9._/#:-]{1,255}$`, "a"},
		{"stack name", stackNameRE, `^[A-Za-z][-A-Za-z0-9]{0,99}$`, "a"},
		{"claim", claimRE, `^[A-Za-z0-9][A-Za-z0-9:._-]{0,127}$`, "a"},
		{"group", groupRE, `^[^\s,\[\]]{1,128}$`, "é"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := regexp.MustCompile(tt.counted)
			inputs := []string{"", "/", "a", "-a", "/a b", "a,b", "a\nb", "/a\n", "AWS/x", "a:b", "a.b", "a#b", "a/b",
				"/a_b", "a-b", "9a", "[a]", "a\tb", "a\x00", "\xff", "é", "aé", "/-", "/.x"}
			for _, prefix := range []string{"", "/"} {
				for _, n := range []int{tt.got.max - 2, tt.got.max - 1, tt.got.max, tt.got.max + 1} {
					inputs = append(inputs, prefix+strings.Repeat(tt.fill, n))
				}
			}
			for _, in := range inputs {
				if g, w := tt.got.MatchString(in), want.MatchString(in); g != w {
					t.Errorf("%q (%d bytes): sized says %v, %s says %v", in, len(in), g, tt.counted, w)
				}
			}
		})
	}
}

// validSchedule must accept exactly what the pattern it replaces accepts,
// the template's ReaperSchedule pattern: a rate's unit singular for 1 and
// plural otherwise, as EventBridge wants.
func TestValidScheduleMatchesPattern(t *testing.T) {
	want := regexp.MustCompile(`^(rate\(1 (minute|hour|day)\)|rate\(([2-9]|[1-9][0-9]{1,5}) (minutes|hours|days)\)|cron\(\S+( \S+){5}\))$`)
	for _, in := range []string{
		"", "rate(1 minute)", "rate(5 minutes)", "rate(999999 days)", "rate(1000000 days)", "rate(0 days)", "rate(05 days)",
		"rate(1 minutes)", "rate(5 minute)", "rate(1 hours)", "rate(10 hour)", "rate(11 day)", "rate(100 days)", "rate(2 day)",
		"rate(1 hour)", "rate(2 hours)", "rate(1 day)", "rate(1 weeks)", "rate(1  days)", "rate(1 days))", "rate(1 days", "rate( 1 days)",
		"rate(1days)", "rate(-1 days)", "rate(١ days)", "xrate(1 days)", "rate(1 days) ",
		"cron(0 12 * * ? *)", "cron(0/5 8-17 ? * MON-FRI *)", "cron(0 12 * * ?)", "cron(0 12 * * ? * *)", "cron(0  12 * * ? *)",
		"cron(0 12 * * ? *))", "cron(0 12 * * ? *", "cron()", "cron( 0 12 * * ? *)", "cron(0 12 * * ? \t)", "cron(0\t12 * * ? * x)",
		"cron(a b c d e é)", "cron(a b c d e \xff)", "cron(a b c d e f)\n", "cron(a b c d e f) ", "xron(a b c d e f)", "(a b c d e f)", "a b c d e f", "Cron(a b c d e f)", "cron(a\vb c d e f g)",
	} {
		if got, w := validSchedule(in), want.MatchString(in); got != w {
			t.Errorf("validSchedule(%q) = %v, the pattern says %v", in, got, w)
		}
	}
}
