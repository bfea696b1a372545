package sandstep

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// State is a sandstep sandbox's lifecycle state as sandstep records it.
// Daytona's own, finer-grained state (an auto-stopped sandbox is "stopped"
// there and ready here: it starts again on use) is reported beside it.
type State string

const (
	// StateCreating: a quota slot is reserved and the Daytona sandbox is
	// being created, started and loaded with code.
	StateCreating State = "creating"
	// StateReady: started, code in place, accepting commands.
	StateReady State = "ready"
	// StateDeleting: delete was asked for; the slot may not be released yet.
	StateDeleting State = "deleting"
	// StateDeleted: gone from Daytona, slot released. Terminal.
	StateDeleted State = "deleted"
	// StateFailed: create failed; the Daytona sandbox was deleted and the
	// slot released. Terminal.
	StateFailed State = "failed"
	// StateGone: Daytona no longer has it although sandstep did not delete
	// it (TTL backstop, manual delete); slot released. Terminal.
	StateGone State = "gone"
)

// Terminal reports whether no further transition leaves s.
func (s State) Terminal() bool {
	return s == StateDeleted || s == StateFailed || s == StateGone
}

// Resources asks Daytona for a sandbox size. Only valid with an image.
type Resources struct {
	CPU       int `json:"cpu,omitempty" dynamodbav:"cpu,omitempty"`
	MemoryGiB int `json:"memoryGiB,omitempty" dynamodbav:"memoryGiB,omitempty"`
	DiskGiB   int `json:"diskGiB,omitempty" dynamodbav:"diskGiB,omitempty"`
}

// Metadata ties a sandbox or task to the job that asked for it; it is
// copied into every audit event.
type Metadata struct {
	InstallationID string `json:"installationId,omitempty" dynamodbav:"installationId,omitempty"`
	IssueID        string `json:"issueId,omitempty" dynamodbav:"issueId,omitempty"`
	Repo           string `json:"repo,omitempty" dynamodbav:"repo,omitempty"`
}

// Sandbox is sandstep's record of one Daytona sandbox.
type Sandbox struct {
	ID        string `json:"id" dynamodbav:"id"`
	Owner     string `json:"owner" dynamodbav:"owner"`
	DaytonaID string `json:"daytonaId,omitempty" dynamodbav:"daytonaId,omitempty"`
	State     State  `json:"state" dynamodbav:"state"`
	// TaskID names the task that made the sandbox for its command: the
	// reaper deletes one its task no longer holds.
	TaskID string `json:"taskId,omitempty" dynamodbav:"taskId,omitempty"`
	// ProviderState is Daytona's state as last seen (e.g. "started").
	ProviderState   string            `json:"providerState,omitempty" dynamodbav:"providerState,omitempty"`
	Snapshot        string            `json:"snapshot,omitempty" dynamodbav:"snapshot,omitempty"`
	Image           string            `json:"image,omitempty" dynamodbav:"image,omitempty"`
	Resources       *Resources        `json:"resources,omitempty" dynamodbav:"resources,omitempty"`
	Labels          map[string]string `json:"labels,omitempty" dynamodbav:"labels,omitempty"`
	Metadata        Metadata          `json:"metadata" dynamodbav:"metadata"`
	AutoStopMinutes int               `json:"autoStopMinutes,omitempty" dynamodbav:"autoStopMinutes,omitempty"`
	TTLMinutes      int               `json:"ttlMinutes,omitempty" dynamodbav:"ttlMinutes,omitempty"`
	// Network is the policy the sandbox was created with: the caller's
	// within the deployment's ceiling. nil: open.
	Network *NetworkPolicy `json:"network,omitempty" dynamodbav:"network,omitempty"`
	// ToolboxURL is where the provider's toolbox answers for the sandbox
	// (Daytona's regional proxy), as its create saw it.
	ToolboxURL string `json:"-" dynamodbav:"toolboxUrl,omitempty"`
	// NoSecretsFile: created without secretEnv, so its commands need not
	// load a secrets file (records older than the field load it).
	NoSecretsFile bool `json:"-" dynamodbav:"noSecretsFile,omitempty"`
	// Error is a caller-safe reason for StateFailed.
	Error     string    `json:"error,omitempty" dynamodbav:"error,omitempty"`
	CreatedAt time.Time `json:"createdAt" dynamodbav:"createdAt"`
	// Size is what Daytona gave the sandbox (Resources is what its create
	// asked for, none with a snapshot), when its create's answer said.
	Size *Resources `json:"-" dynamodbav:"size,omitempty"`
	// MadeAt is when Daytona was asked for the sandbox, by the create's
	// try that made it (CreatedAt is the record's, before waits for the
	// quota and the create rate).
	MadeAt    *time.Time `json:"-" dynamodbav:"madeAt,omitempty"`
	UpdatedAt time.Time  `json:"updatedAt" dynamodbav:"updatedAt"`
	DeletedAt *time.Time `json:"deletedAt,omitempty" dynamodbav:"deletedAt,omitempty"`
}

