package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/secrets"
	"github.com/sandstep/sandstep/internal/strictjson"
)

//go:generate go test -run ^TestREADMEConfigTable$ -update .

// vars is the configuration table: every variable Load reads, in the order
// it reports errors. README.md's table is generated from it.
var vars = []Var{
	{Name: "SANDSTEP_ENV", Default: EnvAWS,
		Meaning: "`local` allows a plain `DAYTONA_API_KEY` and plain-HTTP endpoints",
		kind:    enum(func(c *Config, s string) { c.Env = s }, EnvAWS, EnvLocal)},
	{Name: "TABLE_NAME", required: true,
		Meaning: "the DynamoDB table",
		kind:    text("DynamoDB table name", func(c *Config) *string { return &c.TableName })},
	{Name: "STACK_NAME", Default: "sandstep",
		Meaning: "the deployment's name (the template sets the stack's); with a random suffix kept in the table it is the `sandstep.deployment` label of every sandbox the deployment creates",
		kind:    matching(stackNameRE.MatchString, "a letter, then letters, digits and -, at most 100 characters", func(c *Config) *string { return &c.StackName })},
	{Name: "DYNAMODB_ENDPOINT", Unset: "AWS's endpoint",
		Meaning: "a DynamoDB stand-in's URL (the local stack's)",
		kind:    urlKind(true, func(c *Config) *string { return &c.DynamoDBEndpoint })},

	{Name: "DAYTONA_API_URL", Default: DefaultDaytonaAPIURL,
		Meaning: "Daytona API base URL; a trailing `/` is dropped",
		kind:    urlKind(false, func(c *Config) *string { return &c.DaytonaAPIURL })},
	{Name: "DAYTONA_TARGET", Unset: "the organisation's default",
		Meaning: "Daytona target (region) new sandboxes are created in",
		kind:    text("Daytona target, e.g. `us` or `eu`", func(c *Config) *string { return &c.DaytonaTarget })},
	{Name: "DAYTONA_CREATE_RATE", Default: "300",
		Meaning: "sandboxes the deployment's functions together create per minute, kept below Daytona's `sandbox-create` limit (300 on its first tier) so that a burst is served at the rate instead of meeting 429s; a create waits for the next minute while its invocation has time, else it gets 503 with `Retry-After`. Daytona's own word holds the creates back too: its 429, and an answer saying its window is spent (`X-RateLimit-Remaining-sandbox-create: 0`), until its window ends. `0`: no limit (a create that meets Daytona's 429 still waits it out and asks again, but the other instances are not held back)",
		kind:    integer(0, 100000, "", func(c *Config) *int { return &c.DaytonaCreateRate })},
	// Exactly one of the two key variables must be set: see daytonaKey.
	{Name: "DAYTONA_API_KEY_REF", Unset: "(required in AWS)",
		Meaning: "where the Daytona API key is kept, read at cold start and again (at most once a minute per instance) after Daytona refuses the key held, so a key written over the parameter takes effect without a deploy (docs/runbooks/daytona-troubleshooting.md); set this or `DAYTONA_API_KEY`",
		kind:    ref(func(c *Config) *secrets.Ref { return &c.DaytonaAPIKeyRef })},
	{Name: "DAYTONA_API_KEY", Unset: "none",
		Meaning: "the Daytona API key itself, refused outside the local stack: anyone who can read the function's configuration could read it",
		kind:    secret("the key; only with `SANDSTEP_ENV=local`", func(c *Config) *Secret { return &c.DaytonaAPIKey })},

	{Name: "SECRETS_SSM_PREFIX", Default: "/sandstep/secrets/",
		Meaning: "SSM path callers' `ssm:` references lie under: each caller's own below `users/<user>/` (a repository's tasks `repos/<owner>/<repo>/`), see [Secrets](#secrets)",
		kind:    prefix("/", secrets.CheckSSMPrefix, func(c *Config) *string { return &c.SecretsSSMPrefix })},
	{Name: "SECRETS_MANAGER_PREFIX", Default: "sandstep/",
		Meaning: "Secrets Manager name prefix callers' `secretsmanager:` references lie under, divided as `SECRETS_SSM_PREFIX` is",
		kind:    prefix("", secrets.CheckManagerPrefix, func(c *Config) *string { return &c.SecretsManagerPrefix })},
	{Name: "SECRETS_SHARED_PREFIXES", Unset: "none: each caller names only their own secrets",
		Meaning: "reference prefixes every caller may name (secrets shared by all), e.g. `ssm:/sandstep/secrets/shared/,secretsmanager:sandstep/shared/`",
		kind:    sharedPrefixes(func(c *Config) *[]string { return &c.SecretsSharedPrefixes })},

	{Name: "DEFAULT_USER_QUOTA", Default: "3",
		Meaning: "active sandboxes a user may hold unless the user has an override",
		kind:    integer(1, 1000, "", func(c *Config) *int { return &c.DefaultUserQuota })},
	{Name: "DEFAULT_AUTO_STOP_MINUTES", Default: "15",
		Meaning: "Daytona auto-stop when the caller gives none; 0: never",
		kind:    integer(0, 1440, " minutes", func(c *Config) *int { return &c.DefaultAutoStopMinutes })},
	{Name: "DEFAULT_TTL_MINUTES", Default: "240", atMost: "MAX_TTL_MINUTES",
		Meaning: "Daytona `ttlMinutes` (hard lifetime, the backstop against leaks) when the caller gives none",
		kind:    integer(1, 10080, " minutes", func(c *Config) *int { return &c.DefaultTTLMinutes })},
	{Name: "MAX_TTL_MINUTES", Default: "1440",
		Meaning: "the largest `ttlMinutes` a caller may ask for",
		kind:    integer(1, 10080, " minutes", func(c *Config) *int { return &c.MaxTTLMinutes })},
	{Name: "NETWORK_POLICY", Unset: "open: a caller's `network` applies as asked",
		Meaning: "the most outbound network a sandbox may have; a caller's `network` can only narrow it (see [Network policy](#network-policy))",
		kind:    networkPolicy(func(c *Config) **sandstep.NetworkPolicy { return &c.NetworkPolicy })},

	{Name: "MAX_BODY_BYTES", Default: "4194304",
		Meaning: "request body limit; with its event it must fit Lambda's 6 MB payload",
		kind:    integer(1<<10, 6<<20, " bytes", func(c *Config) *int { return &c.MaxBodyBytes })},
	{Name: "EXEC_TIMEOUT_MARGIN", Default: "3s",
		Meaning: "kept back from the Lambda's remaining time to answer a synchronous exec",
		kind:    duration(0, time.Minute, func(c *Config) *time.Duration { return &c.ExecTimeoutMargin })},
	{Name: "DEFAULT_EXEC_TIMEOUT_SECONDS", Default: "60", atMost: "MAX_EXEC_TIMEOUT_SECONDS",
		Meaning: "exec timeout when the caller gives none",
		kind:    seconds(1, 900, func(c *Config) *time.Duration { return &c.DefaultExecTimeout })},
	{Name: "MAX_EXEC_TIMEOUT_SECONDS", Default: "840",
		Meaning: "the longest exec a caller may ask for (a Lambda runs at most 15 minutes)",
		kind:    seconds(1, 900, func(c *Config) *time.Duration { return &c.MaxExecTimeout })},
	{Name: "MAX_OUTPUT_BYTES", Default: "1048576",
		Meaning: "per stream of an exec; more is cut and marked `truncated` (both streams fit one 6 MB response)",
		kind:    integer(1<<10, 2<<20, " bytes", func(c *Config) *int { return &c.MaxOutputBytes })},

	{Name: "MAX_TASK_DURATION", Default: "12h",
		Meaning: "the longest a task's command may run (its `timeoutSeconds`, and the default); with the cleanup margin (45m) it must fit `MAX_TTL_MINUTES`",
		kind:    duration(time.Minute, 168*time.Hour, func(c *Config) *time.Duration { return &c.MaxTaskDuration })},
	{Name: "CAPACITY_WAIT", Default: "15m",
		Meaning: "how long a task waits for Daytona's organisation to have capacity for its sandbox; a task `DAYTONA_CREATE_RATE` still holds back after it fails too (an issue's task counts it after its `GITHUB_QUEUE_TIMEOUT`)",
		kind:    duration(0, MaxCapacityWait, func(c *Config) *time.Duration { return &c.CapacityWait })},
	{Name: "TASK_BACKSTOP", Default: "10m",
		Meaning: "how long a task's watch waits for the command's end-of-task nudge before it looks anyway; where no nudge can arrive it looks after max(15s, 10% of the time run)",
		kind:    duration(time.Second, time.Hour, func(c *Config) *time.Duration { return &c.TaskBackstop })},
	{Name: "MAX_TASK_LOG_BYTES", Default: "1073741824",
		Meaning: "the output a task keeps, both streams together; more is cut with a marker",
		kind:    integer(1<<20, 100<<30, " bytes", func(c *Config) *int { return &c.MaxTaskLogBytes })},
	{Name: "REAPER_SCHEDULE", Default: "rate(5 minutes)",
		Meaning: "how often the reaper runs: an EventBridge schedule expression (the template's `ReaperSchedule`); the local stack runs `rate(...)` as given and a `cron(...)` every 5 minutes",
		kind:    schedule(func(c *Config) *string { return &c.ReaperSchedule })},
	{Name: "TASK_RETENTION_DAYS", Default: "30",
		Meaning: "how long task records, output and artifacts are kept (DynamoDB TTL, the bucket's lifecycle rule); an expired record (by the retention in force, counted from the task's end) is gone to GET /tasks/{id} and to lists before DynamoDB's TTL deletes it",
		kind:    integer(1, 3650, " days", func(c *Config) *int { return &c.TaskRetentionDays })},
	{Name: "TASK_BUCKET", Unset: "tasks are refused",
		Meaning: "the S3 bucket of tasks' specs, output and artifacts",
		kind:    text("S3 bucket name", func(c *Config) *string { return &c.TaskBucket })},
	{Name: "STATE_MACHINE_ARN", Unset: "tasks are refused",
		Meaning: "the task state machine",
		kind:    text("state machine ARN", func(c *Config) *string { return &c.StateMachineARN })},
	{Name: "API_URL", Unset: "a task started through the API nudges the URL its caller used; one started from the console is watched by polling alone",
		Meaning: "the API's base URL, which a task's command calls when it ends so its end is noticed at once, an issue's comment links to, and a create's or a start's `Location` lies under. Required on a custom domain whose API mapping has a key (`https://api.example.com/v1`): API Gateway's event does not show the key, so the caller's URL is rebuilt without it. Without it the caller's URL is used: the execute-api URL under its stage (none for `$default`), or a custom domain without the stage, which its mapping picks",
		kind:    urlKind(false, func(c *Config) *string { return &c.APIURL })},
	{Name: "NOTIFY_RETRY_FOR", Default: "24h",
		Meaning: "how long after a task ends its completion notice (`notify`) is retried, with exponential backoff, before it is marked failed; keep it within `TASK_RETENTION_DAYS`, whose expiry ends the record and its notice",
		kind:    duration(time.Minute, 168*time.Hour, func(c *Config) *time.Duration { return &c.NotifyRetryFor })},
	{Name: "PRICE_TABLE_REF", Unset: "the built-in prices: Daytona's published ones and AWS's list prices in us-east-1 (docs/performance.md, \"Task cost\")",
		Meaning: "where the JSON price table of tasks' cost estimates is kept, read on first need; its fields replace the built-in prices one by one (README, \"Task cost\")",
		kind:    ref(func(c *Config) *secrets.Ref { return &c.PriceTableRef })},

	// Exactly one of the two secret variables, or neither: see webhookSecret.
	{Name: "GITHUB_WEBHOOK_SECRET_REF", Unset: "no webhook: `POST /webhooks/github` answers 404",
		Meaning: "where the GitHub webhook's secret is kept, read on first use and again (at most once a minute per instance) after a signature that does not match, so a rotated secret takes effect without a deploy; set this or `GITHUB_WEBHOOK_SECRET`",
		kind:    ref(func(c *Config) *secrets.Ref { return &c.GitHubWebhookSecretRef })},
	{Name: "GITHUB_WEBHOOK_SECRET", Unset: "none",
		Meaning: "the webhook secret itself, refused outside the local stack",
		kind:    secret("the secret; only with `SANDSTEP_ENV=local`", func(c *Config) *Secret { return &c.GitHubWebhookSecret })},
	{Name: "GITHUB_CONFIG_REF", Unset: "locally every repository runs a task that shows its issue; in AWS every delivery is ignored",
		Meaning: "where the JSON document of allowed installations and repositories, and each one's task, is kept (README, \"GitHub issues\")",
		kind:    ref(func(c *Config) *secrets.Ref { return &c.GitHubConfigRef })},
	{Name: "GITHUB_APP_ID", Unset: "no App: issues cannot start tasks",
		Meaning: "the GitHub App's id, the issuer of the JWTs that mint its installation tokens",
		kind:    integer(1, 1<<53, "", func(c *Config) *int { return &c.GitHubAppID })},
	{Name: "GITHUB_APP_KEY_REF", Unset: "(required with `GITHUB_APP_ID`)",
		Meaning: "where the App's private key (PEM) is kept, read on first use and again (at most once a minute per instance) after GitHub refuses the App's JWT, so a rotated key takes effect without a deploy; outside the prefixes callers may name",
		kind:    ref(func(c *Config) *secrets.Ref { return &c.GitHubAppKeyRef })},
	{Name: "GITHUB_API_URL", Default: "https://api.github.com",
		Meaning: "the GitHub REST API (GitHub Enterprise's `https://host/api/v3`, or the local stand-in's)",
		kind:    urlKind(false, func(c *Config) *string { return &c.GitHubAPIURL })},
	{Name: "GITHUB_TRIGGER_LABEL", Default: "sandstep",
		Meaning: "the issue label that starts a task when added and cancels it when removed, by someone with write permission; matched in any case, as GitHub matches label names",
		kind:    text("a label name", func(c *Config) *string { return &c.GitHubTriggerLabel })},
	{Name: "GITHUB_TRIGGER_COMMAND", Default: "/sandstep",
		Meaning: "a comment that starts with it starts a task (`<command> cancel` cancels), from someone with write permission; shown as code (indented four spaces, fenced or quoted) it is not the command",
		kind:    matching(commandRE.MatchString, "a word starting with `/`", func(c *Config) *string { return &c.GitHubTriggerCommand })},
	{Name: "GITHUB_REPO_QUOTA", Default: "2",
		Meaning: "active sandboxes each repository's issues' tasks may hold at once (the user `github:<owner>/<repo>`, instead of `DEFAULT_USER_QUOTA`); an operator's per-user override still wins",
		kind:    integer(1, 1000, "", func(c *Config) *int { return &c.GitHubRepoQuota })},
	{Name: "GITHUB_QUEUE_TIMEOUT", Default: "30m",
		Meaning: "how long an issue's task over its repository's quota waits its turn before it fails; `0s`: it fails at once. It adds to the execution's timeout (the template's `ExecutionTimeoutSeconds`)",
		kind:    duration(0, MaxQueueTimeout, func(c *Config) *time.Duration { return &c.GitHubQueueTimeout })},

	{Name: "ADMIN_CLAIM", Default: "cognito:groups",
		Meaning: "the JWT claim that lists a caller's groups; API Gateway passes an array claim as one string `[a b]`, and a plain string is one group or several separated by commas or spaces (see [Administration](#administration))",
		kind:    matching(claimRE.MatchString, "a claim name: letters, digits and `:._-`, at most 128 characters", func(c *Config) *string { return &c.AdminClaim })},
	{Name: "ADMIN_GROUP", Default: "sandstep-admins",
		Meaning: "the group in `ADMIN_CLAIM` whose members may use `/admin/*`; to anyone else those routes answer 404",
		kind:    matching(groupRE.MatchString, "a group name without white space, `,`, `[` or `]`, at most 128 characters", func(c *Config) *string { return &c.AdminGroup })},
	{Name: "LOCAL_ADMIN_USERS", Unset: "nobody is an administrator locally",
		Meaning: "the local stack only: bearer tokens (user ids) whose requests carry `ADMIN_GROUP` in `ADMIN_CLAIM`, e.g. `root`; refused unless `SANDSTEP_ENV=local`",
		kind:    localAdmins(func(c *Config) *[]string { return &c.LocalAdminUsers })},
	{Name: "DRAIN_PARAMETER", Default: "/sandstep/drain",
		Meaning: "the SSM parameter of the drain switch (`make drain`, `make resume`): while it holds `true`, new sandboxes and tasks get 503 and issues' tasks wait; read at most every 30 s by each instance, see [Drain and resume](#drain-and-resume)",
		kind:    matching(parameterRE.MatchString, "an SSM parameter name: `/`, then letters, digits and `_.-/`, at most 1001 characters", func(c *Config) *string { return &c.DrainParameter })},

	{Name: "LOG_LEVEL", Default: "info",
		Meaning: "the lowest level logged",
		// The choices are names slog knows.
		kind: enum(func(c *Config, s string) { _ = c.LogLevel.UnmarshalText([]byte(s)) }, "debug", "info", "warn", "error")},
	{Name: "LOG_FORMAT", Default: "json",
		Meaning: "`text` for people, `json` in Lambda",
		kind:    enum(func(c *Config, s string) { c.LogFormat = s }, "json", "text")},
	{Name: "METRICS_NAMESPACE", Default: "sandstep",
		Meaning: "the CloudWatch namespace of the metrics each invocation writes to its log as Embedded Metric Format lines (see [Metrics](#metrics)); the template's alarms and dashboard read it",
		kind:    namespace(func(c *Config) *string { return &c.MetricsNamespace })},
	{Name: "IDEMPOTENCY_TTL", Default: "24h",
		Meaning: "how long a completed `Idempotency-Key` is remembered (a GitHub delivery's id: 7 days at least, GitHub Enterprise Server's redelivery window)",
		kind:    duration(time.Minute, 720*time.Hour, func(c *Config) *time.Duration { return &c.IdempotencyTTL })},
}

