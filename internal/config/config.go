// Package config turns a Lambda function's environment into a validated
// Config. Load reports every bad variable at once, each error naming the
// variable, what it must be and (for non-secret variables) what it was.
//
// Environment variables (surrounding white space is ignored):
//
//	variable                      field                   default                    valid values
//	----------------------------  ----------------------  -------------------------  -----------------------------------------------
//	SANDSTEP_ENV                  Env                     aws                        aws | local
//	TABLE_NAME                    TableName               (required)                 the DynamoDB table name
//	STACK_NAME                    StackName               sandstep                   the deployment's name (template: AWS::StackName);
//	                                                                                 a letter, then letters, digits and -, up to 100
//	DYNAMODB_ENDPOINT             DynamoDBEndpoint        (unset: AWS's endpoint)    absolute http(s) URL (the local stack's minidyn)
//	DAYTONA_API_URL               DaytonaAPIURL           https://app.daytona.io/api absolute URL; https unless SANDSTEP_ENV=local or
//	                                                                                 the host is loopback; no user:password@, query
//	                                                                                 or fragment; a trailing "/" is dropped
//	DAYTONA_TARGET                DaytonaTarget           (unset: org default)       a Daytona target (region), e.g. us, eu
//	DAYTONA_API_KEY_REF           DaytonaAPIKeyRef        -                          ssm:/name or secretsmanager:id[#key]
//	DAYTONA_API_KEY               DaytonaAPIKey           -                          the key itself; only with SANDSTEP_ENV=local
//	                                                                                 (exactly one of the two must be set)
//	SECRETS_SSM_PREFIX            SecretsSSMPrefix        /sandstep/secrets/         SSM path prefix callers' ssm: references must
//	                                                                                 be under (starts and ends with "/")
//	SECRETS_MANAGER_PREFIX        SecretsManagerPrefix    sandstep/                  Secrets Manager name prefix callers'
//	                                                                                 secretsmanager: references must be under
//	DEFAULT_USER_QUOTA            DefaultUserQuota        3                          1..1000 active sandboxes per user
//	DEFAULT_AUTO_STOP_MINUTES     DefaultAutoStopMinutes  15                         0..1440 (0: Daytona never auto-stops)
//	DEFAULT_TTL_MINUTES           DefaultTTLMinutes       240                        1..10080, at most MAX_TTL_MINUTES
//	                                                                                 (Daytona ttlMinutes backstop)
//	MAX_TTL_MINUTES               MaxTTLMinutes           1440                       1..10080, the largest ttlMinutes a caller may ask
//	MAX_BODY_BYTES                MaxBodyBytes            4194304                    1024..6291456; the request body, which with its
//	                                                                                 event must fit the 6 MB Lambda payload limit
//	EXEC_TIMEOUT_MARGIN           ExecTimeoutMargin       3s                         Go duration, 0s..1m; kept back from the Lambda's
//	                                                                                 remaining time for a synchronous exec
//	DEFAULT_EXEC_TIMEOUT_SECONDS  DefaultExecTimeout      60                         1..900, at most MAX_EXEC_TIMEOUT_SECONDS
//	MAX_EXEC_TIMEOUT_SECONDS      MaxExecTimeout          840                        1..900 (Lambda's limit is 15 minutes)
//	MAX_OUTPUT_BYTES              MaxOutputBytes          1048576                    1024..2097152 per stream (stdout and stderr both
//	                                                                                 fit in one 6 MB response)
//	LOG_LEVEL                     LogLevel                info                       debug | info | warn | error (any case)
//	LOG_FORMAT                    LogFormat               json                       json | text (any case)
//	IDEMPOTENCY_TTL               IdempotencyTTL          24h                        Go duration, 1m..720h
//
// A plain DAYTONA_API_KEY is refused unless SANDSTEP_ENV=local: anyone
// allowed to read the function's configuration could read it. In AWS, store
// the key in SSM Parameter Store (SecureString) or Secrets Manager and set
// DAYTONA_API_KEY_REF; the function resolves it with internal/secrets.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
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

// Defaults.
const (
	DefaultDaytonaAPIURL = "https://app.daytona.io/api"
	defaultEnv           = EnvAWS
)

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

	// LogLevel is the minimum level logged (LOG_LEVEL).
	LogLevel slog.Level
	// LogFormat is "json" or "text" (LOG_FORMAT).
	LogFormat string

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

