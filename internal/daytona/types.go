package daytona

import (
	"fmt"
	"net/url"
	"strings"
)

// SandboxState is Daytona's SandboxState enum.
type SandboxState string

// Sandbox states. Stable: started, stopped, archived, paused, destroyed.
// Failure: error, build_failed. The others are transitional.
const (
	StateCreating         SandboxState = "creating"
	StateRestoring        SandboxState = "restoring"
	StateDestroyed        SandboxState = "destroyed"
	StateDestroying       SandboxState = "destroying"
	StateStarted          SandboxState = "started"
	StateStopped          SandboxState = "stopped"
	StateStarting         SandboxState = "starting"
	StateStopping         SandboxState = "stopping"
	StateError            SandboxState = "error"
	StateBuildFailed      SandboxState = "build_failed"
	StatePendingBuild     SandboxState = "pending_build"
	StateBuildingSnapshot SandboxState = "building_snapshot"
	StateUnknown          SandboxState = "unknown"
	StatePullingSnapshot  SandboxState = "pulling_snapshot"
	StateArchived         SandboxState = "archived"
	StateArchiving        SandboxState = "archiving"
	StateResizing         SandboxState = "resizing"
	StateSnapshotting     SandboxState = "snapshotting"
	StateForking          SandboxState = "forking"
	StatePausing          SandboxState = "pausing"
	StatePaused           SandboxState = "paused"
	StateResuming         SandboxState = "resuming"
)

// Failed reports whether s is a failure state (error, build_failed).
func (s SandboxState) Failed() bool { return s == StateError || s == StateBuildFailed }

// SandboxDesiredState is Daytona's SandboxDesiredState enum.
type SandboxDesiredState string

// Desired states.
const (
	DesiredDestroyed SandboxDesiredState = "destroyed"
	DesiredStarted   SandboxDesiredState = "started"
	DesiredStopped   SandboxDesiredState = "stopped"
	DesiredResized   SandboxDesiredState = "resized"
	DesiredArchived  SandboxDesiredState = "archived"
	DesiredPaused    SandboxDesiredState = "paused"
)

// CreateBuildInfo is the spec's CreateBuildInfo: a Dockerfile to build the
// sandbox image from.
type CreateBuildInfo struct {
	DockerfileContent string   `json:"dockerfileContent"`
	ContextHashes     []string `json:"contextHashes,omitempty"`
}

// BuildInfo is the spec's BuildInfo as returned on a Sandbox.
type BuildInfo struct {
	DockerfileContent string   `json:"dockerfileContent,omitempty"`
	ContextHashes     []string `json:"contextHashes,omitempty"`
	CreatedAt         string   `json:"createdAt"`
	UpdatedAt         string   `json:"updatedAt"`
	SnapshotRef       string   `json:"snapshotRef"`
}

// SandboxVolume is a volume mount.
type SandboxVolume struct {
	VolumeID  string `json:"volumeId"`
	MountPath string `json:"mountPath"`
	Subpath   string `json:"subpath,omitempty"`
}

// CreateSandboxRequest is the wire body of POST /sandbox (spec
// CreateSandbox). Build it with CreateSandboxParams.Request, which enforces
// the server's rules (no image field; resources only with buildInfo).
type CreateSandboxRequest struct {
	Name                string            `json:"name,omitempty"`
	Snapshot            string            `json:"snapshot,omitempty"`
	User                string            `json:"user,omitempty"`
	Env                 map[string]string `json:"env,omitempty"`
	Labels              map[string]string `json:"labels,omitempty"`
	Public              *bool             `json:"public,omitempty"`
	NetworkBlockAll     *bool             `json:"networkBlockAll,omitempty"`
	NetworkAllowList    string            `json:"networkAllowList,omitempty"`
	DomainAllowList     string            `json:"domainAllowList,omitempty"`
	Target              string            `json:"target,omitempty"`
	CPU                 *int              `json:"cpu,omitempty"`
	Memory              *int              `json:"memory,omitempty"`
	Disk                *int              `json:"disk,omitempty"`
	AutoStopInterval    *int              `json:"autoStopInterval,omitempty"`
	AutoArchiveInterval *int              `json:"autoArchiveInterval,omitempty"`
	AutoDeleteInterval  *int              `json:"autoDeleteInterval,omitempty"`
	TTLMinutes          *int              `json:"ttlMinutes,omitempty"`
	Volumes             []SandboxVolume   `json:"volumes,omitempty"`
	BuildInfo           *CreateBuildInfo  `json:"buildInfo,omitempty"`
}

// Resources are the sizes of an image-built sandbox (a snapshot fixes its
// own). Zero fields are left to the server.
type Resources struct {
	CPU       int // vCPUs
	MemoryGiB int
	DiskGiB   int
}