// TaskStatus is a long-running task's status.
type TaskStatus string

const (
	TaskQueued    TaskStatus = "queued"
	TaskRunning   TaskStatus = "running"
	TaskSucceeded TaskStatus = "succeeded"
	TaskFailed    TaskStatus = "failed"
	TaskTimedOut  TaskStatus = "timed_out"
	TaskCancelled TaskStatus = "cancelled"
)

// Terminal reports whether the task has finished.
func (s TaskStatus) Terminal() bool {
	switch s {
	case TaskSucceeded, TaskFailed, TaskTimedOut, TaskCancelled:
		return true
	}
	return false
}

// Task is one long-running command, driven by the state machine. The
// fields tagged json:"-" are the watch's own bookkeeping, kept in the record
// but never shown to a caller.
type Task struct {
	ID           string     `json:"id" dynamodbav:"id"`
	Owner        string     `json:"owner" dynamodbav:"owner"`
	SandboxID    string     `json:"sandboxId,omitempty" dynamodbav:"sandboxId,omitempty"`
	ExecutionARN string     `json:"executionArn,omitempty" dynamodbav:"executionArn,omitempty"`
	Status       TaskStatus `json:"status" dynamodbav:"status"`
	ExitCode     *int       `json:"exitCode,omitempty" dynamodbav:"exitCode,omitempty"`
	// Command is the command line as the caller gave it. It never holds a
	// secret value: secrets reach the sandbox as a file, not as text.
	Command        string     `json:"command,omitempty" dynamodbav:"command,omitempty"`
	TimeoutSeconds int        `json:"timeoutSeconds" dynamodbav:"timeoutSeconds"`
	KeepSandbox    bool       `json:"keepSandbox,omitempty" dynamodbav:"keepSandbox,omitempty"`
	Metadata       Metadata   `json:"metadata" dynamodbav:"metadata"`
	Error          string     `json:"error,omitempty" dynamodbav:"error,omitempty"`
	CreatedAt      time.Time  `json:"createdAt" dynamodbav:"createdAt"`
	StartedAt      *time.Time `json:"startedAt,omitempty" dynamodbav:"startedAt,omitempty"`
	FinishedAt     *time.Time `json:"finishedAt,omitempty" dynamodbav:"finishedAt,omitempty"`
	Deadline       *time.Time `json:"deadline,omitempty" dynamodbav:"deadline,omitempty"`
	// QueuedAt is when the task first waited for a slot of its
	// repository's quota (GITHUB_QUEUE_TIMEOUT); nil if it never did.
	QueuedAt *time.Time `json:"queuedAt,omitempty" dynamodbav:"queuedAt,omitempty"`
	// Waiting is why the task waits, as its issue's comment says:
	// "queued" (its repository's quota), "paused" (the drain) or
	// "capacity" (Daytona's); "" before it was told. The comment is
	// written again when the reason changes.
	Waiting string `json:"-" dynamodbav:"waiting,omitempty"`
	// Notify is the notice sent when the task ends; nil when none was asked.
	Notify *TaskNotice `json:"notify,omitempty" dynamodbav:"notify,omitempty"`
	// PullRequest is the web URL of the pull request an issue's task
	// opened with the agent's commits.
	PullRequest string `json:"pullRequest,omitempty" dynamodbav:"pullRequest,omitempty"`
	// Usage is what the task has consumed so far; Cost its estimate,
	// worked out when the task is read, never stored.
	Usage *TaskUsage `json:"usage,omitempty" dynamodbav:"usage,omitempty"`
	Cost  *TaskCost  `json:"cost,omitempty" dynamodbav:"-"`

	// SessionID and CommandID name the running command at the provider.
	SessionID string `json:"-" dynamodbav:"sessionId,omitempty"`
	CommandID string `json:"-" dynamodbav:"commandId,omitempty"`
	// WaitToken is the task token of the state machine's current wait; a
	// nudge hands it back to wake the execution.
	WaitToken string `json:"-" dynamodbav:"waitToken,omitempty"`
	// APIURL is the API base URL the task's command nudges; "" for none.
	APIURL string `json:"-" dynamodbav:"apiUrl,omitempty"`
	// NudgedAt is when the command's wrapper said it was ending: once.
	NudgedAt *time.Time `json:"-" dynamodbav:"nudgedAt,omitempty"`
	// NudgeWoken says a wait was ended at once for the nudge; later waits
	// run their time (the checks after it poll shortly for a while).
	NudgeWoken bool `json:"-" dynamodbav:"nudgeWoken,omitempty"`
	// NudgeHash is the SHA-256 of the task's nudge secret.
	NudgeHash string `json:"-" dynamodbav:"nudgeHash,omitempty"`
	// LogBytes are the bytes of each stream stored so far: stdout, stderr.
	LogBytes [2]int64 `json:"-" dynamodbav:"logBytes"`
	// LogSeq is the sequence number of the last stored log chunk.
	LogSeq int64 `json:"-" dynamodbav:"logSeq"`
	// LogCut is the stream whose chunk reached MAX_TASK_LOG_BYTES, and
	// LogCutAt when, written with that chunk; "" while the output is under
	// it. Readers are given the cut's marker after the output.
	LogCut   string     `json:"-" dynamodbav:"logCut,omitempty"`
	LogCutAt *time.Time `json:"-" dynamodbav:"logCutAt,omitempty"`
	// IssueComment is the id of the comment that follows an issue's task
	// on the issue; 0 before it is written.
	IssueComment int64 `json:"-" dynamodbav:"issueComment,omitempty"`
	// TokenExpiresAt is when the agent's read-only GitHub token expires
	// (never the token): the watch replaces it before.
	TokenExpiresAt *time.Time `json:"-" dynamodbav:"tokenExpiresAt,omitempty"`
	// KilledAt is when a check killed the command at its deadline: the
	// task times out at that moment, whichever step ends it (the check,
	// Collect once the rest is stored, or a clean-up), whatever comes
	// between.
	KilledAt *time.Time `json:"-" dynamodbav:"killedAt,omitempty"`
	// KillPending says the deadline's kill of the command, marked by
	// KilledAt in the same write, has not landed yet; cleared once it
	// does. A KilledAt without it has landed: versions before it wrote
	// KilledAt only for a kill that landed (or a clean-up took it so).
	KillPending bool `json:"-" dynamodbav:"killPending,omitempty"`
	// CreateClaim is when the attempt of the CreateSandbox step that is
	// making the task's sandbox will have ended at the latest (Unix
	// milliseconds); 0 when none is. An attempt asked again while it
	// runs finds it and makes no second sandbox.
	CreateClaim int64 `json:"-" dynamodbav:"createClaim,omitempty"`
	// OutputNotStored says why what the command wrote after its stored
	// output, if anything, was not stored: the task ended before it could
	// be (its sandbox gone or unreadable, no time left). Readers are given
	// it as the output's last chunk.
	OutputNotStored string `json:"outputNotStored,omitempty" dynamodbav:"outputNotStored,omitempty"`
}