// Load reads and validates the configuration; pass os.Getenv. The error,
// if any, joins one *VarError per bad variable, in a fixed order.
func Load(getenv func(string) string) (Config, error) {
	l := &loader{getenv: getenv}
	var c Config

	c.Env = l.enum("SANDSTEP_ENV", defaultEnv, EnvAWS, EnvLocal)
	c.TableName = l.required("TABLE_NAME")
	c.StackName = l.matching("STACK_NAME", "sandstep", stackNameRE, "a letter, then letters, digits and -, at most 100 characters")
	c.DynamoDBEndpoint = l.url("DYNAMODB_ENDPOINT", "", true)

	c.DaytonaAPIURL = l.url("DAYTONA_API_URL", DefaultDaytonaAPIURL, c.Env == EnvLocal)
	c.DaytonaTarget = l.str("DAYTONA_TARGET")
	c.DaytonaAPIKeyRef, c.DaytonaAPIKey = l.daytonaKey(c.Env)

	c.SecretsSSMPrefix = l.prefix("SECRETS_SSM_PREFIX", "/sandstep/secrets/", "/")
	c.SecretsManagerPrefix = l.prefix("SECRETS_MANAGER_PREFIX", "sandstep/", "")

	c.DefaultUserQuota = l.integer("DEFAULT_USER_QUOTA", 3, 1, 1000, "")
	c.DefaultAutoStopMinutes = l.integer("DEFAULT_AUTO_STOP_MINUTES", 15, 0, 1440, " minutes")
	c.DefaultTTLMinutes = l.integer("DEFAULT_TTL_MINUTES", 240, 1, 10080, " minutes")
	c.MaxTTLMinutes = l.integer("MAX_TTL_MINUTES", 1440, 1, 10080, " minutes")
	if l.ok("DEFAULT_TTL_MINUTES", "MAX_TTL_MINUTES") && c.DefaultTTLMinutes > c.MaxTTLMinutes {
		l.fail("DEFAULT_TTL_MINUTES", "must not exceed MAX_TTL_MINUTES (%d), got %d", c.MaxTTLMinutes, c.DefaultTTLMinutes)
	}

	c.MaxBodyBytes = l.integer("MAX_BODY_BYTES", 4<<20, 1<<10, 6<<20, " bytes")
	c.ExecTimeoutMargin = l.duration("EXEC_TIMEOUT_MARGIN", 3*time.Second, 0, time.Minute)
	c.DefaultExecTimeout = time.Duration(l.integer("DEFAULT_EXEC_TIMEOUT_SECONDS", 60, 1, 900, " seconds")) * time.Second
	c.MaxExecTimeout = time.Duration(l.integer("MAX_EXEC_TIMEOUT_SECONDS", 840, 1, 900, " seconds")) * time.Second
	if l.ok("DEFAULT_EXEC_TIMEOUT_SECONDS", "MAX_EXEC_TIMEOUT_SECONDS") && c.DefaultExecTimeout > c.MaxExecTimeout {
		l.fail("DEFAULT_EXEC_TIMEOUT_SECONDS", "must not exceed MAX_EXEC_TIMEOUT_SECONDS (%d), got %d",
			int(c.MaxExecTimeout/time.Second), int(c.DefaultExecTimeout/time.Second))
	}
	c.MaxOutputBytes = l.integer("MAX_OUTPUT_BYTES", 1<<20, 1<<10, 2<<20, " bytes")

	c.LogLevel = l.level("LOG_LEVEL")
	c.LogFormat = l.enum("LOG_FORMAT", "json", "json", "text")
	c.IdempotencyTTL = l.duration("IDEMPOTENCY_TTL", 24*time.Hour, time.Minute, 720*time.Hour)

	if len(l.errs) > 0 {
		return Config{}, errors.Join(l.errs...)
	}
	return c, nil
}

// loader reads variables and collects every error.
type loader struct {
	getenv func(string) string
	errs   []error
	bad    map[string]bool
}

func (l *loader) fail(name, format string, args ...any) {
	l.errs = append(l.errs, &VarError{Var: name, Reason: fmt.Sprintf(format, args...)})
	if l.bad == nil {
		l.bad = map[string]bool{}
	}
	l.bad[name] = true
}

// ok reports whether none of names has failed, so a cross-variable check
// does not pile a second error on a variable already reported.
func (l *loader) ok(names ...string) bool {
	for _, n := range names {
		if l.bad[n] {
			return false
		}
	}
	return true
}

func (l *loader) str(name string) string { return strings.TrimSpace(l.getenv(name)) }

// prefix reads a secret-name prefix: it must start with start (if any),
// end with "/" and hold no white space, so that it scopes by path.
func (l *loader) prefix(name, def, start string) string {
	v := l.str(name)
	if v == "" {
		return def
	}
	if !strings.HasPrefix(v, start) || !strings.HasSuffix(v, "/") || strings.ContainsAny(v, " \t\r\n") || len(v) > 512 {
		if start != "" {
			l.fail(name, "must start with %q and end with \"/\", got %q", start, v)
		} else {
			l.fail(name, "must end with \"/\", got %q", v)
		}
		return ""
	}
	return v
}

var stackNameRE = regexp.MustCompile(`^[A-Za-z][-A-Za-z0-9]{0,99}$`)