// MaxQueueTimeout is the longest GITHUB_QUEUE_TIMEOUT: the state machine's
// retries of a queued task cover it (infra/statemachine).
const MaxQueueTimeout = 12 * time.Hour

// MaxCapacityWait is the longest CAPACITY_WAIT: the state machine's
// retries of a task waiting for Daytona's capacity cover it, after the
// longest queue (infra/statemachine).
const MaxCapacityWait = 24 * time.Hour

// Var is one environment variable of the configuration.
type Var struct {
	Name string
	// Default is used when the variable is unset or blank, written as a
	// user would write it; "" when there is none.
	Default string
	// Unset says what leaving the variable unset means when it has no
	// Default and is not required.
	Unset string
	// Meaning says what the variable is for.
	Meaning string

	kind     kind
	required bool
	// atMost names the integer variable whose value caps this one.
	atMost string
}

// Format describes the values the variable accepts.
func (v Var) Format() string {
	if v.atMost != "" {
		return v.kind.format + ", at most `" + v.atMost + "`"
	}
	return v.kind.format
}

// Required reports whether the variable must be set.
func (v Var) Required() bool { return v.required }

// Vars returns the configuration table, in Load's order.
func Vars() []Var {
	return append([]Var(nil), vars...)
}

// position returns the index of the variable called name in vars, or -1.
func position(name string) int {
	for i, v := range vars {
		if v.Name == name {
			return i
		}
	}
	return -1
}