// CreateSandboxParams describes a sandbox to create. Exactly one of Snapshot
// and Image may be set (neither: the server's default snapshot).
//
// Name should be set and unique: it makes CreateSandbox idempotent (see
// CreateSandbox). Intervals are minutes; nil leaves the server default and
// 0 is meaningful (autoStop 0 = never, autoDelete 0 = on stop).
type CreateSandboxParams struct {
	Name     string
	Snapshot string
	// Image is a container image reference; it becomes
	// buildInfo.dockerfileContent "FROM <image>\n".
	Image     string
	Resources *Resources
	User      string
	Env       map[string]string
	Labels    map[string]string
	// Target is the region; empty uses Config.Target.
	Target              string
	Public              bool
	AutoStopInterval    *int
	AutoArchiveInterval *int
	AutoDeleteInterval  *int
	TTLMinutes          *int
	// NetworkBlockAll blocks all outbound traffic. NetworkAllowList (IPv4
	// CIDRs) and DomainAllowList (domains, *.example.com) allow only what
	// they list; each goes on the wire comma-separated, as the spec says.
	NetworkBlockAll  bool
	NetworkAllowList []string
	DomainAllowList  []string

	// Budget, if set, is told what each answer to the create (but a 429,
	// whose wait the error carries) said of Daytona's create limit, as
	// the answer arrives: before the sandbox has started, and also when it
	// then fails to. Daytona counts every request its throttler passed.
	Budget func(RateBudget)
}

// Request validates p and returns the wire body. defaultTarget is used when
// p.Target is empty.
func (p CreateSandboxParams) Request(defaultTarget string) (CreateSandboxRequest, error) {
	var r CreateSandboxRequest
	if p.Name != "" {
		if err := checkID("Name", p.Name); err != nil {
			return r, err
		}
	}
	if p.Snapshot != "" && p.Image != "" {
		return r, &ValidationError{Field: "Image", Reason: "cannot be combined with Snapshot"}
	}
	if p.Resources != nil && p.Image == "" {
		return r, &ValidationError{Field: "Resources", Reason: "are only accepted with Image (a snapshot fixes its resources)"}
	}
	if p.Image != "" {
		if strings.ContainsFunc(p.Image, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
			return r, &ValidationError{Field: "Image", Reason: "must be a single image reference without whitespace"}
		}
		r.BuildInfo = &CreateBuildInfo{DockerfileContent: "FROM " + p.Image + "\n"}
	}
	if res := p.Resources; res != nil {
		for _, f := range []struct {
			name string
			v    int
			dst  **int
		}{{"Resources.CPU", res.CPU, &r.CPU}, {"Resources.MemoryGiB", res.MemoryGiB, &r.Memory}, {"Resources.DiskGiB", res.DiskGiB, &r.Disk}} {
			if f.v < 0 {
				return r, &ValidationError{Field: f.name, Reason: "must not be negative"}
			}
			if f.v > 0 {
				v := f.v
				*f.dst = &v
			}
		}
	}
	for _, f := range []struct {
		name string
		v    *int
		min  int
	}{{"AutoStopInterval", p.AutoStopInterval, 0}, {"AutoArchiveInterval", p.AutoArchiveInterval, 0}, {"AutoDeleteInterval", p.AutoDeleteInterval, -1}, {"TTLMinutes", p.TTLMinutes, 0}} {
		if f.v != nil && *f.v < f.min {
			return r, &ValidationError{Field: f.name, Reason: fmt.Sprintf("must be at least %d", f.min)}
		}
	}
	for k := range p.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return r, &ValidationError{Field: "Env", Reason: "has an empty key or a key containing '=' or NUL"}
		}
	}
	for k := range p.Labels {
		if k == "" {
			return r, &ValidationError{Field: "Labels", Reason: "has an empty key"}
		}
	}
	// An entry with a comma would read as two on the wire.
	for _, l := range []struct {
		name    string
		entries []string
	}{{"NetworkAllowList", p.NetworkAllowList}, {"DomainAllowList", p.DomainAllowList}} {
		for i, e := range l.entries {
			if e == "" || strings.ContainsFunc(e, func(c rune) bool { return c == ',' || c <= ' ' || c == 0x7f }) {
				return r, &ValidationError{Field: fmt.Sprintf("%s[%d]", l.name, i), Reason: "must be one entry, without commas or white space"}
			}
		}
	}
	r.Name = p.Name
	r.Snapshot = p.Snapshot
	r.User = p.User
	r.Env = p.Env
	r.Labels = p.Labels
	if p.Public {
		t := true
		r.Public = &t
	}
	if p.NetworkBlockAll {
		t := true
		r.NetworkBlockAll = &t
	}
	r.NetworkAllowList = strings.Join(p.NetworkAllowList, ",")
	r.DomainAllowList = strings.Join(p.DomainAllowList, ",")
	r.Target = p.Target
	if r.Target == "" {
		r.Target = defaultTarget
	}
	r.AutoStopInterval = p.AutoStopInterval
	r.AutoArchiveInterval = p.AutoArchiveInterval
	r.AutoDeleteInterval = p.AutoDeleteInterval
	r.TTLMinutes = p.TTLMinutes
	return r, nil
}

