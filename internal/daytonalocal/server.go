package daytonalocal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sandstep/sandstep/internal/dirlock"
	"github.com/sandstep/sandstep/internal/pause"
	"github.com/sandstep/sandstep/internal/procmark"
)

const (
	apiPrefix      = "/api"
	toolboxPrefix  = "/toolbox"
	daemonVersion  = "0.205.1"
	organizationID = "local-organization"
	runnerID       = "local-runner"
	sandboxClass   = "container"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Root is the directory that holds one directory per sandbox. Empty: a
	// new temporary directory, owned by the server and removed by Close.
	// A given Root is kept, with a record of each sandbox beside its
	// directory: Close stops the sandboxes (their processes are killed,
	// their files kept) and a new server on the Root has them all again,
	// stopped. One server at a time may use a Root.
	Root string
	// APIKey, if set, is the only bearer token accepted. Empty: any
	// non-empty bearer token is accepted. A missing or empty token is 401.
	APIKey string
	// StartDelay is how long a sandbox stays in creating (pending_build
	// with buildInfo, starting on start) before it is started. Zero: a
	// create answers with the sandbox already started.
	StartDelay time.Duration
	// StopDelay is how long a stopped sandbox stays in stopping (toolbox
	// calls refused, its processes still alive) before it is stopped, as
	// Daytona's stop is asynchronous. Zero: a stop answers with the sandbox
	// already stopped.
	StopDelay time.Duration
	// FollowIdleClose is how long a log-follow WebSocket waits for new
	// bytes after the command has exited before closing with 1000.
	// Default 1s, like Daytona.
	FollowIdleClose time.Duration
	// MaxOutputBytes bounds the output kept per command and stream: of
	// stdout and of stderr apart, in a /process/execute result and in a
	// session command's log. The first bytes of each are kept, the rest is
	// discarded. Default 8 MiB.
	MaxOutputBytes int
	// MaxUploadBytes bounds one upload request body. Default 1 GiB.
	MaxUploadBytes int64
	// SweepInterval is how often TTLs (autoDestroyAt), auto-stop and
	// auto-delete are enforced. Default 1s.
	SweepInterval time.Duration
	// Clock returns the current time; default time.Now. It drives the
	// timestamps and the TTL, auto-stop and auto-delete timers, so tests can
	// move time forward. StartDelay, StopDelay and FollowIdleClose use real
	// time.
	Clock func() time.Time
	// Logger receives request and lifecycle logs (never a token). Default:
	// discard.
	Logger *slog.Logger
	// Faults are installed at construction, as by AddFault in order.
	Faults []Fault
	// Latency is added to every call of a kind; see Latency.
	Latency Latency
	// CreateRate limits createSandbox as Daytona's sandbox-create
	// throttler does (see RateLimit); zero: no limit. It applies after
	// authentication and before injected faults.
	CreateRate RateLimit
}

