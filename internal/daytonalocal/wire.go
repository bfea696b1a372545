package daytonalocal

import (
	"encoding/json"
	"fmt"
)

// Wire types, written from api-openapi.json (main API) and
// toolbox-openapi3.yaml (toolbox). Required fields of the specs have no
// omitempty; optional ones are left out when unset.

// apiErrorBody is the main API's error body.
type apiErrorBody struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
	Error      string `json:"error"`
	Path       string `json:"path"`
	Timestamp  string `json:"timestamp"`
}

// toolboxErrorBody is the toolbox's ErrorResponse.
type toolboxErrorBody struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
	Code       string `json:"code,omitempty"` // left out for statuses with no DaemonErrorCode (429, 503)
	Timestamp  string `json:"timestamp"`
	Path       string `json:"path"`
	Method     string `json:"method"`
	Source     string `json:"source,omitempty"`
}

// createSandboxRequest is CreateSandbox. Pointers mark fields whose
// presence matters.
type createSandboxRequest struct {
	Name                 string              `json:"name"`
	Snapshot             string              `json:"snapshot"`
	User                 string              `json:"user"`
	Env                  map[string]string   `json:"env"`
	Labels               map[string]string   `json:"labels"`
	Public               bool                `json:"public"`
	NetworkBlockAll      bool                `json:"networkBlockAll"`
	NetworkAllowList     string              `json:"networkAllowList"`
	DomainAllowList      string              `json:"domainAllowList"`
	OutboundProxyURL     string              `json:"outboundProxyUrl"`
	OtelEndpointOverride string              `json:"otelEndpointOverride"`
	Target               string              `json:"target"`
	CPU                  *int                `json:"cpu"`
	GPU                  *int                `json:"gpu"`
	GpuType              gpuTypeList         `json:"gpuType"`
	Spot                 bool                `json:"spot"`
	Memory               *int                `json:"memory"`
	Disk                 *int                `json:"disk"`
	AutoStopInterval     *int                `json:"autoStopInterval"`
	AutoPauseInterval    *int                `json:"autoPauseInterval"`
	AutoArchiveInterval  *int                `json:"autoArchiveInterval"`
	AutoDeleteInterval   *int                `json:"autoDeleteInterval"`
	TTLMinutes           *int                `json:"ttlMinutes"`
	Volumes              []sandboxVolume     `json:"volumes"`
	BuildInfo            *createBuildInfo    `json:"buildInfo"`
	LinkedSandbox        string              `json:"linkedSandbox"`
	Secrets              []map[string]string `json:"secrets"`
}

// gpuTypeList accepts a single GpuType or an ordered list of them.
type gpuTypeList []string

func (g *gpuTypeList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*g = gpuTypeList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("gpuType must be a string or an array of strings")
	}
	*g = many
	return nil
}

type sandboxVolume struct {
	VolumeID  string `json:"volumeId"`
	MountPath string `json:"mountPath"`
	Subpath   string `json:"subpath,omitempty"`
}

type createBuildInfo struct {
	DockerfileContent string   `json:"dockerfileContent"`
	ContextHashes     []string `json:"contextHashes"`
}

type buildInfo struct {
	DockerfileContent string   `json:"dockerfileContent,omitempty"`
	ContextHashes     []string `json:"contextHashes,omitempty"`
	CreatedAt         string   `json:"createdAt"`
	UpdatedAt         string   `json:"updatedAt"`
	SnapshotRef       string   `json:"snapshotRef"`
}

// sandboxDTO is Sandbox: a SandboxListItem plus env, volumes, buildInfo
// and the per-sandbox settings a list leaves out.
type sandboxDTO struct {
	sandboxListItemDTO
	Env                  map[string]string `json:"env"`
	OutboundProxyURL     string            `json:"outboundProxyUrl,omitempty"`
	OtelEndpointOverride string            `json:"otelEndpointOverride,omitempty"`
	Volumes              []sandboxVolume   `json:"volumes"`
	BuildInfo            *buildInfo        `json:"buildInfo,omitempty"`
}