// TaskCleanupMargin is how long a task's sandbox outlives its command's
// deadline, or a collect that may run past it: time to collect the output
// and artifacts and to clean up, after a killing check that may wait out
// a Lambda throttle or a Daytona outage (about 15 minutes).
const TaskCleanupMargin = 45 * time.Minute

// TaskExecutionMargin is how long a task's execution outlives its
// admission waits and its longest command (its timeout is CAPACITY_WAIT +
// GITHUB_QUEUE_TIMEOUT + MAX_TASK_DURATION + this). It holds, at their
// longest, the state machine's retry delays that the service's admission
// bounds do not count (about 27 minutes: Prepare's, CreateSandbox's of
// transient errors, the capacity retry's last, StartCommand's), the
// admitted create's own run, which those bounds do not count either (up to
// CreateSandbox's 330 s), and the work after the command's deadline (about
// 79 minutes: the wait that ends at it, each of whose attempts waits the
// time that was left so that all its retries come after it, and the check
// that kills the command, each of which may wait out a Lambda throttle or
// a Daytona outage, the collect's own budget, one clean-up, and their
// retry delays). infra/statemachine's tests add them up from the
// definition.
const TaskExecutionMargin = 115 * time.Minute

// LogChunk is one ordered piece of a task's output.
type LogChunk struct {
	Seq    int64     `json:"seq"`
	Stream string    `json:"stream"` // "stdout" or "stderr"
	Data   string    `json:"data"`
	Time   time.Time `json:"time"`
	// Fresh: read from the sandbox for this reader, not stored yet. Its
	// Seq is the last stored chunk's; when the bytes are stored, a reader
	// who had them is not given them again.
	Fresh bool `json:"fresh,omitempty"`
}

