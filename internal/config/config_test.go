package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/secrets"
)

const testKey = "dtn_0123456789abcdef-LOCALKEY"

// env builds a getenv from a minimal valid AWS environment plus overrides;
// an override of "" unsets the variable.
func env(overrides map[string]string) func(string) string {
	m := map[string]string{
		"TABLE_NAME":          "sandstep",
		"DAYTONA_API_KEY_REF": "ssm:/sandstep/daytona-api-key",
	}
	for k, v := range overrides {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	got, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Env:                    EnvAWS,
		TableName:              "sandstep",
		StackName:              "sandstep",
		DaytonaAPIURL:          "https://app.daytona.io/api",
		DaytonaCreateRate:      300,
		DaytonaAPIKeyRef:       secrets.Ref{Scheme: secrets.SchemeSSM, Name: "/sandstep/daytona-api-key", Field: "DAYTONA_API_KEY_REF"},
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
		MaxOutputBytes:         1 << 20,
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
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", got, want)
	}
	if got.Local() {
		t.Error("Local() true by default")
	}
}

func TestLoadValid(t *testing.T) {
	cases := []struct {
		name  string
		env   map[string]string
		check func(c Config) bool
	}{
		{"local with plain key", map[string]string{"SANDSTEP_ENV": "local", "DAYTONA_API_KEY_REF": "", "DAYTONA_API_KEY": testKey},
			func(c Config) bool {
				return c.Local() && c.DaytonaAPIKey.Reveal() == testKey && c.DaytonaAPIKeyRef.IsZero()
			}},
		{"local with ref", map[string]string{"SANDSTEP_ENV": "LOCAL"},
			func(c Config) bool { return c.Env == EnvLocal && !c.DaytonaAPIKeyRef.IsZero() }},
		{"secretsmanager ref with key", map[string]string{"DAYTONA_API_KEY_REF": "secretsmanager:sandstep/daytona#apiKey"},
			func(c Config) bool {
				return c.DaytonaAPIKeyRef == secrets.Ref{Scheme: secrets.SchemeSecretsManager, Name: "sandstep/daytona", Key: "apiKey", Field: "DAYTONA_API_KEY_REF"}
			}},
		{"white space trimmed", map[string]string{"TABLE_NAME": "  t1 \n", "DEFAULT_USER_QUOTA": " 7 ", "DAYTONA_API_KEY_REF": " ssm:/k \n"},
			func(c Config) bool {
				return c.TableName == "t1" && c.DefaultUserQuota == 7 && c.DaytonaAPIKeyRef.Name == "/k"
			}},
		{"daytona url trailing slash", map[string]string{"DAYTONA_API_URL": "https://daytona.example.com/api/"},
			func(c Config) bool { return c.DaytonaAPIURL == "https://daytona.example.com/api" }},
		{"local stand-in over http", map[string]string{"SANDSTEP_ENV": "local", "DAYTONA_API_URL": "http://127.0.0.1:3003", "DYNAMODB_ENDPOINT": "http://127.0.0.1:8000"},
			func(c Config) bool {
				return c.DaytonaAPIURL == "http://127.0.0.1:3003" && c.DynamoDBEndpoint == "http://127.0.0.1:8000"
			}},
		{"loopback http allowed in aws env", map[string]string{"DAYTONA_API_URL": "http://localhost:3003/api"},
			func(c Config) bool { return c.DaytonaAPIURL == "http://localhost:3003/api" }},
		{"target", map[string]string{"DAYTONA_TARGET": "eu"}, func(c Config) bool { return c.DaytonaTarget == "eu" }},
		{"administrators by another claim", map[string]string{"ADMIN_CLAIM": "custom:roles", "ADMIN_GROUP": "ops"},
			func(c Config) bool { return c.AdminClaim == "custom:roles" && c.AdminGroup == "ops" }},
		{"local administrators", map[string]string{"SANDSTEP_ENV": "local", "LOCAL_ADMIN_USERS": " root , ops-1"},
			func(c Config) bool { return slices.Equal(c.LocalAdminUsers, []string{"root", "ops-1"}) }},
		{"bounds low", map[string]string{"DEFAULT_USER_QUOTA": "1", "DEFAULT_AUTO_STOP_MINUTES": "0", "DEFAULT_TTL_MINUTES": "1",
			"MAX_BODY_BYTES": "1024", "EXEC_TIMEOUT_MARGIN": "0s", "DEFAULT_EXEC_TIMEOUT_SECONDS": "1", "MAX_OUTPUT_BYTES": "1024", "IDEMPOTENCY_TTL": "1m"},
			func(c Config) bool {
				return c.DefaultUserQuota == 1 && c.DefaultAutoStopMinutes == 0 && c.DefaultTTLMinutes == 1 && c.MaxBodyBytes == 1024 &&
					c.ExecTimeoutMargin == 0 && c.DefaultExecTimeout == time.Second && c.MaxOutputBytes == 1024 && c.IdempotencyTTL == time.Minute
			}},
		{"bounds high", map[string]string{"DEFAULT_USER_QUOTA": "1000", "DEFAULT_AUTO_STOP_MINUTES": "1440", "DEFAULT_TTL_MINUTES": "10080",
			"MAX_TTL_MINUTES": "10080", "MAX_BODY_BYTES": "6291456", "EXEC_TIMEOUT_MARGIN": "1m", "DEFAULT_EXEC_TIMEOUT_SECONDS": "900",
			"MAX_EXEC_TIMEOUT_SECONDS": "900", "MAX_OUTPUT_BYTES": "2097152", "IDEMPOTENCY_TTL": "720h"},
			func(c Config) bool {
				return c.DefaultUserQuota == 1000 && c.DefaultTTLMinutes == 10080 && c.MaxExecTimeout == 900*time.Second &&
					c.ExecTimeoutMargin == time.Minute && c.IdempotencyTTL == 720*time.Hour && c.MaxOutputBytes == 2<<20
			}},
		{"log settings", map[string]string{"LOG_LEVEL": "DEBUG", "LOG_FORMAT": "Text"},
			func(c Config) bool { return c.LogLevel == slog.LevelDebug && c.LogFormat == "text" }},
		{"log warn", map[string]string{"LOG_LEVEL": "warn"}, func(c Config) bool { return c.LogLevel == slog.LevelWarn }},
		{"log error", map[string]string{"LOG_LEVEL": "error"}, func(c Config) bool { return c.LogLevel == slog.LevelError }},
		{"network policy, canonical", map[string]string{"NETWORK_POLICY": ` {"allowList": ["10.0.0.0/8"], "domainAllowList": ["GitHub.com", "*.pypi.org"]} `},
			func(c Config) bool {
				return reflect.DeepEqual(c.NetworkPolicy, &sandstep.NetworkPolicy{AllowList: []string{"10.0.0.0/8"}, DomainAllowList: []string{"github.com", "*.pypi.org"}}) &&
					networkPolicyText(c.NetworkPolicy) == `{"allowList":["10.0.0.0/8"],"domainAllowList":["github.com","*.pypi.org"]}`
			}},
		{"network policy blocking everything", map[string]string{"NETWORK_POLICY": `{"blockAll": true}`},
			func(c Config) bool {
				return reflect.DeepEqual(c.NetworkPolicy, &sandstep.NetworkPolicy{BlockAll: true})
			}},
		{"shared secrets", map[string]string{"SECRETS_SHARED_PREFIXES": " ssm:/sandstep/secrets/shared/ , secretsmanager:sandstep/team/ci/"},
			func(c Config) bool {
				return reflect.DeepEqual(c.SecretsSharedPrefixes, []string{"ssm:/sandstep/secrets/shared/", "secretsmanager:sandstep/team/ci/"})
			}},
		{"the Daytona key below the prefix, outside every caller's scope", map[string]string{"DAYTONA_API_KEY_REF": "ssm:/sandstep/secrets/daytona"},
			func(c Config) bool { return c.DaytonaAPIKeyRef.Name == "/sandstep/secrets/daytona" }},
		{"network policy that restricts nothing", map[string]string{"NETWORK_POLICY": `{"allowList": []}`},
			func(c Config) bool { return c.NetworkPolicy == nil }},
		{"a repository's quota and queue", map[string]string{"GITHUB_REPO_QUOTA": "4", "GITHUB_QUEUE_TIMEOUT": "2h"},
			func(c Config) bool { return c.GitHubRepoQuota == 4 && c.GitHubQueueTimeout == 2*time.Hour }},
		{"no queue: over quota fails at once", map[string]string{"GITHUB_QUEUE_TIMEOUT": "0s"},
			func(c Config) bool { return c.GitHubQueueTimeout == 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

func TestLoadInvalid(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		bad  string // the variable named
		want string // part of the reason
	}{
		{"table missing", map[string]string{"TABLE_NAME": ""}, "TABLE_NAME", "required"},
		{"table blank", map[string]string{"TABLE_NAME": "   "}, "TABLE_NAME", "required"},
		{"env", map[string]string{"SANDSTEP_ENV": "prod"}, "SANDSTEP_ENV", `must be one of aws, local, got "prod"`},
		{"local administrators in AWS", map[string]string{"LOCAL_ADMIN_USERS": "root"}, "LOCAL_ADMIN_USERS", "local stack only"},
		{"local administrators with an empty entry", map[string]string{"SANDSTEP_ENV": "local", "LOCAL_ADMIN_USERS": "root,"}, "LOCAL_ADMIN_USERS", `entry "": is required`},
		{"local administrator who is a repository", map[string]string{"SANDSTEP_ENV": "local", "LOCAL_ADMIN_USERS": "github:o/r"}, "LOCAL_ADMIN_USERS", "repositories' tasks"},
		{"admin claim with a space", map[string]string{"ADMIN_CLAIM": "my groups"}, "ADMIN_CLAIM", "a claim name"},
		{"admin group in brackets", map[string]string{"ADMIN_GROUP": "[admins]"}, "ADMIN_GROUP", "without white space"},
		{"admin group with a comma", map[string]string{"ADMIN_GROUP": "a,b"}, "ADMIN_GROUP", "without white space"},
		{"task longer than a sandbox lives", map[string]string{"MAX_TASK_DURATION": "24h"}, "MAX_TASK_DURATION", "must fit MAX_TTL_MINUTES (1440 minutes)"},
		{"stack name with a space", map[string]string{"STACK_NAME": "my stack"}, "STACK_NAME", `a letter, then letters, digits and -`},
		{"stack name starting with a digit", map[string]string{"STACK_NAME": "1stack"}, "STACK_NAME", `got "1stack"`},
		{"ssm prefix not a path", map[string]string{"SECRETS_SSM_PREFIX": "sandstep/"}, "SECRETS_SSM_PREFIX", `must start with "/" and end with "/"`},
		{"ssm prefix without trailing slash", map[string]string{"SECRETS_SSM_PREFIX": "/sandstep"}, "SECRETS_SSM_PREFIX", `end with "/"`},
		// The functions may read all of it: the root would be every secret
		// in the account. Refused for what it is, not for a missing slash.
		{"ssm prefix the root", map[string]string{"SECRETS_SSM_PREFIX": "/"}, "SECRETS_SSM_PREFIX", `"/" is the root: it must name a directory below it`},
		{"secrets manager prefix the root", map[string]string{"SECRETS_MANAGER_PREFIX": "/"}, "SECRETS_MANAGER_PREFIX", `"/" is the root: it must name a directory below it`},
		{"secrets manager prefix without trailing slash", map[string]string{"SECRETS_MANAGER_PREFIX": "sandstep"}, "SECRETS_MANAGER_PREFIX", `must end with "/"`},
		{"ssm prefix climbing out", map[string]string{"SECRETS_SSM_PREFIX": "/sandstep/../x/"}, "SECRETS_SSM_PREFIX", `".."`},
		{"secrets manager prefix with a dot segment", map[string]string{"SECRETS_MANAGER_PREFIX": "sandstep/./"}, "SECRETS_MANAGER_PREFIX", `"."`},
		{"shared prefix with an empty entry", map[string]string{"SECRETS_SHARED_PREFIXES": "ssm:/sandstep/secrets/shared/,"}, "SECRETS_SHARED_PREFIXES", "empty entry"},
		{"shared prefix without a scheme", map[string]string{"SECRETS_SHARED_PREFIXES": "/sandstep/secrets/shared/"}, "SECRETS_SHARED_PREFIXES", "ssm: or secretsmanager:"},
		{"shared prefix outside the deployment's", map[string]string{"SECRETS_SHARED_PREFIXES": "ssm:/elsewhere/"}, "SECRETS_SHARED_PREFIXES", "must lie under"},
		{"shared prefix under a changed deployment prefix", map[string]string{"SECRETS_SSM_PREFIX": "/team/", "SECRETS_SHARED_PREFIXES": "ssm:/sandstep/secrets/shared/"}, "SECRETS_SHARED_PREFIXES", `"/team/"`},
		{"shared prefix with dot-dot", map[string]string{"SECRETS_SHARED_PREFIXES": "ssm:/sandstep/secrets/shared/../users/"}, "SECRETS_SHARED_PREFIXES", "segment"},
		{"shared prefix without a trailing slash", map[string]string{"SECRETS_SHARED_PREFIXES": "secretsmanager:sandstep/shared"}, "SECRETS_SHARED_PREFIXES", "ending with"},
		{"shared prefix exposing every user", map[string]string{"SECRETS_SHARED_PREFIXES": "ssm:/sandstep/secrets/users/"}, "SECRETS_SHARED_PREFIXES", "overlaps"},
		{"the Daytona key shared", map[string]string{"SECRETS_SHARED_PREFIXES": "ssm:/sandstep/secrets/shared/", "DAYTONA_API_KEY_REF": "ssm:/sandstep/secrets/shared/daytona"},
			"DAYTONA_API_KEY_REF", "callers may name too"},
		{"the Daytona key in a user's tree", map[string]string{"DAYTONA_API_KEY_REF": "secretsmanager:sandstep/users/alice/daytona#key"}, "DAYTONA_API_KEY_REF", "callers may name too"},
		{"the Daytona key by ARN in a repository's tree", map[string]string{"DAYTONA_API_KEY_REF": "secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:sandstep/repos/o/r/k-AbCdEf"},
			"DAYTONA_API_KEY_REF", "callers may name too"},
		{"ref climbing out", map[string]string{"DAYTONA_API_KEY_REF": "ssm:/sandstep/secrets/../daytona"}, "DAYTONA_API_KEY_REF", `".." path segment`},
		{"quota not a number", map[string]string{"DEFAULT_USER_QUOTA": "abc"}, "DEFAULT_USER_QUOTA", `must be an integer between 1 and 1000, got "abc"`},
		{"quota zero", map[string]string{"DEFAULT_USER_QUOTA": "0"}, "DEFAULT_USER_QUOTA", `between 1 and 1000, got "0"`},
		{"quota too big", map[string]string{"DEFAULT_USER_QUOTA": "1001"}, "DEFAULT_USER_QUOTA", `got "1001"`},
		// Lengths are checked apart from the regexps.
		{"claim too long", map[string]string{"ADMIN_CLAIM": strings.Repeat("c", 129)}, "ADMIN_CLAIM", "at most 128 characters"},
		{"stack name too long", map[string]string{"STACK_NAME": "s" + strings.Repeat("-", 100)}, "STACK_NAME", "at most 100 characters"},
		{"drain parameter too long", map[string]string{"DRAIN_PARAMETER": "/" + strings.Repeat("p", 1001)}, "DRAIN_PARAMETER", "at most 1001 characters"},
		{"namespace too long", map[string]string{"METRICS_NAMESPACE": strings.Repeat("n", 256)}, "METRICS_NAMESPACE", "at most 255 characters"},
		{"quota float", map[string]string{"DEFAULT_USER_QUOTA": "2.5"}, "DEFAULT_USER_QUOTA", `got "2.5"`},
		{"auto-stop negative", map[string]string{"DEFAULT_AUTO_STOP_MINUTES": "-1"}, "DEFAULT_AUTO_STOP_MINUTES", "between 0 and 1440 minutes"},
		{"ttl zero", map[string]string{"DEFAULT_TTL_MINUTES": "0"}, "DEFAULT_TTL_MINUTES", "between 1 and 10080 minutes"},
		{"ttl over max", map[string]string{"DEFAULT_TTL_MINUTES": "2000"}, "DEFAULT_TTL_MINUTES", "must not exceed MAX_TTL_MINUTES (1440), got 2000"},
		{"max ttl", map[string]string{"MAX_TTL_MINUTES": "20000"}, "MAX_TTL_MINUTES", "between 1 and 10080"},
		{"body too small", map[string]string{"MAX_BODY_BYTES": "1023"}, "MAX_BODY_BYTES", "between 1024 and 6291456 bytes"},
		{"body too big", map[string]string{"MAX_BODY_BYTES": "6291457"}, "MAX_BODY_BYTES", `got "6291457"`},
		{"margin not a duration", map[string]string{"EXEC_TIMEOUT_MARGIN": "3"}, "EXEC_TIMEOUT_MARGIN", `got "3"`},
		{"margin negative", map[string]string{"EXEC_TIMEOUT_MARGIN": "-1s"}, "EXEC_TIMEOUT_MARGIN", "between 0s and 1m0s"},
		{"margin too big", map[string]string{"EXEC_TIMEOUT_MARGIN": "2m"}, "EXEC_TIMEOUT_MARGIN", `got "2m"`},
		{"exec default zero", map[string]string{"DEFAULT_EXEC_TIMEOUT_SECONDS": "0"}, "DEFAULT_EXEC_TIMEOUT_SECONDS", "between 1 and 900 seconds"},
		{"exec default over max", map[string]string{"DEFAULT_EXEC_TIMEOUT_SECONDS": "600", "MAX_EXEC_TIMEOUT_SECONDS": "300"}, "DEFAULT_EXEC_TIMEOUT_SECONDS", "must not exceed MAX_EXEC_TIMEOUT_SECONDS (300), got 600"},
		{"exec max over lambda limit", map[string]string{"MAX_EXEC_TIMEOUT_SECONDS": "901"}, "MAX_EXEC_TIMEOUT_SECONDS", "between 1 and 900"},
		{"output too big", map[string]string{"MAX_OUTPUT_BYTES": "3000000"}, "MAX_OUTPUT_BYTES", "between 1024 and 2097152 bytes"},
		{"log level", map[string]string{"LOG_LEVEL": "verbose"}, "LOG_LEVEL", `debug, info, warn, error, got "verbose"`},
		{"log format", map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT", `json, text, got "xml"`},
		{"idempotency ttl", map[string]string{"IDEMPOTENCY_TTL": "30s"}, "IDEMPOTENCY_TTL", "between 1m0s and 720h0m0s"},
		// EventBridge refuses these: singular unit for 1, plural otherwise.
		{"reaper schedule 1 with a plural unit", map[string]string{"REAPER_SCHEDULE": "rate(1 minutes)"}, "REAPER_SCHEDULE", `the singular unit for 1 and the plural otherwise, got "rate(1 minutes)"`},
		{"reaper schedule 5 with a singular unit", map[string]string{"REAPER_SCHEDULE": "rate(5 minute)"}, "REAPER_SCHEDULE", `the singular unit for 1 and the plural otherwise, got "rate(5 minute)"`},
		{"reaper schedule not one", map[string]string{"REAPER_SCHEDULE": "every 5 minutes"}, "REAPER_SCHEDULE", "or `cron(<6 fields>)`, got \"every 5 minutes\""},
		{"daytona url relative", map[string]string{"DAYTONA_API_URL": "/api"}, "DAYTONA_API_URL", "absolute http(s) URL"},
		{"daytona url no host", map[string]string{"DAYTONA_API_URL": "https://"}, "DAYTONA_API_URL", "absolute http(s) URL"},
		{"daytona url scheme", map[string]string{"DAYTONA_API_URL": "ftp://daytona.example.com"}, "DAYTONA_API_URL", `got scheme "ftp"`},
		{"daytona url plain http", map[string]string{"DAYTONA_API_URL": "http://daytona.example.com/api"}, "DAYTONA_API_URL", "must use https"},
		{"daytona url query", map[string]string{"DAYTONA_API_URL": "https://daytona.example.com/api?x=1"}, "DAYTONA_API_URL", "query or fragment"},
		{"daytona url credentials", map[string]string{"DAYTONA_API_URL": "https://user:hunter2pass@daytona.example.com"}, "DAYTONA_API_URL", "user name or password"},
		// A password holding / # ^, or a URL with no host, fails to parse
		// before its user part is seen: the error must not quote it either.
		{"daytona url with a slash in its password", map[string]string{"DAYTONA_API_URL": "https://admin:hunter2pass/x@daytona.example.com/api"}, "DAYTONA_API_URL", "without a user name or password"},
		{"github url with a # in its password", map[string]string{"GITHUB_API_URL": "https://admin:hunter2pass#x@ghe.example.com/api/v3"}, "GITHUB_API_URL", "without a user name or password"},
		{"dynamodb endpoint with a ^ in its password", map[string]string{"DYNAMODB_ENDPOINT": "http://admin:hunter2pass^x@localhost:8000"}, "DYNAMODB_ENDPOINT", "without a user name or password"},
		{"api url with credentials and no host", map[string]string{"API_URL": "https://admin:hunter2pass@/x"}, "API_URL", "user name or password"},
		// Before the password's # ? or /, a user and a port-like password
		// start parse as a host: the @ alone refuses them.
		{"daytona url whose password's start reads as a port, then a #", map[string]string{"DAYTONA_API_URL": "https://admin:1234#hunter2pass@daytona.example.com/api"}, "DAYTONA_API_URL", "without a user name or password"},
		{"daytona url with an empty port, then a #", map[string]string{"DAYTONA_API_URL": "https://admin:#hunter2pass@daytona.example.com/api"}, "DAYTONA_API_URL", "without a user name or password"},
		{"github url whose password's start reads as a port, then a ?", map[string]string{"GITHUB_API_URL": "https://admin:1234?hunter2pass@ghe.example.com/api/v3"}, "GITHUB_API_URL", "without a user name or password"},
		{"api url whose password's start reads as a port, then a /", map[string]string{"API_URL": "http://admin:1234/hunter2pass@api.example.com/prod"}, "API_URL", "without a user name or password"},
		{"a token in a query is not repeated", map[string]string{"DAYTONA_API_URL": "https://daytona.example.com/api?token=hunter2pass"}, "DAYTONA_API_URL", `query or fragment, got "https://daytona.example.com/api…"`},
		{"dynamodb endpoint", map[string]string{"DYNAMODB_ENDPOINT": "localhost:8000"}, "DYNAMODB_ENDPOINT", "http(s) URL"},
		{"no key at all", map[string]string{"DAYTONA_API_KEY_REF": ""}, "DAYTONA_API_KEY_REF", "required"},
		{"no key at all, local", map[string]string{"SANDSTEP_ENV": "local", "DAYTONA_API_KEY_REF": ""}, "DAYTONA_API_KEY_REF", "or, locally, DAYTONA_API_KEY"},
		{"plain key in aws", map[string]string{"DAYTONA_API_KEY_REF": "", "DAYTONA_API_KEY": testKey}, "DAYTONA_API_KEY", "set DAYTONA_API_KEY_REF=ssm:/"},
		{"both", map[string]string{"SANDSTEP_ENV": "local", "DAYTONA_API_KEY": testKey}, "DAYTONA_API_KEY", "not both"},
		{"plain webhook secret in aws", map[string]string{"GITHUB_WEBHOOK_SECRET": "s3cr3t"}, "GITHUB_WEBHOOK_SECRET", "set GITHUB_WEBHOOK_SECRET_REF=ssm:/"},
		{"both webhook secrets", map[string]string{"SANDSTEP_ENV": "local", "DAYTONA_API_KEY_REF": "", "DAYTONA_API_KEY": testKey,
			"GITHUB_WEBHOOK_SECRET": "s3cr3t", "GITHUB_WEBHOOK_SECRET_REF": "ssm:/sandstep/github/webhook"}, "GITHUB_WEBHOOK_SECRET", "not both"},
		{"an App without its key", map[string]string{"GITHUB_APP_ID": "123"}, "GITHUB_APP_KEY_REF", "required with GITHUB_APP_ID"},
		{"a command without its slash", map[string]string{"GITHUB_TRIGGER_COMMAND": "sandstep"}, "GITHUB_TRIGGER_COMMAND", "starting with `/`"},
		{"a repository quota of none", map[string]string{"GITHUB_REPO_QUOTA": "0"}, "GITHUB_REPO_QUOTA", "between 1 and 1000"},
		{"a queue timeout not a duration", map[string]string{"GITHUB_QUEUE_TIMEOUT": "30"}, "GITHUB_QUEUE_TIMEOUT", `got "30"`},
		{"a queue timeout too long", map[string]string{"GITHUB_QUEUE_TIMEOUT": "13h"}, "GITHUB_QUEUE_TIMEOUT", "between 0s and 12h0m0s"},
		{"ref scheme", map[string]string{"DAYTONA_API_KEY_REF": "vault:/x"}, "DAYTONA_API_KEY_REF", "the scheme is not one of ssm, secretsmanager"},
		{"key pasted as ref", map[string]string{"DAYTONA_API_KEY_REF": testKey}, "DAYTONA_API_KEY_REF", "must be a secret reference"},
		{"network policy not JSON", map[string]string{"NETWORK_POLICY": "github.com"}, "NETWORK_POLICY", "malformed JSON at byte offset 0"},
		{"network policy a list", map[string]string{"NETWORK_POLICY": `["github.com"]`}, "NETWORK_POLICY", "must be a JSON object"},
		{"network policy unknown field", map[string]string{"NETWORK_POLICY": `{"domains": ["github.com"]}`}, "NETWORK_POLICY", "domains: unknown field"},
		{"network policy field in another case", map[string]string{"NETWORK_POLICY": `{"BlockAll": true}`}, "NETWORK_POLICY", "BlockAll: unknown field"},
		{"network policy trailing data", map[string]string{"NETWORK_POLICY": `{} {}`}, "NETWORK_POLICY", "unexpected data after the JSON object"},
		{"network policy CIDR", map[string]string{"NETWORK_POLICY": `{"allowList": ["10.0.0.0/8", "10.1.2.3/16"]}`}, "NETWORK_POLICY", `allowList[1]: "10.1.2.3/16" has host bits set`},
		{"network policy domain", map[string]string{"NETWORK_POLICY": `{"domainAllowList": ["localhost"]}`}, "NETWORK_POLICY", `domainAllowList[0]: "localhost" is not a domain name`},
		{"network policy blocking and listing", map[string]string{"NETWORK_POLICY": `{"blockAll": true, "allowList": ["10.0.0.0/8"]}`}, "NETWORK_POLICY", "blockAll: cannot be true together"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(env(tc.env))
			if err == nil {
				t.Fatalf("Load succeeded: %+v", c)
			}
			errs := varErrors(t, err)
			if len(errs) != 1 {
				t.Fatalf("want exactly one error, got %d: %v", len(errs), err)
			}
			if errs[0].Var != tc.bad {
				t.Fatalf("error names %s, want %s: %v", errs[0].Var, tc.bad, err)
			}
			if !strings.HasPrefix(err.Error(), tc.bad+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			for _, secret := range []string{testKey, "hunter2pass"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q contains a secret", err)
				}
			}
			if !reflect.DeepEqual(c, Config{}) {
				t.Fatalf("Load returned a partial config with its error: %+v", c)
			}
		})
	}
}

func varErrors(t *testing.T, err error) []*VarError {
	t.Helper()
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	var out []*VarError
	for _, e := range list {
		var ve *VarError
		if !errors.As(e, &ve) {
			t.Fatalf("not a *VarError: %T %v", e, e)
		}
		out = append(out, ve)
	}
	return out
}

func TestLoadReportsAllErrors(t *testing.T) {
	_, err := Load(env(map[string]string{
		"TABLE_NAME":          "",
		"DEFAULT_USER_QUOTA":  "abc",
		"LOG_LEVEL":           "loud",
		"DAYTONA_API_KEY_REF": "",
		"DAYTONA_API_KEY":     testKey,
		"IDEMPOTENCY_TTL":     "forever",
		"DAYTONA_API_URL":     "nope",
	}))
	if err == nil {
		t.Fatal("Load succeeded")
	}
	var names []string
	for _, ve := range varErrors(t, err) {
		names = append(names, ve.Var)
	}
	want := []string{"TABLE_NAME", "DAYTONA_API_URL", "DAYTONA_API_KEY", "DEFAULT_USER_QUOTA", "LOG_LEVEL", "IDEMPOTENCY_TTL"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("variables reported %v, want %v", names, want)
	}
	if n := strings.Count(err.Error(), "\n"); n != len(want)-1 {
		t.Fatalf("want one line per variable:\n%v", err)
	}
	if strings.Contains(err.Error(), testKey) {
		t.Fatal("the key leaked into the error")
	}
}

// A malformed DAYTONA_API_KEY_REF does not hide a plain DAYTONA_API_KEY
// outside the local stack: README says every bad variable is reported at
// once, and the plain key is refused whatever the reference holds.
func TestPlainDaytonaKeyInAWSReportedBesideABadRef(t *testing.T) {
	_, err := Load(env(map[string]string{
		"DAYTONA_API_KEY_REF": "not-a-reference",
		"DAYTONA_API_KEY":     testKey,
	}))
	if err == nil {
		t.Fatal("Load succeeded")
	}
	var names []string
	for _, ve := range varErrors(t, err) {
		names = append(names, ve.Var)
	}
	if want := []string{"DAYTONA_API_KEY_REF", "DAYTONA_API_KEY"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("variables reported %v, want %v:\n%v", names, want, err)
	}
	if !strings.Contains(err.Error(), "DAYTONA_API_KEY: a plain API key") || strings.Contains(err.Error(), testKey) {
		t.Fatalf("the plain key's error:\n%v", err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	c, err := Load(env(map[string]string{"SANDSTEP_ENV": "local", "DAYTONA_API_KEY_REF": "", "DAYTONA_API_KEY": testKey}))
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(c)
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", c)
	var text bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("config", "config", c, "key", c.DaytonaAPIKey)
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", c),
		"%+v":  fmt.Sprintf("%+v", c),
		"%#v":  fmt.Sprintf("%#v", c),
		"%s":   fmt.Sprintf("%s", c.DaytonaAPIKey),
		"%q":   fmt.Sprintf("%q", c.DaytonaAPIKey),
		"%x":   fmt.Sprintf("%x", c.DaytonaAPIKey),
		"json": string(j),
		"slog": logged.String(),
		"text": text.String(),
	}
	for how, out := range outputs {
		if strings.Contains(out, testKey) || strings.Contains(out, "LOCALKEY") || strings.Contains(out, fmt.Sprintf("%x", testKey)) {
			t.Errorf("%s prints the key: %s", how, out)
		}
	}
	if !strings.Contains(logged.String(), `"daytonaKey":"[set]"`) {
		t.Errorf("startup line does not say the key is set: %s", logged.String())
	}
	if c.DaytonaAPIKey.Reveal() != testKey {
		t.Error("Reveal does not return the key")
	}
	if Secret("").String() != "" {
		t.Error("an empty Secret prints as set")
	}
}

func TestLogValue(t *testing.T) {
	c, err := Load(env(map[string]string{"DAYTONA_TARGET": "eu", "DYNAMODB_ENDPOINT": "http://127.0.0.1:8000"}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	var rec struct{ Config map[string]any }
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"env": "aws", "tableName": "sandstep", "stackName": "sandstep", "dynamodbEndpoint": "http://127.0.0.1:8000",
		"maxTaskDuration": "12h0m0s", "capacityWait": "15m0s", "taskBackstop": "10m0s", "maxTaskLogBytes": float64(1 << 30), "taskRetentionDays": float64(30),
		"taskBucket": "", "stateMachineArn": "", "apiUrl": "",
		"daytonaApiUrl": "https://app.daytona.io/api", "daytonaTarget": "eu",
		"daytonaKeyRef": "ssm:/sandstep/daytona-api-key", "defaultUserQuota": float64(3),
		"refPrefixSsm": "/sandstep/secrets/", "refPrefixSm": "sandstep/", "refPrefixShared": "",
		"defaultAutoStopMinutes": float64(15), "defaultTtlMinutes": float64(240), "maxTtlMinutes": float64(1440), "networkPolicy": "open",
		"maxBodyBytes": float64(4194304), "execTimeoutMargin": "3s", "defaultExecTimeout": "1m0s",
		"maxExecTimeout": "14m0s", "maxOutputBytes": float64(1 << 20), "logLevel": "INFO", "logFormat": "json",
		"idempotencyTtl": "24h0m0s",
	}
	if !reflect.DeepEqual(rec.Config, want) {
		t.Fatalf("LogValue:\n got %v\nwant %v", rec.Config, want)
	}
}
