package daytonalocal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/atomicfile"
)

// A given Options.Root outlives the server: each sandbox's directory
// (<root>/<id>) and beside it its record (<root>/<id>.json), all the API
// says about it, written with atomicfile on every change that matters
// after a restart (not on every activity). A new server on the root
// loads every record as a stopped sandbox, since no process of the old
// run is left; an errored one stays in error.

// recordVersion is the layout of the records written.
const recordVersion = 1

// sandboxRecord is what is kept of a sandbox across restarts.
type sandboxRecord struct {
	Version              int               `json:"version"`
	ID                   string            `json:"id"`
	Name                 string            `json:"name"`
	Snapshot             string            `json:"snapshot,omitempty"`
	User                 string            `json:"user"`
	Env                  map[string]string `json:"env"`
	Labels               map[string]string `json:"labels"`
	Public               bool              `json:"public,omitempty"`
	NetworkBlockAll      bool              `json:"networkBlockAll,omitempty"`
	NetworkAllowList     string            `json:"networkAllowList,omitempty"`
	DomainAllowList      string            `json:"domainAllowList,omitempty"`
	OutboundProxyURL     string            `json:"outboundProxyUrl,omitempty"`
	OtelEndpointOverride string            `json:"otelEndpointOverride,omitempty"`
	Target               string            `json:"target"`
	CPU                  int               `json:"cpu"`
	GPU                  int               `json:"gpu"`
	Memory               int               `json:"memory"`
	Disk                 int               `json:"disk"`
	GpuType              string            `json:"gpuType,omitempty"`
	Spot                 bool              `json:"spot,omitempty"`
	State                string            `json:"state"`
	DesiredState         string            `json:"desiredState"`
	ErrorReason          string            `json:"errorReason,omitempty"`
	Recoverable          *bool             `json:"recoverable,omitempty"`
	AutoStop             int               `json:"autoStopInterval"`
	AutoPause            int               `json:"autoPauseInterval"`
	AutoArchive          int               `json:"autoArchiveInterval"`
	AutoDelete           int               `json:"autoDeleteInterval"`
	AutoDestroyAt        time.Time         `json:"autoDestroyAt,omitzero"`
	Volumes              []sandboxVolume   `json:"volumes,omitempty"`
	Build                *buildInfo        `json:"buildInfo,omitempty"`
	CreatedAt            time.Time         `json:"createdAt"`
	UpdatedAt            time.Time         `json:"updatedAt"`
	LastActivity         time.Time         `json:"lastActivityAt"`
	StoppedAt            time.Time         `json:"stoppedAt,omitzero"`
}

func (s *Server) recordLocked(sb *sandbox) sandboxRecord {
	return sandboxRecord{
		Version: recordVersion, ID: sb.id, Name: sb.name, Snapshot: sb.snapshot, User: sb.user,
		Env: copyMap(sb.env), Labels: copyMap(sb.labels), Public: sb.public, NetworkBlockAll: sb.networkBlockAll,
		NetworkAllowList: sb.networkAllowList, DomainAllowList: sb.domainAllowList,
		OutboundProxyURL: sb.outboundProxyURL, OtelEndpointOverride: sb.otelEndpointOverride,
		Target: sb.target, CPU: sb.cpu, GPU: sb.gpu, Memory: sb.memory, Disk: sb.disk, GpuType: sb.gpuType,
		Spot: sb.spot, State: sb.state, DesiredState: sb.desiredState, ErrorReason: sb.errorReason,
		Recoverable: sb.recoverable, AutoStop: sb.autoStop, AutoPause: sb.autoPause,
		AutoArchive: sb.autoArchive, AutoDelete: sb.autoDelete, AutoDestroyAt: sb.autoDestroyAt,
		Volumes: sb.volumes, Build: sb.build, CreatedAt: sb.createdAt, UpdatedAt: sb.updatedAt,
		LastActivity: sb.lastActivity, StoppedAt: sb.stoppedAt,
	}
}

// recordPath is where a sandbox's record is kept: beside its directory.
func recordPath(base string) string { return base + ".json" }

// saveLocked writes a sandbox's record, if the root is kept, the create
// has got as far as recording it, and the sandbox is still the server's
// (a deleted one must not come back).
func (s *Server) saveLocked(sb *sandbox) error {
	if s.ownRoot || !sb.recorded || s.sandboxes[sb.id] != sb {
		return nil
	}
	b, err := json.MarshalIndent(s.recordLocked(sb), "", "  ")
	if err == nil {
		err = atomicfile.Write(recordPath(sb.base), b)
	}
	if err != nil {
		s.log.Error("daytonalocal save sandbox record", "sandbox", sb.id, "error", err)
		return fmt.Errorf("save sandbox %s: %w", sb.id, err)
	}
	return nil
}

var sandboxIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// load reads the records of a kept root and adds their sandboxes, all
// stopped (or in error). It removes what a crash left half made: a
// sandbox directory without a record (a create or delete cut short), a
// record without a directory, a record write's temporary file, and the
// bookkeeping of sessions and uploads of the old run.
func (s *Server) load() error {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return fmt.Errorf("read %s: %w", s.root, err)
	}
	var records []string
	var errs []error
	for _, e := range entries {
		name := e.Name()
		id := strings.TrimSuffix(name, ".json")
		switch {
		case !e.Type().IsRegular():
		case strings.HasPrefix(name, ".tmp-"):
			errs = append(errs, os.Remove(filepath.Join(s.root, name)))
		case id != name && sandboxIDPattern.MatchString(id):
			records = append(records, id)
		}
	}
	for _, e := range entries {
		// A directory with a record, even one that cannot be read, is kept.
		if e.IsDir() && sandboxIDPattern.MatchString(e.Name()) && !slices.Contains(records, e.Name()) {
			errs = append(errs, os.RemoveAll(filepath.Join(s.root, e.Name())))
		}
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range records {
		sb, err := s.loadRecord(id, now)
		switch {
		case err != nil:
			errs = append(errs, err)
		case sb == nil:
		case s.names[sb.name] != nil:
			errs = append(errs, fmt.Errorf("sandbox %s: name %s is taken by sandbox %s", id, sb.name, s.names[sb.name].id))
		default:
			s.sandboxes[sb.id] = sb
			s.names[sb.name] = sb
			errs = append(errs, s.saveLocked(sb))
		}
	}
	return errors.Join(errs...)
}

// loadRecord makes the sandbox a record describes, stopped; it returns
// nil (and removes the record) when the sandbox's directory is gone.
func (s *Server) loadRecord(id string, now time.Time) (*sandbox, error) {
	base := filepath.Join(s.root, id)
	b, err := os.ReadFile(recordPath(base))
	if err != nil {
		return nil, err
	}
	var r sandboxRecord
	if err := json.Unmarshal(b, &r); err != nil || r.ID != id || r.Version != recordVersion {
		return nil, fmt.Errorf("%s is not a sandbox record of this server (version %d): %v", recordPath(base), recordVersion, err)
	}
	if fi, err := os.Stat(filepath.Join(base, "work")); err != nil || !fi.IsDir() {
		if err := os.Remove(recordPath(base)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, nil
	}
	sb := &sandbox{
		id: id, base: base, dir: filepath.Join(base, "work"), stateDir: filepath.Join(base, "state"),
		user: r.User, env: r.Env, procs: newProcTable(s.markOf(id), s.orphans),
		name: r.Name, snapshot: r.Snapshot, labels: r.Labels, public: r.Public, networkBlockAll: r.NetworkBlockAll,
		networkAllowList: r.NetworkAllowList, domainAllowList: r.DomainAllowList,
		outboundProxyURL: r.OutboundProxyURL, otelEndpointOverride: r.OtelEndpointOverride,
		target: r.Target, cpu: r.CPU, gpu: r.GPU, memory: r.Memory, disk: r.Disk, gpuType: r.GpuType, spot: r.Spot,
		state: r.State, desiredState: r.DesiredState, errorReason: r.ErrorReason, recoverable: r.Recoverable,
		autoStop: r.AutoStop, autoPause: r.AutoPause, autoArchive: r.AutoArchive, autoDelete: r.AutoDelete,
		autoDestroyAt: r.AutoDestroyAt, volumes: r.Volumes, build: r.Build, createdAt: r.CreatedAt,
		updatedAt: r.UpdatedAt, lastActivity: r.LastActivity, stoppedAt: r.StoppedAt, recorded: true,
	}
	if sb.env == nil {
		sb.env = map[string]string{}
	}
	if sb.labels == nil {
		sb.labels = map[string]string{}
	}
	if sb.state != stateError && sb.state != stateStopped {
		sb.state, sb.stoppedAt, sb.updatedAt = stateStopped, now, now
	}
	if sb.state == stateStopped {
		sb.desiredState = stateStopped
	}
	for _, d := range []string{"sessions", "upload"} {
		if err := os.RemoveAll(filepath.Join(sb.stateDir, d)); err != nil {
			return nil, err
		}
	}
	return sb, nil
}
