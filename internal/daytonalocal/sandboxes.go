package daytonalocal

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Sandbox states and desired states used here (SandboxState and
// SandboxDesiredState in the spec).
const (
	stateCreating     = "creating"
	statePendingBuild = "pending_build"
	stateStarting     = "starting"
	stateStarted      = "started"
	stateStopping     = "stopping"
	stateStopped      = "stopped"
	stateError        = "error"
	stateDestroying   = "destroying"
	stateDestroyed    = "destroyed"
)

var (
	sandboxStates = []string{"creating", "restoring", "destroyed", "destroying", "started", "stopped",
		"starting", "stopping", "error", "build_failed", "pending_build", "building_snapshot", "unknown",
		"pulling_snapshot", "archived", "archiving", "resizing", "snapshotting", "forking", "pausing",
		"paused", "resuming"}
	gpuTypes = []string{"H100", "H200", "RTX-PRO-6000", "RTX-4090", "RTX-5090"}
)

const (
	defaultSnapshot    = "daytonaio/sandbox:local"
	defaultUser        = "daytona"
	defaultTarget      = "local"
	defaultCPU         = 1
	defaultMemory      = 1
	defaultDisk        = 3
	defaultAutoStop    = 15
	defaultAutoArchive = 7 * 24 * 60
	maxAutoArchive     = 30 * 24 * 60
)

// sandbox is one sandbox: metadata guarded by Server.mu, processes and
// sessions in procs (with its own lock). id, base, dir, stateDir, user and
// env never change after creation.
type sandbox struct {
	id       string
	base     string // Root/<id>
	dir      string // Root/<id>/work: work dir, HOME, default cwd
	stateDir string // Root/<id>/state: server bookkeeping
	user     string
	env      map[string]string
	procs    *procTable

	// Guarded by Server.mu.
	name                 string
	snapshot             string
	labels               map[string]string
	public               bool
	networkBlockAll      bool
	networkAllowList     string
	domainAllowList      string
	outboundProxyURL     string
	otelEndpointOverride string
	target               string
	cpu, gpu             int
	memory, disk         int
	gpuType              string
	spot                 bool
	state, desiredState  string
	errorReason          string
	recoverable          *bool
	autoStop             int
	autoPause            int
	autoArchive          int
	autoDelete           int
	autoDestroyAt        time.Time
	volumes              []sandboxVolume
	build                *buildInfo
	createdAt            time.Time
	updatedAt            time.Time
	lastActivity         time.Time
	stoppedAt            time.Time
	gen                  int // bumps invalidate pending transition timers
	timer                *time.Timer
	recorded             bool // its record is kept (from the end of its create)
}

// newID returns a random UUID (version 4), the form of Daytona's ids.
func newID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails: it crashes the program instead
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (s *Server) lookupLocked(idOrName string) *sandbox {
	if sb := s.sandboxes[idOrName]; sb != nil {
		return sb
	}
	return s.names[idOrName]
}

// detachLocked removes a sandbox from the maps and cancels its timers; the
// caller then destroys it (outside the lock).
func (s *Server) detachLocked(sb *sandbox) {
	delete(s.sandboxes, sb.id)
	if s.names[sb.name] == sb {
		delete(s.names, sb.name)
	}
	sb.gen++
	if sb.timer != nil {
		sb.timer.Stop()
	}
	sb.procs.setAccepting(false)
}

// destroy kills every process of the sandbox and removes its record, then
// its directory (a directory without a record is removed by the next
// server on the root).
func (sb *sandbox) destroy() error {
	sb.procs.shutdown()
	if err := os.Remove(recordPath(sb.base)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove sandbox %s record: %w", sb.id, err)
	}
	var err error
	for range 3 { // a dying process may still create a file
		if err = os.RemoveAll(sb.base); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("remove sandbox %s directory: %w", sb.id, err)
}

// afterStartDelayLocked runs fn (under Server.mu) once StartDelay has
// passed, unless the sandbox changed or went away meanwhile. With no delay
// it runs fn at once.
func (s *Server) afterStartDelayLocked(sb *sandbox, fn func()) {
	sb.gen++
	if sb.timer != nil {
		sb.timer.Stop()
		sb.timer = nil
	}
	if s.opts.StartDelay == 0 {
		fn()
		return
	}
	gen := sb.gen
	sb.timer = time.AfterFunc(s.opts.StartDelay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if sb.gen != gen || s.sandboxes[sb.id] != sb {
			return
		}
		fn()
	})
}

func (s *Server) setStateLocked(sb *sandbox, state string) {
	sb.state = state
	sb.updatedAt = s.now()
	if state == stateStarted {
		sb.lastActivity = sb.updatedAt
		sb.procs.setAccepting(true)
	}
	if state == stateStopped {
		sb.stoppedAt = sb.updatedAt
	}
	_ = s.saveLocked(sb) // logged; the sandbox runs on without its record
	s.log.Info("daytonalocal sandbox state", "sandbox", sb.id, "state", state)
}

func (s *Server) dtoLocked(sb *sandbox, base string) sandboxDTO {
	d := sandboxDTO{
		sandboxListItemDTO:   s.listItemLocked(sb, base),
		Env:                  copyMap(sb.env),
		OutboundProxyURL:     sb.outboundProxyURL,
		OtelEndpointOverride: sb.otelEndpointOverride,
		Volumes:              append([]sandboxVolume{}, sb.volumes...),
	}
	if sb.build != nil {
		b := *sb.build
		d.BuildInfo = &b
	}
	return d
}

func (s *Server) listItemLocked(sb *sandbox, base string) sandboxListItemDTO {
	return sandboxListItemDTO{
		ID:                  sb.id,
		OrganizationID:      organizationID,
		Name:                sb.name,
		Target:              sb.target,
		RunnerID:            runnerID,
		SandboxClass:        sandboxClass,
		State:               sb.state,
		DesiredState:        sb.desiredState,
		Snapshot:            sb.snapshot,
		User:                sb.user,
		ErrorReason:         sb.errorReason,
		Recoverable:         sb.recoverable,
		Public:              sb.public,
		NetworkBlockAll:     sb.networkBlockAll,
		NetworkAllowList:    sb.networkAllowList,
		DomainAllowList:     sb.domainAllowList,
		CPU:                 sb.cpu,
		GPU:                 sb.gpu,
		Spot:                sb.spot,
		GpuType:             sb.gpuType,
		Memory:              sb.memory,
		Disk:                sb.disk,
		Labels:              copyMap(sb.labels),
		BackupState:         "None",
		AutoStopInterval:    sb.autoStop,
		AutoPauseInterval:   sb.autoPause,
		AutoArchiveInterval: sb.autoArchive,
		AutoDeleteInterval:  sb.autoDelete,
		AutoDestroyAt:       formatTime(sb.autoDestroyAt),
		CreatedAt:           formatTime(sb.createdAt),
		UpdatedAt:           formatTime(sb.updatedAt),
		LastActivityAt:      formatTime(sb.lastActivity),
		DaemonVersion:       daemonVersion,
		ToolboxProxyURL:     base,
	}
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// validateCreate checks a CreateSandbox body the way the API does and
// returns the first problem as a message.
func validateCreate(req *createSandboxRequest) string {
	if strings.ContainsAny(req.Name, "/\\\x00") || strings.TrimSpace(req.Name) != req.Name || len(req.Name) > 255 {
		return "name must not contain slashes or surrounding spaces and must be at most 255 characters"
	}
	if req.Snapshot != "" && req.BuildInfo != nil {
		return "Cannot specify both snapshot and buildInfo"
	}
	hasResources := nonZero(req.CPU) || nonZero(req.GPU) || nonZero(req.Memory) || nonZero(req.Disk)
	if req.Snapshot != "" && hasResources {
		return "Cannot specify Sandbox resources when using a snapshot"
	}
	if req.BuildInfo != nil && strings.TrimSpace(req.BuildInfo.DockerfileContent) == "" {
		return "buildInfo.dockerfileContent should not be empty"
	}
	for _, f := range []struct {
		name string
		v    *int
	}{{"cpu", req.CPU}, {"gpu", req.GPU}, {"memory", req.Memory}, {"disk", req.Disk},
		{"autoStopInterval", req.AutoStopInterval}, {"autoPauseInterval", req.AutoPauseInterval},
		{"autoArchiveInterval", req.AutoArchiveInterval}, {"ttlMinutes", req.TTLMinutes}} {
		if f.v != nil && *f.v < 0 {
			return f.name + " must not be less than 0"
		}
	}
	if nonZero(req.AutoStopInterval) && nonZero(req.AutoPauseInterval) {
		return "At most one of autoStopInterval and autoPauseInterval may be non-zero"
	}
	for _, g := range req.GpuType {
		if !contains(gpuTypes, g) {
			return "each value in gpuType must be one of the following values: " + strings.Join(gpuTypes, ", ")
		}
	}
	for k := range req.Env {
		if !validEnvName(k) {
			return fmt.Sprintf("env: invalid variable name %q", k)
		}
	}
	for k, v := range req.Env {
		if strings.ContainsRune(v, 0) {
			return fmt.Sprintf("env: value of %q contains a NUL byte", k)
		}
	}
	for _, v := range req.Volumes {
		if v.VolumeID == "" || v.MountPath == "" {
			return "volumes: volumeId and mountPath are required"
		}
	}
	return ""
}

func nonZero(p *int) bool { return p != nil && *p != 0 }

func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func validEnvName(k string) bool {
	return k != "" && !strings.ContainsAny(k, "=\x00")
}

// newSandbox builds the sandbox a valid create request describes, with
// Daytona's defaults for what the request leaves out.
func (s *Server) newSandbox(req *createSandboxRequest) *sandbox {
	id := newID()
	now := s.now()
	sb := &sandbox{
		id:                   id,
		base:                 filepath.Join(s.root, id),
		user:                 cmp.Or(req.User, defaultUser),
		env:                  copyMap(req.Env),
		procs:                newProcTable(s.markOf(id), s.orphans),
		name:                 cmp.Or(req.Name, id),
		snapshot:             req.Snapshot,
		labels:               copyMap(req.Labels),
		public:               req.Public,
		networkBlockAll:      req.NetworkBlockAll,
		networkAllowList:     req.NetworkAllowList,
		domainAllowList:      req.DomainAllowList,
		outboundProxyURL:     req.OutboundProxyURL,
		otelEndpointOverride: req.OtelEndpointOverride,
		target:               cmp.Or(req.Target, defaultTarget),
		cpu:                  cmp.Or(intOr(req.CPU, 0), defaultCPU),
		memory:               cmp.Or(intOr(req.Memory, 0), defaultMemory),
		disk:                 cmp.Or(intOr(req.Disk, 0), defaultDisk),
		gpu:                  intOr(req.GPU, 0),
		state:                stateCreating,
		desiredState:         stateStarted,
		autoStop:             intOr(req.AutoStopInterval, defaultAutoStop),
		autoPause:            intOr(req.AutoPauseInterval, 0),
		autoArchive:          cmp.Or(intOr(req.AutoArchiveInterval, defaultAutoArchive), maxAutoArchive),
		autoDelete:           max(intOr(req.AutoDeleteInterval, -1), -1),
		volumes:              append([]sandboxVolume{}, req.Volumes...),
		createdAt:            now,
		updatedAt:            now,
		lastActivity:         now,
	}
	sb.dir = filepath.Join(sb.base, "work")
	sb.stateDir = filepath.Join(sb.base, "state")
	if len(req.GpuType) > 0 && sb.gpu > 0 {
		sb.gpuType = req.GpuType[0]
	}
	sb.spot = req.Spot && sb.gpu > 0
	if ttl := intOr(req.TTLMinutes, 0); ttl > 0 {
		sb.autoDestroyAt = now.Add(time.Duration(ttl) * time.Minute)
	}
	if req.BuildInfo != nil {
		sb.state = statePendingBuild
		sum := sha256.Sum256([]byte(req.BuildInfo.DockerfileContent))
		sb.build = &buildInfo{
			DockerfileContent: req.BuildInfo.DockerfileContent,
			ContextHashes:     req.BuildInfo.ContextHashes,
			CreatedAt:         formatTime(now),
			UpdatedAt:         formatTime(now),
			SnapshotRef:       "daytona-local-build-" + hex.EncodeToString(sum[:8]),
		}
	} else if sb.snapshot == "" {
		sb.snapshot = defaultSnapshot
	}
	return sb
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	var req createSandboxRequest
	if !s.readJSON(w, r, &req, false) {
		return
	}
	if msg := validateCreate(&req); msg != "" {
		s.apiError(w, r, http.StatusBadRequest, "%s", msg)
		return
	}
	sb := s.newSandbox(&req)
	if err := mkdirs(sb.dir, sb.stateDir); err != nil {
		s.log.Error("daytonalocal create sandbox directory", "error", err)
		s.apiError(w, r, http.StatusInternalServerError, "failed to create the sandbox directory")
		return
	}

	info := requestInfoFrom(r.Context())
	info.sandboxes = []string{sb.name, sb.id}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = os.RemoveAll(sb.base)
		s.apiError(w, r, http.StatusServiceUnavailable, "server is closed")
		return
	}
	if s.lookupLocked(sb.name) != nil {
		s.mu.Unlock()
		_ = os.RemoveAll(sb.base)
		s.apiError(w, r, http.StatusConflict, "Sandbox with name %s already exists", sb.name)
		return
	}
	fault, faulted := s.faults.take(info, createKinds...)
	s.sandboxes[sb.id] = sb
	s.names[sb.name] = sb
	start := func() { s.setStateLocked(sb, stateStarted) }
	if faulted {
		s.log.Info("daytonalocal fault injected", "kind", fault.Kind.String(), "sandbox", sb.id)
		switch fault.Kind {
		case FaultCreateStuck:
			start = nil
		case FaultCreateError:
			start = func() { s.failLocked(sb, fault.Message, fault.Recoverable) }
		case FaultCreateFailedToStart:
			start = nil
			s.failLocked(sb, fault.Message, fault.Recoverable)
		}
	}
	if start != nil {
		s.afterStartDelayLocked(sb, start)
	}
	// Recorded once, in the state the create leaves it in.
	sb.recorded = true
	if err := s.saveLocked(sb); err != nil {
		s.detachLocked(sb)
		s.mu.Unlock()
		_ = os.RemoveAll(sb.base)
		s.apiError(w, r, http.StatusInternalServerError, "failed to record the sandbox")
		return
	}
	dto := s.dtoLocked(sb, toolboxBase(r))
	s.mu.Unlock()
	s.log.Info("daytonalocal sandbox created", "sandbox", sb.id, "name", sb.name)

	if faulted {
		switch fault.Kind {
		case FaultCreateFailedToStart:
			s.apiError(w, r, http.StatusBadRequest, "Sandbox failed to start: %s", reasonOr(fault.Message))
			return
		case FaultCreateLostResponse:
			status := fault.Status
			if status == 0 {
				status = http.StatusInternalServerError
			}
			s.writeStatusFault(w, r, status, fault.Message)
			return
		}
	}
	writeJSON(w, http.StatusOK, dto)
}

func reasonOr(msg string) string {
	if msg == "" {
		return "injected failure"
	}
	return msg
}

// failLocked puts a sandbox in state error and kills its processes.
func (s *Server) failLocked(sb *sandbox, reason string, recoverable bool) {
	sb.errorReason = reasonOr(reason)
	rec := recoverable
	sb.recoverable = &rec
	sb.procs.setAccepting(false)
	go sb.procs.killAll()
	s.setStateLocked(sb, stateError)
}

func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// answer is what a handler replies once it has released s.mu.
type answer struct {
	status int
	body   any    // written as JSON; nil: no body
	errMsg string // if set, the main API's error body instead of body
	after  func() // if set, runs after the lock is released, before replying
}

// apiFailure answers with the main API's error body.
func apiFailure(status int, format string, args ...any) answer {
	return answer{status: status, errMsg: fmt.Sprintf(format, args...)}
}

// sandboxRef is the sandbox id or name in a request's path, "" if none.
func sandboxRef(r *http.Request) string {
	if ref := r.PathValue("sandboxIdOrName"); ref != "" {
		return ref
	}
	return r.PathValue("sandboxId")
}

// withSandbox runs fn under s.mu with the sandbox the path names, then
// releases the lock and writes fn's answer. A missing sandbox is a 404.
func (s *Server) withSandbox(w http.ResponseWriter, r *http.Request, fn func(sb *sandbox) answer) {
	ref := sandboxRef(r)
	s.mu.Lock()
	var a answer
	if sb := s.lookupLocked(ref); sb != nil {
		a = fn(sb)
	} else {
		a = apiFailure(http.StatusNotFound, "Sandbox with ID or name %s not found", ref)
	}
	s.mu.Unlock()
	if a.after != nil {
		a.after()
	}
	switch {
	case a.errMsg != "":
		s.apiError(w, r, a.status, "%s", a.errMsg)
	case a.body != nil:
		writeJSON(w, a.status, a.body)
	default:
		w.WriteHeader(a.status)
	}
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	s.withSandbox(w, r, func(sb *sandbox) answer {
		return answer{status: http.StatusOK, body: s.dtoLocked(sb, toolboxBase(r))}
	})
}

// handleDelete SIGKILLs every process group of the sandbox and removes its
// directory. Like Daytona it refuses while a state change is in flight
// (creating, starting, stopping), but not while an image waits for its
// build: the caller asks again once it settled.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	s.withSandbox(w, r, func(sb *sandbox) answer {
		if inTransition(sb) && sb.state != statePendingBuild {
			return apiFailure(http.StatusConflict, "Sandbox state change in progress")
		}
		s.detachLocked(sb)
		sb.state, sb.desiredState = stateDestroying, stateDestroyed
		sb.updatedAt = s.now()
		return answer{status: http.StatusOK, body: s.dtoLocked(sb, toolboxBase(r)), after: func() {
			if err := sb.destroy(); err != nil {
				s.log.Error("daytonalocal delete sandbox", "sandbox", sb.id, "error", err)
			}
			s.log.Info("daytonalocal sandbox deleted", "sandbox", sb.id)
		}}
	})
}

