// Package config turns a Lambda function's environment into a validated
// Config. The variables, their defaults and the values they accept are one
// table (vars.go) that Load reads and README.md's "Configuration" table is
// generated from; Load reports every bad variable at once, each error naming
// the variable, what it must be and (unless it holds a secret) what it was.
package config

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/secrets"
)

// The values of SANDSTEP_ENV.
const (
	EnvAWS   = "aws"
	EnvLocal = "local"
)

// DefaultDaytonaAPIURL is DAYTONA_API_URL's default.
const DefaultDaytonaAPIURL = "https://app.daytona.io/api"

// Config is the validated configuration of a sandstep function. The zero
// value is not valid; use Load.
type Config struct {
	// Env is EnvAWS or EnvLocal (SANDSTEP_ENV).
	Env string
	// TableName is the DynamoDB table (TABLE_NAME).
	TableName string
	// StackName names the deployment (STACK_NAME); with a random suffix
	// kept in the table it labels every sandbox the deployment creates.
	StackName string
	// DynamoDBEndpoint overrides the DynamoDB endpoint, or is ""
	// (DYNAMODB_ENDPOINT).
	DynamoDBEndpoint string

	// DaytonaAPIURL is the Daytona API base URL, without a trailing slash
	// (DAYTONA_API_URL).
	DaytonaAPIURL string
	// DaytonaTarget is the Daytona target to create sandboxes in, or ""
	// for the organisation's default (DAYTONA_TARGET).
	DaytonaTarget string
	// DaytonaCreateRate is the deployment's creates per minute
	// (DAYTONA_CREATE_RATE); 0: no limit.
	DaytonaCreateRate int
	// DaytonaAPIKeyRef points at the Daytona API key (DAYTONA_API_KEY_REF).
	// Exactly one of DaytonaAPIKeyRef and DaytonaAPIKey is set.
	DaytonaAPIKeyRef secrets.Ref
	// DaytonaAPIKey is the key itself, local only (DAYTONA_API_KEY).
	DaytonaAPIKey Secret

	// SecretsSSMPrefix and SecretsManagerPrefix scope the secret
	// references callers may name (secretEnv, git.tokenSecret): anything
	// else is refused, so a caller cannot read the Daytona key or another
	// deployment's secrets through the function's role
	// (SECRETS_SSM_PREFIX, SECRETS_MANAGER_PREFIX).
	SecretsSSMPrefix     string
	SecretsManagerPrefix string
	// SecretsSharedPrefixes are the reference prefixes every caller may
	// name, each under its scheme's prefix; a caller's own secrets lie in
	// their tree below the prefixes (secrets.Scopes)
	// (SECRETS_SHARED_PREFIXES).
	SecretsSharedPrefixes []string

	// DefaultUserQuota is the active sandboxes a user may hold unless the
	// user has an override (DEFAULT_USER_QUOTA).
	DefaultUserQuota int
	// DefaultAutoStopMinutes is Daytona's autoStopInterval when the caller
	// gives none; 0 disables auto-stop (DEFAULT_AUTO_STOP_MINUTES).
	DefaultAutoStopMinutes int
	// DefaultTTLMinutes is the Daytona ttlMinutes backstop when the caller
	// gives none (DEFAULT_TTL_MINUTES).
	DefaultTTLMinutes int
	// MaxTTLMinutes caps a caller's ttlMinutes (MAX_TTL_MINUTES).
	MaxTTLMinutes int
	// NetworkPolicy is the most network a sandbox may have, or nil for
	// open (NETWORK_POLICY).
	NetworkPolicy *sandstep.NetworkPolicy

	// MaxBodyBytes caps a request body (MAX_BODY_BYTES).
	MaxBodyBytes int
	// ExecTimeoutMargin is subtracted from the Lambda's remaining time to
	// bound a synchronous exec (EXEC_TIMEOUT_MARGIN).
	ExecTimeoutMargin time.Duration
	// DefaultExecTimeout applies when an exec gives no timeoutSeconds
	// (DEFAULT_EXEC_TIMEOUT_SECONDS).
	DefaultExecTimeout time.Duration
	// MaxExecTimeout caps an exec's timeoutSeconds
	// (MAX_EXEC_TIMEOUT_SECONDS).
	MaxExecTimeout time.Duration
	// MaxOutputBytes caps each of stdout and stderr returned by an exec;
	// more is truncated (MAX_OUTPUT_BYTES).
	MaxOutputBytes int

	// MaxTaskDuration bounds a task's command (MAX_TASK_DURATION).
	MaxTaskDuration time.Duration
	// CapacityWait is how long a task waits for Daytona's capacity
	// (CAPACITY_WAIT).
	CapacityWait time.Duration
	// ReaperSchedule is how often the reaper runs (a schedule expression).
	ReaperSchedule string
	// TaskBackstop is how long a task's watch waits for a nudge
	// (TASK_BACKSTOP).
	TaskBackstop time.Duration
	// MaxTaskLogBytes bounds a task's kept output (MAX_TASK_LOG_BYTES).
	MaxTaskLogBytes int
	// TaskRetentionDays is how long tasks are kept (TASK_RETENTION_DAYS).
	TaskRetentionDays int
	// TaskBucket, StateMachineARN: where tasks keep their bytes and the
	// state machine that runs them; "" refuses tasks.
	TaskBucket      string
	StateMachineARN string
	// APIURL is the API's base URL a task's command nudges, or "".
	APIURL string
	// NotifyRetryFor is how long after a task's end its completion notice
	// is retried (NOTIFY_RETRY_FOR).
	NotifyRetryFor time.Duration
	// PriceTableRef names the JSON price table of tasks' cost estimates
	// (PRICE_TABLE_REF); zero: the built-in prices.
	PriceTableRef secrets.Ref

	// GitHub's webhook: its secret (by reference, or the value locally),
	// the repositories document and the triggers.
	GitHubWebhookSecretRef secrets.Ref
	GitHubWebhookSecret    Secret
	GitHubConfigRef        secrets.Ref
	GitHubTriggerLabel     string
	GitHubTriggerCommand   string
	// GitHubRepoQuota is a repository's user's sandbox limit
	// (GITHUB_REPO_QUOTA); GitHubQueueTimeout how long its task waits for
	// a slot (GITHUB_QUEUE_TIMEOUT).
	GitHubRepoQuota    int
	GitHubQueueTimeout time.Duration
	// The GitHub App sandstep acts as, and the API it calls.
	GitHubAppID     int
	GitHubAppKeyRef secrets.Ref
	GitHubAPIURL    string

	// AdminClaim names the JWT claim that lists a caller's groups, and
	// AdminGroup the group whose members administer (ADMIN_CLAIM,
	// ADMIN_GROUP).
	AdminClaim string
	AdminGroup string
	// LocalAdminUsers are the local stack's bearer tokens that carry
	// AdminGroup (LOCAL_ADMIN_USERS).
	LocalAdminUsers []string
	// DrainParameter names the SSM parameter of the drain switch
	// (DRAIN_PARAMETER).
	DrainParameter string

	// LogLevel is the minimum level logged (LOG_LEVEL).
	LogLevel slog.Level
	// LogFormat is "json" or "text" (LOG_FORMAT).
	LogFormat string
	// MetricsNamespace is the metrics' CloudWatch namespace
	// (METRICS_NAMESPACE).
	MetricsNamespace string

	// IdempotencyTTL is how long an idempotency record is kept
	// (IDEMPOTENCY_TTL).
	IdempotencyTTL time.Duration
}

