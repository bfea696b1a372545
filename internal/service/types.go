package service

import (
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Call says who asks and how: it is built by the edge (API Gateway claims, or
// the state machine's trusted input) and never from a caller-controlled header.
type Call struct {
	UserID    string
	RequestID string
	// IdempotencyKey, when set, makes a POST safe to retry: the first
	// completed response is replayed, another body with the same key is a
	// conflict.
	IdempotencyKey string
	// APIURL is the API's base URL as the caller reached it, when the
	// call came through the API: where a task's command nudges.
	APIURL string
	// Admin says the caller is an administrator (the edge read the
	// configured claim); only administration asks.
	Admin bool
	// AskedAt, when set, is when the call came: a task it starts was
	// asked for then (its CreatedAt), which an issue's cancel since
	// refuses.
	AskedAt time.Time
	// Sender is the GitHub login whose delivery a repository's call
	// acts on (its permission checked): its audit events name it, as the
	// repository's user id does not say who.
	Sender string
}

// CreateSandboxInput is the body of POST /sandboxes.
type CreateSandboxInput struct {
	Snapshot string            `json:"snapshot,omitempty"`
	Image    string            `json:"image,omitempty"`
	Env      map[string]string `json:"env,omitempty"`
	// SecretEnv maps an environment variable name to a secret reference
	// ("ssm:/param" or "secretsmanager:id"); values are resolved inside the
	// Lambda and reach the sandbox as a file only the sandbox user can read.
	SecretEnv       map[string]string   `json:"secretEnv,omitempty"`
	Labels          map[string]string   `json:"labels,omitempty"`
	Resources       *sandstep.Resources `json:"resources,omitempty"`
	AutoStopMinutes *int                `json:"autoStopMinutes,omitempty"`
	TTLMinutes      *int                `json:"ttlMinutes,omitempty"`
	Files           []File              `json:"files,omitempty"`
	Git             *GitSource          `json:"git,omitempty"`
	// Network narrows the sandbox's outbound network within the
	// deployment's NETWORK_POLICY; none: the policy itself.
	Network  *sandstep.NetworkPolicy `json:"network,omitempty"`
	Metadata sandstep.Metadata       `json:"metadata"`
}

// File is one file to upload; Path is relative to the sandbox's working
// directory and may not escape it.
type File struct {
	Path          string `json:"path"`
	ContentBase64 string `json:"contentBase64"`
}

// GitSource is a repository to clone into the sandbox.
type GitSource struct {
	URL    string `json:"url"`
	Branch string `json:"branch,omitempty"`
	// Path is where to clone, relative to the working directory.
	Path string `json:"path,omitempty"`
	// TokenSecret is a secret reference for an HTTPS token.
	TokenSecret string `json:"tokenSecret,omitempty"`
}

// ExecInput is the body of POST /sandboxes/{id}/exec.
type ExecInput struct {
	Command string            `json:"command"`
	Cwd     string            `json:"cwd,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	// TimeoutSeconds is 1 to MAX_EXEC_TIMEOUT_SECONDS; nil: the default.
	// A pointer, so that an explicit 0 is refused rather than read as
	// left out.
	TimeoutSeconds *int `json:"timeoutSeconds,omitempty"`
}

// ExecResult is a finished command. A non-zero exit code is a result, not
// an error.
type ExecResult struct {
	ExitCode   int    `json:"exitCode"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	Truncated  bool   `json:"truncated"`
	DurationMs int64  `json:"durationMs"`
}

// ListInput asks for a page of a list: Limit items (1 to MaxListLimit,
// DefaultListLimit when absent) after Cursor, the previous page's
// NextCursor ("" for the first page).
type ListInput struct {
	Limit  *int   `json:"limit,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

// SandboxListInput asks for a page of the caller's sandboxes. State is
// "live" (the default: creating, ready or deleting), "all", or one state.
type SandboxListInput struct {
	ListInput
	State string `json:"state,omitempty"`
}

// SandboxList is one page of the caller's sandboxes.
type SandboxList struct {
	Items      []*sandstep.Sandbox `json:"items"`
	NextCursor string              `json:"nextCursor,omitempty"`
}

// AgentExecuteInput is the body of POST /api/agent/execute: a sandbox spec,
// the command to run in it, and whether to keep the sandbox afterwards.
type AgentExecuteInput struct {
	CreateSandboxInput
	Command        string `json:"command"`
	Cwd            string `json:"cwd,omitempty"`
	TimeoutSeconds *int   `json:"timeoutSeconds,omitempty"`
	KeepSandbox    bool   `json:"keepSandbox,omitempty"`
}

// AgentExecuteResult is the answer of POST /api/agent/execute.
type AgentExecuteResult struct {
	ExecResult
	SandboxID string `json:"sandboxId"`
	// Deleted reports whether the sandbox was deleted after the command.
	Deleted bool `json:"deleted"`
}