// inTransition reports whether a state change is in flight.
func inTransition(sb *sandbox) bool {
	return sb.state != sb.desiredState && sb.state != stateError
}

func (s *Server) handleStart(w http.ResponseWriter, r *http.Request) {
	s.withSandbox(w, r, func(sb *sandbox) answer {
		switch {
		case sb.state == stateStarted:
		case inTransition(sb):
			return apiFailure(http.StatusConflict, "Sandbox state change in progress")
		case sb.state == stateStopped:
			sb.desiredState = stateStarted
			s.setStateLocked(sb, stateStarting)
			s.afterStartDelayLocked(sb, func() { s.setStateLocked(sb, stateStarted) })
		default:
			return apiFailure(http.StatusBadRequest, "Sandbox is in state %s and cannot be started", sb.state)
		}
		sb.lastActivity = s.now()
		return answer{status: http.StatusOK, body: s.dtoLocked(sb, toolboxBase(r))}
	})
}

// handleStop stops the sandbox: its processes and sessions are killed
// (force is always implied) and its files kept. The answer comes at once;
// the sandbox is stopping until StopDelay has passed.
func (s *Server) handleStop(w http.ResponseWriter, r *http.Request) {
	s.withSandbox(w, r, func(sb *sandbox) answer {
		switch {
		case inTransition(sb):
			return apiFailure(http.StatusConflict, "Sandbox state change in progress")
		case sb.state != stateStarted:
			return apiFailure(http.StatusBadRequest, "Sandbox is not started")
		}
		after := s.stopLocked(sb)
		return answer{status: http.StatusOK, body: s.dtoLocked(sb, toolboxBase(r)), after: after}
	})
}