// Local reports whether the function runs in the local stack.
func (c Config) Local() bool { return c.Env == EnvLocal }

// VarError is one bad environment variable.
type VarError struct {
	// Var is the variable's name.
	Var string
	// Reason says what the variable must be, and what it was unless the
	// variable holds a secret.
	Reason string
}

func (e *VarError) Error() string { return e.Var + ": " + e.Reason }

// Load reads and validates the configuration; pass os.Getenv. A variable
// that is unset or blank takes its default. The error, if any, joins one
// *VarError per bad variable, in the table's order.
func Load(getenv func(string) string) (Config, error) {
	c := Defaults()
	var l loader
	for _, v := range vars {
		s := strings.TrimSpace(getenv(v.Name))
		switch {
		case s != "":
			if err := v.kind.parse(&c, v.Name, s); err != nil {
				l.fail(v.Name, "%s", err)
			}
		case v.required:
			l.fail(v.Name, "required")
		}
	}
	for _, v := range vars {
		if v.atMost == "" || !l.ok(v.Name, v.atMost) {
			continue
		}
		limit := vars[position(v.atMost)]
		if n, most := v.kind.integer(c), limit.kind.integer(c); n > most {
			l.fail(v.Name, "must not exceed %s (%d), got %d", limit.Name, most, n)
		}
	}
	l.daytonaKey(c)
	l.webhookSecret(c)
	l.secretScopes(c)
	if l.ok("MAX_TASK_DURATION", "MAX_TTL_MINUTES") && c.MaxTaskDuration+sandstep.TaskCleanupMargin > time.Duration(c.MaxTTLMinutes)*time.Minute {
		l.fail("MAX_TASK_DURATION", "with the cleanup margin (%s) must fit MAX_TTL_MINUTES (%d minutes): a task's sandbox lives that long, got %s",
			sandstep.TaskCleanupMargin, c.MaxTTLMinutes, c.MaxTaskDuration)
	}

	if len(l.errs) > 0 {
		slices.SortStableFunc(l.errs, func(a, b *VarError) int { return cmp.Compare(position(a.Var), position(b.Var)) })
		errs := make([]error, len(l.errs))
		for i, e := range l.errs {
			errs[i] = e
		}
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// Defaults returns the configuration of an environment that sets nothing
// (every variable's default; no TableName and no Daytona key, which have
// none). Load starts from it.
func Defaults() Config {
	var c Config
	for _, v := range vars {
		if v.Default == "" {
			continue
		}
		if err := v.kind.parse(&c, v.Name, v.Default); err != nil {
			panic(fmt.Sprintf("config: the default of %s: %v", v.Name, err))
		}
	}
	return c
}

// loader collects every error.
type loader struct {
	errs []*VarError
}

func (l *loader) fail(name, format string, args ...any) {
	l.errs = append(l.errs, &VarError{Var: name, Reason: fmt.Sprintf(format, args...)})
}

// ok reports whether none of names has failed, so a cross-variable check
// does not pile a second error on a variable already reported.
func (l *loader) ok(names ...string) bool {
	for _, e := range l.errs {
		if slices.Contains(names, e.Var) {
			return false
		}
	}
	return true
}

// daytonaKey checks that exactly one of DAYTONA_API_KEY_REF and
// DAYTONA_API_KEY is set, and the plain key only locally. The key's value
// is never part of an error.
func (l *loader) daytonaKey(c Config) {
	const refVar, keyVar = "DAYTONA_API_KEY_REF", "DAYTONA_API_KEY"
	hasRef, hasKey := !c.DaytonaAPIKeyRef.IsZero(), c.DaytonaAPIKey != ""
	refusedHere := hasKey && !c.Local()
	if !l.ok(refVar) {
		// The reference is reported already; a plain key refused here is
		// wrong whatever the reference, and is reported beside it.
		if !refusedHere {
			return
		}
		hasRef = false
	}
	switch {
	case hasRef && hasKey:
		l.fail(keyVar, "set either %s or %s, not both", refVar, keyVar)
	case refusedHere:
		l.fail(keyVar, "a plain API key in the function's environment is refused outside SANDSTEP_ENV=local "+
			"(anyone who can read the function configuration could read it); store the key in SSM Parameter Store "+
			"or Secrets Manager and set %s=ssm:/... or secretsmanager:... instead", refVar)
	case !hasRef && !hasKey && c.Local():
		l.fail(refVar, "required: set %s (ssm:/name or secretsmanager:id) or, locally, %s", refVar, keyVar)
	case !hasRef && !hasKey:
		l.fail(refVar, "required: a secret reference to the Daytona API key, ssm:/name or secretsmanager:id[#key]")
	}
}

// webhookSecret checks that at most one of GITHUB_WEBHOOK_SECRET_REF and
// GITHUB_WEBHOOK_SECRET is set, and the plain secret only locally.
func (l *loader) webhookSecret(c Config) {
	const refVar, plainVar = "GITHUB_WEBHOOK_SECRET_REF", "GITHUB_WEBHOOK_SECRET"
	switch {
	case !c.GitHubWebhookSecretRef.IsZero() && c.GitHubWebhookSecret != "":
		l.fail(plainVar, "set either %s or %s, not both", refVar, plainVar)
	case c.GitHubWebhookSecret != "" && !c.Local():
		l.fail(plainVar, "a plain secret in the function's environment is refused outside SANDSTEP_ENV=local; set %s=ssm:/... or secretsmanager:... instead", refVar)
	}
	if l.ok("GITHUB_APP_ID", "GITHUB_APP_KEY_REF") && c.GitHubAppID != 0 && c.GitHubAppKeyRef.IsZero() {
		l.fail("GITHUB_APP_KEY_REF", "required with GITHUB_APP_ID: the App is its id and its key")
	}
}

// secretScopes checks the shared prefixes against the deployment's, and
// that no caller may name one of the deployment's own secrets (the
// Daytona key, and every other variable of kind ref).
func (l *loader) secretScopes(c Config) {
	const shared = "SECRETS_SHARED_PREFIXES"
	if !l.ok("SECRETS_SSM_PREFIX", "SECRETS_MANAGER_PREFIX", shared) {
		return
	}
	scopes, err := c.SecretScopes()
	if err != nil {
		l.fail(shared, "%s", err)
		return
	}
	for _, v := range vars {
		if v.kind.ref == nil || !l.ok(v.Name) {
			continue
		}
		if r := v.kind.ref(c); !r.IsZero() && scopes.Exposes(r) {
			l.fail(v.Name, "names a secret callers may name too (it lies in the users/ or repos/ tree below SECRETS_SSM_PREFIX or "+
				"SECRETS_MANAGER_PREFIX, or under SECRETS_SHARED_PREFIXES): keep the deployment's own secrets outside them")
		}
	}
}

// SecretScopes is the rule of which secret references each caller may
// name, made from SECRETS_SSM_PREFIX, SECRETS_MANAGER_PREFIX and
// SECRETS_SHARED_PREFIXES. Load has checked it: for a loaded Config it
// never fails.
func (c Config) SecretScopes() (*secrets.Scopes, error) {
	return secrets.NewScopes(c.SecretsSSMPrefix, c.SecretsManagerPrefix, c.SecretsSharedPrefixes...)
}

// networkPolicyText is p as NETWORK_POLICY writes it, or "open".
func networkPolicyText(p *sandstep.NetworkPolicy) string {
	if p == nil {
		return "open"
	}
	b, _ := json.Marshal(p)
	return string(b)
}

// quote quotes a (non-secret) value for an error, shortened if long.
func quote(v string) string {
	const max = 80
	if len(v) > max {
		v = v[:max] + "..."
	}
	return strconv.Quote(v)
}

// Secret is a string that never prints: fmt (every verb), JSON and slog
// all show "[REDACTED]" for a non-empty Secret. Use Reveal for the value.
type Secret string

const redacted = "[REDACTED]"

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String returns "[REDACTED]", or "" for the empty Secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString is String, for %#v.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// Format prints String for every verb.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(s.GoString()))
		return
	}
	_, _ = f.Write([]byte(s.String()))
}