// Sandbox is the spec's Sandbox (the fields sandstep uses or may show).
// Numbers the spec types as "number" are float64.
type Sandbox struct {
	ID                  string              `json:"id"`
	OrganizationID      string              `json:"organizationId"`
	Name                string              `json:"name"`
	Snapshot            string              `json:"snapshot,omitempty"`
	User                string              `json:"user"`
	Env                 map[string]string   `json:"env"`
	Labels              map[string]string   `json:"labels"`
	Public              bool                `json:"public"`
	NetworkBlockAll     bool                `json:"networkBlockAll"`
	NetworkAllowList    string              `json:"networkAllowList,omitempty"`
	DomainAllowList     string              `json:"domainAllowList,omitempty"`
	Target              string              `json:"target"`
	CPU                 float64             `json:"cpu"`
	GPU                 float64             `json:"gpu"`
	Memory              float64             `json:"memory"`
	Disk                float64             `json:"disk"`
	Spot                bool                `json:"spot,omitempty"`
	State               SandboxState        `json:"state,omitempty"`
	DesiredState        SandboxDesiredState `json:"desiredState,omitempty"`
	ErrorReason         string              `json:"errorReason,omitempty"`
	Recoverable         *bool               `json:"recoverable,omitempty"`
	AutoStopInterval    *float64            `json:"autoStopInterval,omitempty"`
	AutoPauseInterval   *float64            `json:"autoPauseInterval,omitempty"`
	AutoArchiveInterval *float64            `json:"autoArchiveInterval,omitempty"`
	AutoDeleteInterval  *float64            `json:"autoDeleteInterval,omitempty"`
	AutoDestroyAt       string              `json:"autoDestroyAt,omitempty"`
	Volumes             []SandboxVolume     `json:"volumes,omitempty"`
	BuildInfo           *BuildInfo          `json:"buildInfo,omitempty"`
	CreatedAt           string              `json:"createdAt,omitempty"`
	UpdatedAt           string              `json:"updatedAt,omitempty"`
	LastActivityAt      string              `json:"lastActivityAt,omitempty"`
	SandboxClass        string              `json:"sandboxClass,omitempty"`
	DaemonVersion       string              `json:"daemonVersion,omitempty"`
	RunnerID            string              `json:"runnerId,omitempty"`
	LinkedSandboxID     string              `json:"linkedSandboxId,omitempty"`
	WarmPoolID          string              `json:"warmPoolId,omitempty"`
	ToolboxProxyURL     string              `json:"toolboxProxyUrl"`
}

// SandboxListItem is the spec's SandboxListItem, the slimmer list entry.
type SandboxListItem struct {
	ID                  string              `json:"id"`
	OrganizationID      string              `json:"organizationId"`
	Name                string              `json:"name"`
	Target              string              `json:"target"`
	RunnerID            string              `json:"runnerId,omitempty"`
	SandboxClass        string              `json:"sandboxClass,omitempty"`
	State               SandboxState        `json:"state,omitempty"`
	DesiredState        SandboxDesiredState `json:"desiredState,omitempty"`
	Snapshot            string              `json:"snapshot,omitempty"`
	User                string              `json:"user"`
	ErrorReason         string              `json:"errorReason,omitempty"`
	Recoverable         *bool               `json:"recoverable,omitempty"`
	Public              bool                `json:"public"`
	NetworkBlockAll     bool                `json:"networkBlockAll"`
	CPU                 float64             `json:"cpu"`
	GPU                 float64             `json:"gpu"`
	Memory              float64             `json:"memory"`
	Disk                float64             `json:"disk"`
	Labels              map[string]string   `json:"labels"`
	AutoStopInterval    *float64            `json:"autoStopInterval,omitempty"`
	AutoArchiveInterval *float64            `json:"autoArchiveInterval,omitempty"`
	AutoDeleteInterval  *float64            `json:"autoDeleteInterval,omitempty"`
	AutoDestroyAt       string              `json:"autoDestroyAt,omitempty"`
	CreatedAt           string              `json:"createdAt,omitempty"`
	UpdatedAt           string              `json:"updatedAt,omitempty"`
	LastActivityAt      string              `json:"lastActivityAt,omitempty"`
	DaemonVersion       string              `json:"daemonVersion,omitempty"`
	ToolboxProxyURL     string              `json:"toolboxProxyUrl"`
}

// ListSandboxesResponse is one page of GET /sandbox. NextCursor is empty on
// the last page (the spec allows null).
type ListSandboxesResponse struct {
	Items      []SandboxListItem `json:"items"`
	NextCursor string            `json:"nextCursor"`
}