// stopLocked begins stopping a started sandbox: toolbox calls are refused
// at once, and after StopDelay it is stopped, its processes killed (or,
// with auto-delete 0, it is destroyed). It returns what the caller runs
// once it has released s.mu: the end of the stop when there is no delay.
func (s *Server) stopLocked(sb *sandbox) (after func()) {
	sb.gen++
	if sb.timer != nil {
		sb.timer.Stop()
		sb.timer = nil
	}
	sb.procs.setAccepting(false)
	sb.desiredState = stateStopped
	if s.opts.StopDelay == 0 {
		return s.stoppedLocked(sb)
	}
	s.setStateLocked(sb, stateStopping)
	gen := sb.gen
	sb.timer = time.AfterFunc(s.opts.StopDelay, func() {
		s.mu.Lock()
		if sb.gen != gen || s.sandboxes[sb.id] != sb {
			s.mu.Unlock()
			return
		}
		after := s.stoppedLocked(sb)
		s.mu.Unlock()
		after()
	})
	return func() {}
}

// stoppedLocked ends a stop and returns the rest of it, to run without
// s.mu: killing the processes, or destroying an ephemeral sandbox.
func (s *Server) stoppedLocked(sb *sandbox) func() {
	s.setStateLocked(sb, stateStopped)
	if sb.autoDelete == 0 {
		s.detachLocked(sb)
		return func() {
			if err := sb.destroy(); err != nil {
				s.log.Error("daytonalocal auto-delete sandbox", "sandbox", sb.id, "error", err)
			}
		}
	}
	return sb.procs.killAll
}