func (o Options) withDefaults() (Options, error) {
	if o.StartDelay < 0 {
		return o, errors.New("daytonalocal: Options.StartDelay must not be negative")
	}
	if o.StopDelay < 0 {
		return o, errors.New("daytonalocal: Options.StopDelay must not be negative")
	}
	if o.FollowIdleClose < 0 {
		return o, errors.New("daytonalocal: Options.FollowIdleClose must not be negative")
	}
	if o.MaxOutputBytes < 0 {
		return o, errors.New("daytonalocal: Options.MaxOutputBytes must not be negative")
	}
	if o.MaxUploadBytes < 0 {
		return o, errors.New("daytonalocal: Options.MaxUploadBytes must not be negative")
	}
	if o.SweepInterval < 0 {
		return o, errors.New("daytonalocal: Options.SweepInterval must not be negative")
	}
	if err := o.Latency.validate(); err != nil {
		return o, err
	}
	if err := o.CreateRate.validate("CreateRate"); err != nil {
		return o, err
	}
	if o.FollowIdleClose == 0 {
		o.FollowIdleClose = time.Second
	}
	if o.MaxOutputBytes == 0 {
		o.MaxOutputBytes = 8 << 20
	}
	if o.MaxUploadBytes == 0 {
		o.MaxUploadBytes = 1 << 30
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = time.Second
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Server is a Daytona-compatible API and toolbox server. It implements
// http.Handler; mount it at the root of a listener (the main API is under
// /api, the toolbox under /toolbox). It is safe for concurrent use.
type Server struct {
	opts     Options
	log      *slog.Logger
	root     string
	rootID   string // names the root in sandbox marks
	ownRoot  bool
	rootLock *os.File // a kept root's, held until Close
	orphans  *orphans
	mux      *http.ServeMux
	faults   faultSet
	// createRate enforces Options.CreateRate; createsSeen counts every
	// createSandbox request.
	createRate  windowLimiter
	createsSeen atomic.Int64
	// sleep waits out injected latency; tests record it instead.
	sleep func(ctx context.Context, d time.Duration) bool

	mu        sync.Mutex
	sandboxes map[string]*sandbox // by id
	names     map[string]*sandbox // by name
	closed    bool

	stopSweep chan struct{}
	sweepDone chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// New returns a running Server (its background sweep has started). It
// first reclaims what servers killed before their Close left: processes
// still running from an earlier server on a kept Root, and temporary
// roots whose servers no longer run. Call Close to stop it.
func New(opts Options) (*Server, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:       o,
		log:        o.Logger,
		mux:        http.NewServeMux(),
		sleep:      pause.For,
		sandboxes:  map[string]*sandbox{},
		names:      map[string]*sandbox{},
		createRate: windowLimiter{rate: o.CreateRate},
		stopSweep:  make(chan struct{}),
		sweepDone:  make(chan struct{}),
	}
	for i, f := range o.Faults {
		if _, err := s.AddFault(f); err != nil {
			return nil, fmt.Errorf("daytonalocal: Options.Faults[%d]: %w", i, err)
		}
	}
	root := o.Root
	if root == "" {
		root, err = os.MkdirTemp("", TempDirPattern)
		if err != nil {
			return nil, fmt.Errorf("daytonalocal: create root directory: %w", err)
		}
		s.ownRoot = true
	} else if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("daytonalocal: create Options.Root: %w", err)
	}
	if root, err = filepath.Abs(root); err == nil {
		root, err = filepath.EvalSymlinks(root)
	}
	if err != nil {
		return nil, fmt.Errorf("daytonalocal: resolve Options.Root: %w", err)
	}
	s.root = root
	s.rootID = rootID(root)
	s.orphans = newOrphans(s.rootMarks())
	s.becomeSubreaper()
	s.reclaimTempRoots()
	if s.ownRoot {
		s.markTempRoot()
	} else {
		if s.rootLock, err = dirlock.Lock(root, "daytonalocal"); err != nil {
			return nil, fmt.Errorf("daytonalocal: %w", err)
		}
		s.reclaimRoot()
		if err := s.load(); err != nil {
			s.log.Error("daytonalocal: some sandboxes of the root were not loaded", "root", root, "error", err)
		}
		s.log.Info("daytonalocal sandboxes loaded", "root", root, "sandboxes", len(s.sandboxes))
	}
	s.routes()
	go s.sweepLoop()
	return s, nil
}

// Close stops the server: it SIGKILLs every process of every sandbox and
// reaps those it adopted; in a kept root it records every sandbox as
// stopped and keeps its files, in its own temporary root it removes
// everything. Later requests are answered 503. It is safe to call more
// than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		s.mu.Lock()
		s.closed = true
		all := make([]*sandbox, 0, len(s.sandboxes))
		for _, sb := range s.sandboxes {
			all = append(all, sb)
			if sb.state != stateError && sb.state != stateStopped {
				sb.state, sb.desiredState = stateStopped, stateStopped
				sb.stoppedAt, sb.updatedAt = s.now(), s.now()
			}
			errs = append(errs, s.saveLocked(sb))
			s.detachLocked(sb)
		}
		s.mu.Unlock()
		close(s.stopSweep)
		<-s.sweepDone

		var wg sync.WaitGroup
		done := make([]error, len(all))
		for i, sb := range all {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if s.ownRoot {
					done[i] = sb.destroy()
				} else {
					sb.procs.shutdown()
				}
			}()
		}
		wg.Wait()
		errs = append(errs, done...)
		// Whatever a sandbox left that its own sweep missed.
		ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
		res, err := procmark.KillAll(ctx, s.rootMarks())
		cancel()
		errs = append(errs, err)
		s.orphans.add(res.Killed)
		s.orphans.reapFor(shutdownWait)
		if s.ownRoot {
			errs = append(errs, os.RemoveAll(s.root))
		}
		if s.rootLock != nil {
			errs = append(errs, s.rootLock.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func (s *Server) now() time.Time { return s.opts.Clock() }

// rootID names a root in marks: the same root always gets the same id, so
// a new server finds what an earlier one on the root left running.
func rootID(root string) string {
	sum := sha256.Sum256([]byte(root))
	return hex.EncodeToString(sum[:8])
}

// markOf is the mark every process of sandbox id carries.
func (s *Server) markOf(id string) procmark.Mark {
	return procmark.Mark{Key: markKey, Value: s.rootID + "/" + id}
}

// rootMarks selects the marks of every sandbox in the server's root.
func (s *Server) rootMarks() procmark.Matcher {
	return procmark.Matcher{Key: markKey, Value: s.rootID + "/", Prefix: true}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		s.errorFor(sw, r, http.StatusServiceUnavailable, "", "server is closed")
	} else {
		s.mux.ServeHTTP(sw, r)
	}
	s.log.Debug("daytonalocal request", "method", r.Method, "path", r.URL.Path,
		"status", sw.status, "duration", time.Since(start))
}

// statusWriter records the status for the request log. Unwrap lets
// http.ResponseController and the WebSocket library reach Hijack.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// toolboxHandler handles a toolbox request for a started sandbox.
type toolboxHandler func(w http.ResponseWriter, r *http.Request, sb *sandbox)

// routes declares the served operations, named by the specs' operationIds,
// and the unauthenticated liveness check (HealthController_live).
// Not served: snapshots, volumes, archive/pause/resize/fork, previews and
// preview-token auth, PTY, code-run, LSP, computer use, socket.io events,
// and file operations beyond those below.
func (s *Server) routes() {
	api := func(pattern, op string, h http.HandlerFunc) {
		s.mux.Handle(pattern, s.wrap(op, h))
	}
	tb := func(pattern, op string, h toolboxHandler) {
		s.mux.Handle(pattern, s.wrap(op, s.gate(h)))
	}
	const sb = apiPrefix + "/sandbox/{sandboxIdOrName}"
	api("POST "+apiPrefix+"/sandbox", "createSandbox", s.handleCreate)
	api("GET "+apiPrefix+"/sandbox", "listSandboxes", s.handleList)
	api("GET "+sb, "getSandbox", s.handleGet)
	api("DELETE "+sb, "deleteSandbox", s.handleDelete)
	api("POST "+sb+"/start", "startSandbox", s.handleStart)
	api("POST "+sb+"/stop", "stopSandbox", s.handleStop)
	api("POST "+sb+"/recover", "recoverSandbox", s.handleRecover)
	api("PUT "+sb+"/labels", "replaceLabels", s.handleLabels)
	api("POST "+sb+"/autostop/{interval}", "setAutostopInterval", s.handleInterval(intervalAutoStop))
	api("POST "+sb+"/autopause/{interval}", "setAutoPauseInterval", s.handleInterval(intervalAutoPause))
	api("POST "+sb+"/autoarchive/{interval}", "setAutoArchiveInterval", s.handleInterval(intervalAutoArchive))
	api("POST "+sb+"/autodelete/{interval}", "setAutoDeleteInterval", s.handleInterval(intervalAutoDelete))
	api("POST "+sb+"/ttl/{ttlMinutes}", "setTtl", s.handleInterval(intervalTTL))
	api("POST "+apiPrefix+"/sandbox/{sandboxId}/last-activity", "updateLastActivity", s.handleLastActivity)
	api("GET "+apiPrefix+"/sandbox/{sandboxId}/toolbox-proxy-url", "getToolboxProxyUrl", s.handleToolboxProxyURL)

	const t = toolboxPrefix + "/{sandboxId}"
	tb("POST "+t+"/process/execute", "ExecuteCommand", s.handleExecute)
	tb("GET "+t+"/process/session", "ListSessions", s.handleListSessions)
	tb("POST "+t+"/process/session", "CreateSession", s.handleCreateSession)
	tb("GET "+t+"/process/session/{sessionId}", "GetSession", s.handleGetSession)
	tb("DELETE "+t+"/process/session/{sessionId}", "DeleteSession", s.handleDeleteSession)
	tb("POST "+t+"/process/session/{sessionId}/exec", "SessionExecuteCommand", s.handleSessionExec)
	tb("GET "+t+"/process/session/{sessionId}/command/{commandId}", "GetSessionCommand", s.handleGetCommand)
	tb("GET "+t+"/process/session/{sessionId}/command/{commandId}/logs", "GetSessionCommandLogs", s.handleCommandLogs)
	tb("POST "+t+"/process/session/{sessionId}/command/{commandId}/input", "SendInput", s.handleSendInput)
	tb("POST "+t+"/files/bulk-upload", "UploadFiles", s.handleBulkUpload)
	tb("POST "+t+"/files/upload-v2", "UploadFile", s.handleUploadV2)
	tb("GET "+t+"/files/download", "DownloadFile", s.handleDownload)
	tb("POST "+t+"/files/bulk-download", "DownloadFiles", s.handleBulkDownload)
	tb("POST "+t+"/files/folder", "CreateFolder", s.handleFolder)
	tb("GET "+t+"/files", "ListFiles", s.handleListFiles)
	tb("GET "+t+"/files/info", "GetFileInfo", s.handleFileInfo)
	tb("DELETE "+t+"/files", "DeleteFile", s.handleDeleteFile)
	tb("POST "+t+"/git/clone", "CloneRepository", s.handleGitClone)
	tb("GET "+t+"/work-dir", "GetWorkDir", s.handleWorkDir)
	tb("GET "+t+"/user-home-dir", "GetUserHomeDir", s.handleWorkDir)
	tb("GET "+t+"/version", "GetVersion", s.handleVersion)

	// Liveness, as Daytona answers it: no key needed (clients open their
	// connection with it).
	s.mux.HandleFunc("GET "+apiPrefix+"/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})

	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.errorFor(w, r, http.StatusNotFound, codeNotFound,
			fmt.Sprintf("Cannot %s %s", r.Method, r.URL.Path))
	})
}