// ListSandboxesOptions filters GET /sandbox.
type ListSandboxesOptions struct {
	// Labels must all match (containment); sent JSON-encoded.
	Labels map[string]string
	// States, if set, restricts the states (repeated "states" keys).
	States []SandboxState
	// Name filters by name prefix.
	Name string
	// Limit is the page size, 1-200 (0: server default 100).
	Limit int
	// Cursor is the NextCursor of the previous page.
	Cursor string
	// IncludeErroredDeleted includes errored sandboxes already deleted.
	IncludeErroredDeleted bool
}

// toolboxProxyURLResponse is the spec's ToolboxProxyUrl.
type toolboxProxyURLResponse struct {
	URL string `json:"url"`
}

// ExecuteRequest is the body of POST /process/execute. Timeout is in
// seconds; 0 means Config.ExecTimeout (a timeout is always sent).
type ExecuteRequest struct {
	Command string            `json:"command"`
	Cwd     string            `json:"cwd,omitempty"`
	Envs    map[string]string `json:"envs,omitempty"`
	Timeout int               `json:"timeout"`
}

// ExecuteResponse is the answer of POST /process/execute: the exit code and
// stdout and stderr interleaved in Result. Truncated is set when Result was
// cut at Config.MaxOutputBytes.
type ExecuteResponse struct {
	ExitCode  int    `json:"exitCode"`
	Result    string `json:"result"`
	Truncated bool   `json:"-"`
}

// createSessionRequest is the spec's CreateSessionRequest.
type createSessionRequest struct {
	SessionID string `json:"sessionId"`
}

// SessionExecuteRequest is the body of POST /process/session/{id}/exec.
type SessionExecuteRequest struct {
	Command           string `json:"command"`
	RunAsync          bool   `json:"runAsync,omitempty"`
	SuppressInputEcho bool   `json:"suppressInputEcho,omitempty"`
}

// SessionExecuteResponse is the answer of a session exec. For runAsync only
// CmdID is set (HTTP 202); a synchronous exec (200) also has the output and
// the exit code. Truncated is set when Stdout or Stderr was cut at
// Config.MaxOutputBytes, OutputTruncated when Output was: Output holds both
// streams and their markers, so it passes the bound before either stream.
type SessionExecuteResponse struct {
	CmdID           string `json:"cmdId"`
	Output          string `json:"output,omitempty"`
	Stdout          string `json:"stdout,omitempty"`
	Stderr          string `json:"stderr,omitempty"`
	ExitCode        *int   `json:"exitCode,omitempty"`
	Truncated       bool   `json:"-"`
	OutputTruncated bool   `json:"-"`
}

// Command is a session command's status. ExitCode is nil until it ended.
type Command struct {
	ID       string `json:"id"`
	Command  string `json:"command"`
	ExitCode *int   `json:"exitCode,omitempty"`
}

// SessionCommandLogs is the log snapshot of a session command. Output is
// the raw log including the stream marker bytes (01 01 01 stdout, 02 02 02
// stderr), useful for byte-offset resumption; Stdout and Stderr are split.
// Truncated is set when Stdout or Stderr was cut at Config.MaxOutputBytes
// (or, for a plain-text answer, the combined log they are split from),
// OutputTruncated when Output was.
type SessionCommandLogs struct {
	Output          string `json:"output"`
	Stdout          string `json:"stdout"`
	Stderr          string `json:"stderr"`
	Truncated       bool   `json:"-"`
	OutputTruncated bool   `json:"-"`
}

// GitCloneRequest is the body of POST /git/clone. Password is a secret:
// String and GoString redact it, and errors never carry it.
type GitCloneRequest struct {
	URL      string `json:"url"`
	Path     string `json:"path"`
	Branch   string `json:"branch,omitempty"`
	CommitID string `json:"commit_id,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Depth    int    `json:"depth,omitempty"`
}

// String describes the request with the password redacted.
func (r GitCloneRequest) String() string {
	pw := ""
	if r.Password != "" {
		pw = "[REDACTED]"
	}
	return fmt.Sprintf("daytona.GitCloneRequest{URL:%q Path:%q Branch:%q CommitID:%q Username:%q Password:%s Depth:%d}",
		redactURLUserinfo(r.URL), r.Path, r.Branch, r.CommitID, r.Username, pw, r.Depth)
}

// GoString is String, so %#v redacts the password too.
func (r GitCloneRequest) GoString() string { return r.String() }

// redactURLUserinfo hides credentials embedded in a URL
// (https://user:token@host/...).
func redactURLUserinfo(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return "[REDACTED URL]"
		}
		return s
	}
	if u.User == nil {
		return s
	}
	u.User = url.User("REDACTED")
	return u.String()
}