// MarshalJSON encodes String.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalText encodes String.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue logs String.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// LogValue describes c for the startup log line. The Daytona key is only
// "[set]" (a plain local key) and the reference to it is shown as is.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("env", c.Env),
		slog.String("tableName", c.TableName),
		slog.String("stackName", c.StackName),
	}
	if c.DynamoDBEndpoint != "" {
		attrs = append(attrs, slog.String("dynamodbEndpoint", c.DynamoDBEndpoint))
	}
	attrs = append(attrs, slog.String("daytonaApiUrl", c.DaytonaAPIURL))
	if c.DaytonaTarget != "" {
		attrs = append(attrs, slog.String("daytonaTarget", c.DaytonaTarget))
	}
	// Key names chosen so that the logger's key-name redaction (which
	// hides anything called *apiKey*) leaves the reference readable.
	if !c.DaytonaAPIKeyRef.IsZero() {
		attrs = append(attrs, slog.String("daytonaKeyRef", c.DaytonaAPIKeyRef.String()))
	}
	if c.DaytonaAPIKey != "" {
		attrs = append(attrs, slog.String("daytonaKey", "[set]"))
	}
	// Named so that key-name redaction (anything called *secret*) keeps
	// the prefixes readable: they are names, not values.
	attrs = append(attrs,
		slog.String("refPrefixSsm", c.SecretsSSMPrefix),
		slog.String("refPrefixSm", c.SecretsManagerPrefix),
		slog.String("refPrefixShared", strings.Join(c.SecretsSharedPrefixes, ",")),
		slog.Int("defaultUserQuota", c.DefaultUserQuota),
		slog.Int("defaultAutoStopMinutes", c.DefaultAutoStopMinutes),
		slog.Int("defaultTtlMinutes", c.DefaultTTLMinutes),
		slog.Int("maxTtlMinutes", c.MaxTTLMinutes),
		slog.String("networkPolicy", networkPolicyText(c.NetworkPolicy)),
		slog.Int("maxBodyBytes", c.MaxBodyBytes),
		slog.String("execTimeoutMargin", c.ExecTimeoutMargin.String()),
		slog.String("defaultExecTimeout", c.DefaultExecTimeout.String()),
		slog.String("maxExecTimeout", c.MaxExecTimeout.String()),
		slog.Int("maxOutputBytes", c.MaxOutputBytes),
		slog.String("logLevel", c.LogLevel.String()),
		slog.String("logFormat", c.LogFormat),
		slog.String("idempotencyTtl", c.IdempotencyTTL.String()),
		slog.String("maxTaskDuration", c.MaxTaskDuration.String()),
		slog.String("capacityWait", c.CapacityWait.String()),
		slog.String("taskBackstop", c.TaskBackstop.String()),
		slog.Int("maxTaskLogBytes", c.MaxTaskLogBytes),
		slog.Int("taskRetentionDays", c.TaskRetentionDays),
		slog.String("taskBucket", c.TaskBucket),
		slog.String("stateMachineArn", c.StateMachineARN),
		slog.String("apiUrl", c.APIURL),
	)
	return slog.GroupValue(attrs...)
}