func (s *Server) handleRecover(w http.ResponseWriter, r *http.Request) {
	s.withSandbox(w, r, func(sb *sandbox) answer {
		if sb.state != stateError || sb.recoverable == nil || !*sb.recoverable {
			return apiFailure(http.StatusBadRequest, "Sandbox is not in a recoverable error state")
		}
		sb.errorReason, sb.recoverable = "", nil
		sb.desiredState = stateStarted
		s.setStateLocked(sb, stateStarting)
		if r.URL.Query().Get("skipStart") == "true" {
			sb.desiredState = stateStopped
			s.setStateLocked(sb, stateStopped)
		} else {
			s.afterStartDelayLocked(sb, func() { s.setStateLocked(sb, stateStarted) })
		}
		return answer{status: http.StatusOK, body: s.dtoLocked(sb, toolboxBase(r))}
	})
}

func (s *Server) handleLabels(w http.ResponseWriter, r *http.Request) {
	var req sandboxLabels
	if !s.readJSON(w, r, &req, false) {
		return
	}
	if req.Labels == nil {
		s.apiError(w, r, http.StatusBadRequest, "labels must be an object")
		return
	}
	s.withSandbox(w, r, func(sb *sandbox) answer {
		sb.labels = copyMap(req.Labels)
		sb.updatedAt = s.now()
		_ = s.saveLocked(sb)
		return answer{status: http.StatusOK, body: sandboxLabels{Labels: copyMap(sb.labels)}}
	})
}

