package sandstep

import "errors"

// ErrSecretScope is the cause of an EINVALID error refusing a secret
// reference its caller may not name. internal/secrets decides; the service
// recognises the refusal with errors.Is and logs it as a denied attempt.
var ErrSecretScope = errors.New("secret reference outside the caller's scope")

// ErrCreateRate is the cause of an ETRANSIENT error refusing a create
// because the provider's sandbox-create rate is spent for now, across every
// instance of the deployment; its RetryAfter is when the budget comes back.
// The service waits that long when its caller's deadline allows.
var ErrCreateRate = errors.New("the provider's sandbox-create rate is spent for now")

// ErrCreateClaimed is the cause of an ETRANSIENT error refusing an attempt
// of a task's CreateSandbox step while another attempt's claim on making
// the task's sandbox holds: the state machine asked the step again while
// its first invocation still runs, and asks again until that one ends (or
// the attempt read the task before the other recorded its sandbox, which
// the step asked again then finds). It is the claim at work, no fault.
var ErrCreateClaimed = errors.New("another attempt is making the task's sandbox")

// ErrIssueCancelled is the cause of the ECONFLICT refusing an issue's task
// asked for before the issue's last cancel (its label removed, or
// `cancel` commented, while the task was being started).
var ErrIssueCancelled = errors.New("the issue's task was cancelled as it was being started")

// ErrLimitChanged is the cause of the ECONFLICT refusing a change of a
// user's limit whose caller read an override that another change has
// replaced since: the change's audit event would name the wrong previous
// limit. The service reads again and retries.
var ErrLimitChanged = errors.New("the user's limit changed since it was read")