// kind is how a variable's text becomes a Config field. Its format and its
// checks are made from the same bounds, so they cannot disagree.
type kind struct {
	format string
	// parse stores v, the trimmed non-empty value of the variable name,
	// in c, or says what is wrong with it. c holds the variables before
	// this one in vars.
	parse func(c *Config, name, v string) error
	// integer reads an integer variable back as written, for atMost.
	integer func(c Config) int
	// ref reads a deployment secret's reference back, for the check that
	// no caller may name it.
	ref func(c Config) secrets.Ref
}

func text(format string, field func(*Config) *string) kind {
	return kind{format: format, parse: func(c *Config, _, v string) error {
		*field(c) = v
		return nil
	}}
}

// enum accepts one of choices in any case and passes set the choice as
// written in choices.
func enum(set func(*Config, string), choices ...string) kind {
	quoted := make([]string, len(choices))
	for i, s := range choices {
		quoted[i] = "`" + s + "`"
	}
	format := quoted[len(quoted)-1]
	if len(quoted) > 1 {
		format = strings.Join(quoted[:len(quoted)-1], ", ") + " or " + format
	}
	return kind{format: format + " (any case)", parse: func(c *Config, _, v string) error {
		for _, s := range choices {
			if strings.EqualFold(v, s) {
				set(c, s)
				return nil
			}
		}
		return fmt.Errorf("must be one of %s, got %s", strings.Join(choices, ", "), quote(v))
	}}
}