type intervalKind int

const (
	intervalAutoStop intervalKind = iota
	intervalAutoPause
	intervalAutoArchive
	intervalAutoDelete
	intervalTTL
)

// handleInterval serves the timer endpoints: the minutes are a path
// parameter.
func (s *Server) handleInterval(kind intervalKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		param := "interval"
		if kind == intervalTTL {
			param = "ttlMinutes"
		}
		raw := r.PathValue(param)
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1e9 {
			s.apiError(w, r, http.StatusBadRequest, "%s must be an integer number of minutes", param)
			return
		}
		n := int(f)
		if n < 0 && kind != intervalAutoDelete {
			s.apiError(w, r, http.StatusBadRequest, "%s must not be less than 0", param)
			return
		}
		s.withSandbox(w, r, func(sb *sandbox) answer {
			s.setIntervalLocked(sb, kind, n)
			return answer{status: http.StatusOK, body: s.dtoLocked(sb, toolboxBase(r))}
		})
	}
}

// setIntervalLocked sets one of a sandbox's timers to n minutes.
func (s *Server) setIntervalLocked(sb *sandbox, kind intervalKind, n int) {
	now := s.now()
	switch kind {
	case intervalAutoStop:
		sb.autoStop = n
	case intervalAutoPause:
		sb.autoPause = n
	case intervalAutoArchive:
		if n == 0 {
			n = maxAutoArchive
		}
		sb.autoArchive = n
	case intervalAutoDelete:
		sb.autoDelete = max(n, -1)
	case intervalTTL:
		if n == 0 {
			sb.autoDestroyAt = time.Time{}
		} else {
			sb.autoDestroyAt = now.Add(time.Duration(n) * time.Minute)
		}
	}
	sb.updatedAt = now
	_ = s.saveLocked(sb)
}