// wrap runs the per-request pipeline in front of a handler: injected
// latency (Options.Latency and latency faults), authentication, the
// create rate limit, injected error responses.
func (s *Server) wrap(op string, h http.HandlerFunc) http.Handler {
	create := op == "createSandbox"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if create {
			s.createsSeen.Add(1)
		}
		info := s.requestInfo(op, r)
		if d := s.opts.Latency.of(op, r.URL.Path) + s.faults.latency(info); d > 0 && !s.sleep(r.Context(), d) {
			return
		}
		if !s.authorize(w, r) {
			return
		}
		if create && !s.limitCreate(w, r) {
			return
		}
		if f, ok := s.faults.take(info, responseKinds...); ok {
			s.writeFault(w, r, info, f)
			return
		}
		h(w, r.WithContext(withRequestInfo(r.Context(), info)))
	})
}

// requestInfo describes a request for fault matching. The sandbox's id and
// name are looked up only when some fault is scoped by sandbox.
func (s *Server) requestInfo(op string, r *http.Request) requestInfo {
	info := requestInfo{op: op, method: r.Method, path: r.URL.Path}
	if !s.faults.scopedBySandbox() {
		return info
	}
	if op == "createSandbox" && r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), r.Body))
		var peek struct {
			Name string `json:"name"`
		}
		if err == nil && json.Unmarshal(b, &peek) == nil && peek.Name != "" {
			info.sandboxes = []string{peek.Name}
		}
		return info
	}
	ref := sandboxRef(r)
	if ref == "" {
		return info
	}
	info.sandboxes = []string{ref}
	s.mu.Lock()
	if sb := s.lookupLocked(ref); sb != nil {
		info.sandboxes = append(info.sandboxes, sb.id, sb.name)
	}
	s.mu.Unlock()
	return info
}