func parseInt(v string, lo, hi int, unit string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("must be an integer between %d and %d%s, got %s", lo, hi, unit, quote(v))
	}
	return n, nil
}

// integer reads an integer from lo to hi; unit (" minutes") is for people.
func integer(lo, hi int, unit string, field func(*Config) *int) kind {
	return kind{
		format: fmt.Sprintf("integer, %d to %d%s", lo, hi, unit),
		parse: func(c *Config, _, v string) error {
			n, err := parseInt(v, lo, hi, unit)
			if err == nil {
				*field(c) = n
			}
			return err
		},
		integer: func(c Config) int { return *field(&c) },
	}
}

// seconds reads a whole number of seconds from lo to hi.
func seconds(lo, hi int, field func(*Config) *time.Duration) kind {
	return kind{
		format: fmt.Sprintf("integer, %d to %d seconds", lo, hi),
		parse: func(c *Config, _, v string) error {
			n, err := parseInt(v, lo, hi, " seconds")
			if err == nil {
				*field(c) = time.Duration(n) * time.Second
			}
			return err
		},
		integer: func(c Config) int { return int(*field(&c) / time.Second) },
	}
}

// duration reads a Go duration (3s, 90m, 24h) from lo to hi.
func duration(lo, hi time.Duration, field func(*Config) *time.Duration) kind {
	return kind{
		format: fmt.Sprintf("Go duration, %s to %s", shortDuration(lo), shortDuration(hi)),
		parse: func(c *Config, _, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < lo || d > hi {
				return fmt.Errorf("must be a duration such as 3s, 90m or 24h, between %s and %s, got %s", lo, hi, quote(v))
			}
			*field(c) = d
			return nil
		},
	}
}