func (s *Server) handleLastActivity(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ActivityType string `json:"activityType"`
	}
	if !s.readJSON(w, r, &req, true) {
		return
	}
	s.withSandbox(w, r, func(sb *sandbox) answer {
		sb.lastActivity = s.now()
		return answer{status: http.StatusCreated}
	})
}

func (s *Server) handleToolboxProxyURL(w http.ResponseWriter, r *http.Request) {
	s.withSandbox(w, r, func(*sandbox) answer {
		return answer{status: http.StatusOK, body: toolboxProxyURL{URL: toolboxBase(r)}}
	})
}

// sweepLoop enforces TTLs, auto-stop and auto-delete every SweepInterval
// and reaps adopted orphans every reapEvery.
func (s *Server) sweepLoop() {
	defer close(s.sweepDone)
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	reap := time.NewTicker(reapEvery)
	defer reap.Stop()
	for {
		select {
		case <-s.stopSweep:
			return
		case <-t.C:
			s.sweep()
		case <-reap.C:
			s.orphans.reap()
		}
	}
}

// sweep enforces ttlMinutes (autoDestroyAt), autoStopInterval and
// autoDeleteInterval; autoArchive and autoPause are only reported. Toolbox
// calls, an open follow socket and POST last-activity count as activity;
// running processes do not, as at Daytona.
func (s *Server) sweep() {
	now := s.now()
	var destroy, all []*sandbox
	var stops []func()
	s.mu.Lock()
	for _, sb := range s.sandboxes {
		all = append(all, sb)
		switch {
		case !sb.autoDestroyAt.IsZero() && !now.Before(sb.autoDestroyAt):
			s.log.Info("daytonalocal TTL expired", "sandbox", sb.id)
			s.detachLocked(sb)
			destroy = append(destroy, sb)
		case sb.state == stateStarted && sb.desiredState == stateStarted && sb.autoStop > 0 &&
			now.Sub(sb.lastActivity) >= time.Duration(sb.autoStop)*time.Minute:
			s.log.Info("daytonalocal auto-stop", "sandbox", sb.id)
			stops = append(stops, s.stopLocked(sb))
		case sb.state == stateStopped && sb.autoDelete >= 0 &&
			now.Sub(sb.stoppedAt) >= time.Duration(sb.autoDelete)*time.Minute:
			s.log.Info("daytonalocal auto-delete", "sandbox", sb.id)
			s.detachLocked(sb)
			destroy = append(destroy, sb)
		}
	}
	s.mu.Unlock()
	for _, after := range stops {
		after()
	}
	for _, sb := range destroy {
		if err := sb.destroy(); err != nil {
			s.log.Error("daytonalocal destroy sandbox", "sandbox", sb.id, "error", err)
		}
	}
	for _, sb := range all {
		sb.procs.prune()
	}
}