// authorize checks the bearer token and writes a 401 when it is missing,
// empty or (with Options.APIKey) wrong. The token is never logged.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	token := ""
	if len(h) > len("Bearer ") && strings.EqualFold(h[:len("Bearer ")], "Bearer ") {
		token = strings.TrimSpace(h[len("Bearer "):])
	}
	ok := token != ""
	if ok && s.opts.APIKey != "" {
		ok = subtle.ConstantTimeCompare([]byte(token), []byte(s.opts.APIKey)) == 1
	}
	if !ok {
		s.errorFor(w, r, http.StatusUnauthorized, codeUnauthorized, "Unauthorized")
	}
	return ok
}

// gate resolves the toolbox request's sandbox, refuses sandboxes that are
// not started and counts the request as activity (unless
// X-Daytona-Skip-Last-Activity-Update: true), before and after it runs.
func (s *Server) gate(h toolboxHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("sandboxId")
		touch := !strings.EqualFold(r.Header.Get("X-Daytona-Skip-Last-Activity-Update"), "true")
		s.mu.Lock()
		sb := s.sandboxes[id]
		state := ""
		if sb != nil {
			state = sb.state
			if touch && state == stateStarted {
				sb.lastActivity = s.now()
			}
		}
		s.mu.Unlock()
		if sb == nil {
			s.toolboxError(w, r, http.StatusNotFound, codeNotFound, sourceProxy, "sandbox %s not found", id)
			return
		}
		if state != stateStarted {
			s.toolboxError(w, r, http.StatusBadRequest, codeBadRequest, sourceProxy,
				"sandbox %s is not started (state: %s)", id, state)
			return
		}
		if touch {
			defer s.touch(sb)
		}
		h(w, r, sb)
	}
}

// touch records activity on a started sandbox.
func (s *Server) touch(sb *sandbox) {
	s.mu.Lock()
	if sb.state == stateStarted {
		sb.lastActivity = s.now()
	}
	s.mu.Unlock()
}

// toolboxBase is the toolboxProxyUrl for a request: this server's own
// /toolbox, at the host the client used.
func toolboxBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + toolboxPrefix
}