// shortDuration writes d as people do: 1m and 720h, not 1m0s and 720h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// sized is a pattern of one class for the first rune, one for the rest,
// and the lengths (in runes) it allows: what these variables' values are.
// Checked by hand rather than by regexp: compiling the patterns (and
// paging regexp's compiler in) was most of Load, on every cold start.
type sized struct {
	first, rest charset
	min, max    int
}

func (s sized) MatchString(v string) bool {
	if n := utf8.RuneCountInString(v); n < s.min || n > s.max {
		return false
	}
	for i, r := range v {
		set := s.rest
		if i == 0 {
			set = s.first
		}
		if !set.has(r) {
			return false
		}
	}
	return true
}

// charset is the runes of chars, or with negated every other rune.
type charset struct {
	chars   string
	negated bool
}

func (c charset) has(r rune) bool { return strings.ContainsRune(c.chars, r) != c.negated }

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

var (
	slash   = charset{chars: "/"}
	letters = charset{chars: alnum[:52]}
)

// commandRE is a comment command: a slash and a word.
var commandRE = sized{slash, charset{chars: alnum + "_-"}, 2, 41}

// schedule reads an EventBridge schedule expression (validSchedule).
func schedule(field func(*Config) *string) kind {
	const format = "`rate(1 minute|hour|day)`, `rate(<n> minutes|hours|days)` or `cron(<6 fields>)`"
	return kind{format: format, parse: func(c *Config, _, v string) error {
		if !validSchedule(v) {
			if _, _, ok := rate(v); ok {
				return fmt.Errorf("must be %s: EventBridge takes the singular unit for 1 and the plural otherwise, got %q", format, v)
			}
			return fmt.Errorf("must be %s, got %q", format, v)
		}
		*field(c) = v
		return nil
	}}
}