// Quota is a user's sandbox slot accounting.
type Quota struct {
	UserID string `json:"userId"`
	// Active counts the slots held: reserved or committed, not yet released.
	Active int `json:"active"`
	// Limit is the user's effective limit (override or default).
	Limit int `json:"limit"`
	// LimitSet says Limit is the user's own override, set by an
	// administrator, not the deployment's default.
	LimitSet bool `json:"limitSet"`
}

// AuditEvent records who did what. It never holds a secret value.
type AuditEvent struct {
	Time      time.Time `json:"time"`
	Action    string    `json:"action"`
	UserID    string    `json:"userId"`
	SandboxID string    `json:"sandboxId,omitempty"`
	TaskID    string    `json:"taskId,omitempty"`
	// TargetUserID is the user an administrator acted on (UserID is the
	// administrator): the event lists under that user.
	TargetUserID string   `json:"targetUserId,omitempty"`
	RequestID    string   `json:"requestId,omitempty"`
	Metadata     Metadata `json:"metadata"`
	// Outcome is "ok" or an error code.
	Outcome string `json:"outcome,omitempty"`
	// Detail holds small, non-secret facts (e.g. exit code, state), each
	// at most MaxAuditDetailValueLength bytes.
	Detail map[string]string `json:"detail,omitempty"`
}

// MaxAuditDetailValueLength bounds one value of an AuditEvent's Detail.
const MaxAuditDetailValueLength = 2048

// Idempotency record statuses.
const (
	IdempotencyInProgress = "in_progress"
	IdempotencyCompleted  = "completed"
)

// IdempotencyRecord is what an Idempotency-Key remembers: the hash of the
// first request's body and, once it completed, its response.
type IdempotencyRecord struct {
	Status      string
	RequestHash string
	Response    []byte
	ExpiresAt   time.Time
}

// MaxUserIDLength bounds a user id: the JWT subject, or a direct caller's
// userId.
const MaxUserIDLength = 128

// MaxRepoUserIDLength bounds a repository's user id (RepoUser): GitHub's
// owners have up to 39 characters and its repositories' names up to 100.
const MaxRepoUserIDLength = len(RepoUserPrefix) + 39 + len("/") + 100