// sandboxListItemDTO is SandboxListItem: no env, volumes, buildInfo or
// per-sandbox secrets such as outboundProxyUrl.
type sandboxListItemDTO struct {
	ID                  string            `json:"id"`
	OrganizationID      string            `json:"organizationId"`
	Name                string            `json:"name"`
	Target              string            `json:"target"`
	RunnerID            string            `json:"runnerId"`
	SandboxClass        string            `json:"sandboxClass"`
	State               string            `json:"state,omitempty"`
	DesiredState        string            `json:"desiredState,omitempty"`
	Snapshot            string            `json:"snapshot,omitempty"`
	User                string            `json:"user"`
	ErrorReason         string            `json:"errorReason,omitempty"`
	Recoverable         *bool             `json:"recoverable,omitempty"`
	Public              bool              `json:"public"`
	NetworkBlockAll     bool              `json:"networkBlockAll"`
	NetworkAllowList    string            `json:"networkAllowList,omitempty"`
	DomainAllowList     string            `json:"domainAllowList,omitempty"`
	CPU                 int               `json:"cpu"`
	GPU                 int               `json:"gpu"`
	Spot                bool              `json:"spot"`
	GpuType             string            `json:"gpuType,omitempty"`
	Memory              int               `json:"memory"`
	Disk                int               `json:"disk"`
	Labels              map[string]string `json:"labels"`
	BackupState         string            `json:"backupState,omitempty"`
	AutoStopInterval    int               `json:"autoStopInterval"`
	AutoPauseInterval   int               `json:"autoPauseInterval"`
	AutoArchiveInterval int               `json:"autoArchiveInterval"`
	AutoDeleteInterval  int               `json:"autoDeleteInterval"`
	AutoDestroyAt       string            `json:"autoDestroyAt,omitempty"`
	CreatedAt           string            `json:"createdAt"`
	UpdatedAt           string            `json:"updatedAt"`
	LastActivityAt      string            `json:"lastActivityAt"`
	DaemonVersion       string            `json:"daemonVersion"`
	ToolboxProxyURL     string            `json:"toolboxProxyUrl"`
}

// listSandboxesResponse is ListSandboxesResponse; nextCursor is null on the
// last page.
type listSandboxesResponse struct {
	Items      []sandboxListItemDTO `json:"items"`
	NextCursor *string              `json:"nextCursor"`
}

type sandboxLabels struct {
	Labels map[string]string `json:"labels"`
}

type toolboxProxyURL struct {
	URL string `json:"url"`
}

// Toolbox wire types.

type executeRequest struct {
	Command string            `json:"command"`
	Cwd     string            `json:"cwd"`
	Envs    map[string]string `json:"envs"`
	Timeout *int              `json:"timeout"`
}

type executeResponse struct {
	ExitCode int    `json:"exitCode"`
	Result   string `json:"result"`
}

type createSessionRequest struct {
	SessionID string `json:"sessionId"`
}

type sessionDTO struct {
	SessionID string       `json:"sessionId"`
	Commands  []commandDTO `json:"commands"`
}

type commandDTO struct {
	ID       string `json:"id"`
	Command  string `json:"command"`
	ExitCode *int   `json:"exitCode,omitempty"`
}

type sessionExecuteRequest struct {
	Command           string `json:"command"`
	RunAsync          bool   `json:"runAsync"`
	Async             bool   `json:"async"`
	SuppressInputEcho bool   `json:"suppressInputEcho"`
}

type sessionExecuteResponse struct {
	CmdID    string  `json:"cmdId"`
	Output   *string `json:"output,omitempty"`
	Stdout   *string `json:"stdout,omitempty"`
	Stderr   *string `json:"stderr,omitempty"`
	ExitCode *int    `json:"exitCode,omitempty"`
}

type sessionCommandLogsResponse struct {
	Output string `json:"output"`
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
}

type sessionSendInputRequest struct {
	Data *string `json:"data"`
}

type gitCloneRequest struct {
	URL             string `json:"url"`
	Path            string `json:"path"`
	Branch          string `json:"branch"`
	CommitID        string `json:"commit_id"`
	Username        string `json:"username"`
	Password        string `json:"password"`
	Depth           int    `json:"depth"`
	InsecureSkipTLS bool   `json:"insecure_skip_tls"`
}

type dirResponse struct {
	Dir string `json:"dir"`
}

type fileInfoDTO struct {
	Name        string `json:"name"`
	Path        string `json:"path"`
	IsDir       bool   `json:"isDir"`
	Size        int64  `json:"size"`
	Mode        string `json:"mode"`
	Permissions string `json:"permissions"`
	Owner       string `json:"owner"`
	Group       string `json:"group"`
	ModTime     string `json:"modTime"`
	ModifiedAt  string `json:"modifiedAt"`
}

type filesDownloadRequest struct {
	Paths []string `json:"paths"`
}

type uploadedFile struct {
	Name string `json:"name"`
	Path string `json:"path"`
	Type string `json:"type"`
}