// validSchedule reports whether v is an EventBridge schedule expression:
// rate(1 minute|hour|day), rate(<2-999999> minutes|hours|days) (EventBridge
// refuses rate(1 minutes) and rate(5 minute)) or cron(<six fields>),
// fields being runs of anything but white space (\t\n\f\r and space)
// parted by single spaces.
func validSchedule(v string) bool {
	if strings.HasPrefix(v, "rate(") {
		n, unit, ok := rate(v)
		return ok && (n == "1") != strings.HasSuffix(unit, "s")
	}
	inner, ok := strings.CutPrefix(v, "cron(")
	if !ok {
		return false
	}
	if inner, ok = strings.CutSuffix(inner, ")"); !ok {
		return false
	}
	fields := strings.Split(inner, " ")
	if len(fields) != 6 {
		return false
	}
	for _, f := range fields {
		if f == "" || strings.ContainsAny(f, "\t\n\f\r") {
			return false
		}
	}
	return true
}

// rate splits rate(<n> <unit>), n 1 to 999999 without a leading zero and
// unit one of minute, minutes, hour, hours, day, days, singular or plural
// whatever n is.
func rate(v string) (n, unit string, ok bool) {
	inner, ok := strings.CutPrefix(v, "rate(")
	if !ok {
		return "", "", false
	}
	inner, ok = strings.CutSuffix(inner, ")")
	n, unit, found := strings.Cut(inner, " ")
	if !ok || !found || len(n) < 1 || len(n) > 6 || n[0] == '0' || strings.Trim(n, "0123456789") != "" {
		return "", "", false
	}
	switch unit {
	case "minute", "minutes", "hour", "hours", "day", "days":
		return n, unit, true
	}
	return "", "", false
}