// matching reads a value that must match re, described by what.
func (l *loader) matching(name, def string, re *regexp.Regexp, what string) string {
	v := l.str(name)
	if v == "" {
		return def
	}
	if !re.MatchString(v) {
		l.fail(name, "must be %s, got %s", what, quote(v))
		return def
	}
	return v
}

func (l *loader) required(name string) string {
	v := l.str(name)
	if v == "" {
		l.fail(name, "required")
	}
	return v
}

func (l *loader) enum(name, def string, allowed ...string) string {
	v := l.str(name)
	if v == "" {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	l.fail(name, "must be one of %s, got %s", strings.Join(allowed, ", "), quote(v))
	return def
}

func (l *loader) integer(name string, def, lo, hi int, unit string) int {
	v := l.str(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		l.fail(name, "must be an integer between %d and %d%s, got %s", lo, hi, unit, quote(v))
		return def
	}
	return n
}

func (l *loader) duration(name string, def, lo, hi time.Duration) time.Duration {
	v := l.str(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		l.fail(name, "must be a duration such as 3s, 90m or 24h, between %s and %s, got %s", lo, hi, quote(v))
		return def
	}
	return d
}

func (l *loader) level(name string) slog.Level {
	v := l.str(name)
	if v == "" {
		return slog.LevelInfo
	}
	switch strings.ToLower(v) {
	case "debug":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	l.fail(name, "must be one of debug, info, warn, error, got %s", quote(v))
	return slog.LevelInfo
}

// url validates an absolute http(s) URL. Plain http is accepted only if
// allowHTTP or the host is a loopback address.
func (l *loader) url(name, def string, allowHTTP bool) string {
	v := l.str(name)
	if v == "" {
		return def
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		l.fail(name, "must be an absolute http(s) URL such as https://example.com/api, got %s", quote(v))
	case u.User != nil:
		// Never echo it: the user part may be a password.
		l.fail(name, "must not carry a user name or password")
	case u.Scheme != "https" && u.Scheme != "http":
		l.fail(name, "must be an http(s) URL, got scheme %s", quote(u.Scheme))
	case u.Scheme == "http" && !allowHTTP && !loopback(u.Hostname()):
		l.fail(name, "must use https (http is allowed only for a loopback host or with SANDSTEP_ENV=local), got %s", quote(v))
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(v, "#"):
		l.fail(name, "must not have a query or fragment, got %s", quote(v))
	default:
		return strings.TrimRight(v, "/")
	}
	return def
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// daytonaKey reads DAYTONA_API_KEY_REF and DAYTONA_API_KEY. The key's
// value is never part of an error.
func (l *loader) daytonaKey(env string) (secrets.Ref, Secret) {
	const refVar, keyVar = "DAYTONA_API_KEY_REF", "DAYTONA_API_KEY"
	refStr, key := l.str(refVar), l.str(keyVar)
	switch {
	case refStr != "" && key != "":
		l.fail(keyVar, "set either %s or %s, not both", refVar, keyVar)
		return secrets.Ref{}, ""
	case key != "" && env != EnvLocal:
		l.fail(keyVar, "a plain API key in the function's environment is refused outside SANDSTEP_ENV=local "+
			"(anyone who can read the function configuration could read it); store the key in SSM Parameter Store "+
			"or Secrets Manager and set %s=ssm:/... or secretsmanager:... instead", refVar)
		return secrets.Ref{}, ""
	case key != "":
		return secrets.Ref{}, Secret(key)
	case refStr == "":
		if env == EnvLocal {
			l.fail(refVar, "required: set %s (ssm:/name or secretsmanager:id) or, locally, %s", refVar, keyVar)
		} else {
			l.fail(refVar, "required: a secret reference to the Daytona API key, ssm:/name or secretsmanager:id[#key]")
		}
		return secrets.Ref{}, ""
	}
	ref, err := secrets.ParseRef(refVar, refStr)
	if err != nil {
		l.fail(refVar, "%s", sandstep.ErrorMessage(err))
		return secrets.Ref{}, ""
	}
	return ref, ""
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
		slog.Int("defaultUserQuota", c.DefaultUserQuota),
		slog.Int("defaultAutoStopMinutes", c.DefaultAutoStopMinutes),
		slog.Int("defaultTtlMinutes", c.DefaultTTLMinutes),
		slog.Int("maxTtlMinutes", c.MaxTTLMinutes),
		slog.Int("maxBodyBytes", c.MaxBodyBytes),
		slog.String("execTimeoutMargin", c.ExecTimeoutMargin.String()),
		slog.String("defaultExecTimeout", c.DefaultExecTimeout.String()),
		slog.String("maxExecTimeout", c.MaxExecTimeout.String()),
		slog.Int("maxOutputBytes", c.MaxOutputBytes),
		slog.String("logLevel", c.LogLevel.String()),
		slog.String("logFormat", c.LogFormat),
		slog.String("idempotencyTtl", c.IdempotencyTTL.String()),
	)
	return slog.GroupValue(attrs...)
}