// ValidateUserID checks that id can identify a user: 1 to MaxUserIDLength
// bytes (a repository's, MaxRepoUserIDLength) of UTF-8 without '#', white
// space or control characters (user ids are parts of the table's keys).
// The error is EINVALID naming field.
func ValidateUserID(field, id string) error {
	limit := MaxUserIDLength
	if _, ok := RepoOf(id); ok {
		limit = MaxRepoUserIDLength
	}
	switch {
	case strings.TrimSpace(id) == "":
		return Invalid(field, "is required")
	case len(id) > limit:
		return Invalid(field, "must be at most %d bytes, got %d", limit, len(id))
	case !utf8.ValidString(id):
		return Invalid(field, "must be valid UTF-8")
	case strings.ContainsFunc(id, func(r rune) bool { return r == '#' || unicode.IsSpace(r) || unicode.IsControl(r) }):
		return Invalid(field, "must not contain '#', white space or control characters")
	}
	return nil
}

// MaxRequestIDLength bounds a request id, which audit events keep.
const MaxRequestIDLength = 256

// ValidateRequestID checks a request id as audit events keep it: 1 to
// MaxRequestIDLength bytes of UTF-8 without white space or control
// characters. A caller's own (a direct invocation's requestId) is checked
// before anything is done: the delete's last write keeps it.
func ValidateRequestID(field, id string) error {
	switch {
	case id == "":
		return Invalid(field, "must not be empty")
	case len(id) > MaxRequestIDLength:
		return Invalid(field, "must be at most %d bytes, got %d", MaxRequestIDLength, len(id))
	case !utf8.ValidString(id):
		return Invalid(field, "must be valid UTF-8")
	case strings.ContainsFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return Invalid(field, "must not contain white space or control characters")
	}
	return nil
}

// RepoUserPrefix starts the user id of a repository, the owner of the
// tasks its issues start ("github:<owner>/<repo>"). No caller may claim it.
const RepoUserPrefix = "github:"

// RepoUser is the user id that owns repo's tasks.
func RepoUser(repo string) string { return RepoUserPrefix + repo }

// RepoOf is the repository whose user id is id ("owner/repo"), and
// whether id is a repository's at all: RepoUser's inverse.
func RepoOf(id string) (repo string, ok bool) { return strings.CutPrefix(id, RepoUserPrefix) }

// IssueOf is the GitHub issue whose task t is ("owner/repo" and its
// number), and whether it is one: a repository's task for an issue of
// that repository (no caller can own one, so none can claim an issue).
func IssueOf(t *Task) (repo, issue string, ok bool) {
	repo, ok = RepoOf(t.Owner)
	if !ok || repo == "" || repo != t.Metadata.Repo {
		return "", "", false
	}
	return repo, t.Metadata.IssueID, true
}

// IssueClaimField is the field of the conflict that refuses a task of an
// issue whose task is live (the store's issue claim).
const IssueClaimField = "metadata.issueId"

// ValidateCallerID is ValidateUserID for an id a caller asserts (a JWT's
// sub, a direct invocation's userId): a repository's id is refused.
func ValidateCallerID(field, id string) error {
	if err := ValidateUserID(field, id); err != nil {
		return err
	}
	if strings.HasPrefix(strings.ToLower(id), RepoUserPrefix) {
		return Invalid(field, "must not start with %q: those ids belong to repositories' tasks", RepoUserPrefix)
	}
	return nil
}

// Live is what one read of every record finds for the reaper to match
// against the provider.
type Live struct {
	Deployment string // the deployment's id; "" before one is recorded
	Sandboxes  []*Sandbox
	Tasks      []*Task        // not ended
	Notices    []*Task        // ended, with a completion notice pending
	Counted    map[string]int // by user, what their counter counts
	Held       []Slot         // the slots the counters hold
}

// Sweep is what one run's share of a sweep of the table did.
type Sweep struct {
	Pages   int    // pages of the table read; none when no sweep was under way or due
	Indexed int    // live items it gave their index key
	Failed  int    // live items it could not give it (the next sweep tries again)
	Legacy  []Slot // slots still held as items of an earlier layout, to be folded
	Done    bool   // it reached the table's end
}

// Slot is a quota slot a user holds for a sandbox (reserved or
// committed).
type Slot struct {
	UserID     string
	SandboxID  string
	ReservedAt time.Time
}