// ScheduleInterval is how often a schedule expression runs when it is a
// rate; ok is false for a cron expression (or anything else).
func ScheduleInterval(expr string) (d time.Duration, ok bool) {
	var n int
	var unit string
	if _, err := fmt.Sscanf(expr, "rate(%d %s", &n, &unit); err != nil || n <= 0 {
		return 0, false
	}
	switch strings.TrimSuffix(strings.TrimSuffix(unit, ")"), "s") {
	case "minute":
		return time.Duration(n) * time.Minute, true
	case "hour":
		return time.Duration(n) * time.Hour, true
	case "day":
		return time.Duration(n) * 24 * time.Hour, true
	}
	return 0, false
}

// parameterRE is an SSM parameter's full name, as a hierarchy.
var parameterRE = sized{slash, charset{chars: alnum + "_./-"}, 2, 1001}

// namespaceRE is a CloudWatch namespace's characters; AWS/ is AWS's own,
// checked apart (RE2 has no lookahead).
var namespaceRE = sized{charset{chars: alnum + "._/#:-"}, charset{chars: alnum + "._/#:-"}, 1, 255}

// namespace reads a CloudWatch namespace.
func namespace(field func(*Config) *string) kind {
	const format = "letters, digits and `._-/#:`, at most 255 characters, not starting with `AWS/`"
	return kind{format: format, parse: func(c *Config, _, v string) error {
		if !namespaceRE.MatchString(v) || strings.HasPrefix(v, "AWS/") {
			return fmt.Errorf("must be %s, got %q", format, v)
		}
		*field(c) = v
		return nil
	}}
}

var stackNameRE = sized{letters, charset{chars: alnum + "-"}, 1, 100}

var (
	claimRE = sized{charset{chars: alnum}, charset{chars: alnum + ":._-"}, 1, 128}
	// groupRE: the administrators' claim is split at white space and
	// commas, and API Gateway wraps an array in brackets.
	groupRE = sized{charset{"\t\n\f\r ,[]", true}, charset{"\t\n\f\r ,[]", true}, 1, 128}
)

// localAdmins reads LOCAL_ADMIN_USERS: comma-separated user ids, each one
// a caller may be. The local stack's bearer token is the caller's id, so
// in AWS the list would mean nothing; it is refused there rather than
// ignored.
func localAdmins(field func(*Config) *[]string) kind {
	return kind{format: "comma-separated user ids; only with `SANDSTEP_ENV=local`",
		parse: func(c *Config, name, v string) error {
			if !c.Local() {
				return fmt.Errorf("is for the local stack only (SANDSTEP_ENV=%s); in AWS administrators are the members of ADMIN_GROUP", EnvLocal)
			}
			var list []string
			for u := range strings.SplitSeq(v, ",") {
				u = strings.TrimSpace(u)
				if err := sandstep.ValidateCallerID(name, u); err != nil {
					return fmt.Errorf("entry %s: %s", quote(u), sandstep.ErrorMessage(err))
				}
				list = append(list, u)
			}
			*field(c) = list
			return nil
		}}
}

// matching accepts a value re matches; format says what that is.
func matching(match func(string) bool, format string, field func(*Config) *string) kind {
	return kind{format: format, parse: func(c *Config, _, v string) error {
		if !match(v) {
			return fmt.Errorf("must be %s, got %q", format, v)
		}
		*field(c) = v
		return nil
	}}
}

// prefix reads a secret-name prefix: it must start with start (if any),
// end with "/" and hold no white space, so that it scopes by path, and
// pass check (the characters of a name, not the root, no "." or ".."
// segment).
func prefix(start string, check func(string) error, field func(*Config) *string) kind {
	format := "ends with `/`, not `/` alone, no `.` or `..` segment"
	if start != "" {
		format = "starts with `" + start + "`, ends with `/`, not `/` alone, no `.` or `..` segment"
	}
	return kind{format: format, parse: func(c *Config, _, v string) error {
		if !strings.HasPrefix(v, start) || !strings.HasSuffix(v, "/") || strings.ContainsAny(v, " \t\r\n") || len(v) > 512 {
			if start != "" {
				return fmt.Errorf("must start with %q and end with \"/\", got %q", start, v)
			}
			return fmt.Errorf("must end with \"/\", got %q", v)
		}
		if err := check(v); err != nil {
			return err
		}
		*field(c) = v
		return nil
	}}
}

// sharedPrefixes reads a comma-separated list of reference prefixes; Load
// checks them against the deployment's prefixes (secrets.NewScopes).
func sharedPrefixes(field func(*Config) *[]string) kind {
	return kind{format: "comma-separated `ssm:/…/` and `secretsmanager:…/` prefixes, each under `SECRETS_SSM_PREFIX` or `SECRETS_MANAGER_PREFIX`, outside their `users/` and `repos/`, no `.` or `..` segment",
		parse: func(c *Config, _, v string) error {
			var list []string
			for p := range strings.SplitSeq(v, ",") {
				p = strings.TrimSpace(p)
				if p == "" {
					return fmt.Errorf("has an empty entry, got %s", quote(v))
				}
				list = append(list, p)
			}
			*field(c) = list
			return nil
		}}
}

// urlKind reads an absolute http(s) URL without credentials, query or
// fragment. Plain http is accepted if anyHTTP, with SANDSTEP_ENV=local, or
// for a loopback host.
func urlKind(anyHTTP bool, field func(*Config) *string) kind {
	format := "absolute http(s) URL without user (no `@`), query or fragment"
	if !anyHTTP {
		format += "; https unless `SANDSTEP_ENV=local` or the host is loopback"
	}
	return kind{format: format, parse: func(c *Config, _, v string) error {
		// What an error repeats stops before a query or fragment, which may
		// carry a token.
		shown, _, _ := strings.Cut(v, "?")
		shown, _, _ = strings.Cut(shown, "#")
		if shown != v {
			shown += "…"
		}
		u, err := url.Parse(v)
		switch {
		case strings.Contains(v, "@"):
			// A user part may be a password, and a password may hold / # ?
			// (so that what parses may read it as a host): an @ anywhere
			// is refused, and the value never repeated.
			return errors.New("must be an absolute http(s) URL such as https://example.com/api, without a user name or password (the value holds an @, so it is not repeated)")
		case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
			return fmt.Errorf("must be an absolute http(s) URL such as https://example.com/api, got %s", quote(shown))
		case u.Scheme != "https" && u.Scheme != "http":
			return fmt.Errorf("must be an http(s) URL, got scheme %s", quote(u.Scheme))
		case u.Scheme == "http" && !anyHTTP && !c.Local() && !loopback(u.Hostname()):
			return fmt.Errorf("must use https (http is allowed only for a loopback host or with SANDSTEP_ENV=local), got %s", quote(shown))
		case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(v, "#"):
			return fmt.Errorf("must not have a query or fragment, got %s", quote(shown))
		}
		*field(c) = strings.TrimRight(v, "/")
		return nil
	}}
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ref reads a secret reference. The error never repeats the value: a key
// pasted where its reference belongs must not reach a log.
// Every ref variable names one of the deployment's own secrets, which Load
// keeps out of callers' reach.
func ref(field func(*Config) *secrets.Ref) kind {
	return kind{format: "`ssm:/name` or `secretsmanager:id[#key]`", parse: func(c *Config, name, v string) error {
		r, err := secrets.ParseRef(name, v)
		if err != nil {
			return errors.New(sandstep.ErrorMessage(err))
		}
		*field(c) = r
		return nil
	}, ref: func(c Config) secrets.Ref { return *field(&c) }}
}

// networkPolicy reads a network policy as JSON, checked by the rules of a
// create's network field, whose limits it must meet too: with no list of
// its own a caller gets the ceiling's, and Daytona gets that.
func networkPolicy(field func(*Config) **sandstep.NetworkPolicy) kind {
	return kind{format: "JSON object with `blockAll`, `allowList`, `domainAllowList`, each optional, as a create's `network`",
		parse: func(c *Config, _, v string) error {
			var p sandstep.NetworkPolicy
			if err := strictjson.Decode([]byte(v), &p); err != nil {
				if sandstep.ErrorField(err) == "" {
					return fmt.Errorf(`%s (a JSON object such as {"domainAllowList": ["github.com"]})`, sandstep.ErrorMessage(err))
				}
				return errors.New(sandstep.ErrorText(err))
			}
			checked, err := sandstep.CheckNetworkPolicy("", &p)
			if err != nil {
				return errors.New(sandstep.ErrorText(err))
			}
			*field(c) = checked
			return nil
		}}
}

// secret reads a value that must never be printed.
func secret(format string, field func(*Config) *Secret) kind {
	return kind{format: format, parse: func(c *Config, _, v string) error {
		*field(c) = Secret(v)
		return nil
	}}
}
