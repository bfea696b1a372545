package daytonalocal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FaultKind says what a Fault does.
type FaultKind int

// The fault kinds. The response kinds (FaultRateLimit, FaultUnavailable,
// FaultBadGateway, FaultError) answer a matching request instead of its
// handler; FaultLatency delays it. The FaultCreate* kinds apply to
// createSandbox only and FaultFollowDrop to log-follow WebSockets only.
const (
	// FaultLatency delays matching requests by Fault.Delay.
	FaultLatency FaultKind = iota + 1
	// FaultRateLimit answers 429 with Retry-After and
	// Retry-After-<throttler> (sandbox-create on createSandbox,
	// sandbox-lifecycle on delete/start/stop/recover, authenticated
	// otherwise) set to Fault.RetryAfter, rounded up to whole seconds
	// (default 1s), plus the X-RateLimit-*-<throttler> headers.
	FaultRateLimit
	// FaultUnavailable answers 503 with the API's error body.
	FaultUnavailable
	// FaultBadGateway answers 502 with an empty body, as Daytona's proxy
	// does on upstream timeouts.
	FaultBadGateway
	// FaultError answers Fault.Status (default 500) with the API's error
	// body and Fault.Message.
	FaultError
	// FaultCreateStuck leaves the created sandbox in creating forever: it
	// can still be fetched and listed, but a delete is refused (409, state
	// change in progress) as Daytona refuses one mid-transition; only its
	// TTL ends it.
	FaultCreateStuck
	// FaultCreateError creates the sandbox normally, then (after
	// StartDelay) puts it in state error with errorReason Fault.Message
	// and recoverable Fault.Recoverable instead of started.
	FaultCreateError
	// FaultCreateFailedToStart creates the sandbox in state error and
	// answers 400 "Sandbox failed to start: <Fault.Message>": the sandbox
	// exists, the client must find it by name.
	FaultCreateFailedToStart
	// FaultCreateLostResponse creates the sandbox normally (it goes on to
	// start) but answers Fault.Status (default 500; 502 gives an empty
	// body) as if the response were lost.
	FaultCreateLostResponse
	// FaultFollowDrop cuts a log-follow WebSocket without a close frame
	// once Fault.AfterBytes bytes have been sent (0: before the first).
	FaultFollowDrop
)

var faultKindNames = map[FaultKind]string{
	FaultLatency:             "latency",
	FaultRateLimit:           "rate-limit",
	FaultUnavailable:         "unavailable",
	FaultBadGateway:          "bad-gateway",
	FaultError:               "error",
	FaultCreateStuck:         "create-stuck",
	FaultCreateError:         "create-error",
	FaultCreateFailedToStart: "create-failed-to-start",
	FaultCreateLostResponse:  "create-lost-response",
	FaultFollowDrop:          "follow-drop",
}

func (k FaultKind) String() string {
	if n, ok := faultKindNames[k]; ok {
		return n
	}
	return "FaultKind(" + strconv.Itoa(int(k)) + ")"
}

var (
	responseKinds = []FaultKind{FaultRateLimit, FaultUnavailable, FaultBadGateway, FaultError}
	createKinds   = []FaultKind{FaultCreateStuck, FaultCreateError, FaultCreateFailedToStart, FaultCreateLostResponse}
)

// Match scopes a Fault to requests. Empty fields match everything.
type Match struct {
	// Operation is the specs' operationId, e.g. "createSandbox",
	// "getSandbox", "ExecuteCommand", "GetSessionCommandLogs"
	// (case-insensitive).
	Operation string
	// Method is the HTTP method.
	Method string
	// Path is a pattern for the request path: segments are matched with
	// path.Match and a "**" segment matches any number of segments, e.g.
	// "/api/sandbox/*" or "/toolbox/*/process/**".
	Path string
	// Sandbox is a path.Match pattern for the sandbox's id or name (the
	// requested name on createSandbox).
	Sandbox string
}

// Fault is an injected failure or delay. See FaultKind for what each kind
// does and which fields it reads.
type Fault struct {
	Kind  FaultKind
	Match Match
	// Times is how many matching requests the fault applies to; 0 means
	// every matching request until the fault is removed.
	Times int
	// Delay is the latency of FaultLatency.
	Delay time.Duration
	// RetryAfter is the advertised wait of FaultRateLimit.
	RetryAfter time.Duration
	// Status is the status of FaultError and FaultCreateLostResponse.
	Status int
	// Message is the message of FaultError and FaultCreateLostResponse, and
	// the errorReason of FaultCreateError and FaultCreateFailedToStart.
	Message string
	// Recoverable is the sandbox's recoverable flag for FaultCreateError
	// and FaultCreateFailedToStart.
	Recoverable bool
	// AfterBytes is where FaultFollowDrop cuts the stream.
	AfterBytes int
}

func (f Fault) validate() error {
	if _, ok := faultKindNames[f.Kind]; !ok {
		return fmt.Errorf("unknown fault kind %d", int(f.Kind))
	}
	if hasKind(createKinds, f.Kind) && f.Match.Operation != "" && !strings.EqualFold(f.Match.Operation, "createSandbox") {
		return fmt.Errorf("a %s fault applies to createSandbox only, not %s", f.Kind, f.Match.Operation)
	}
	if f.Kind == FaultFollowDrop && f.Match.Operation != "" && !strings.EqualFold(f.Match.Operation, "GetSessionCommandLogs") {
		return fmt.Errorf("a %s fault applies to GetSessionCommandLogs only, not %s", f.Kind, f.Match.Operation)
	}
	if f.Times < 0 {
		return errors.New("fault.Times must not be negative")
	}
	if f.Kind == FaultLatency && f.Delay <= 0 {
		return errors.New("fault.Delay must be positive for a latency fault")
	}
	if f.RetryAfter < 0 {
		return errors.New("fault.RetryAfter must not be negative")
	}
	if f.AfterBytes < 0 {
		return errors.New("fault.AfterBytes must not be negative")
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return fmt.Errorf("fault.Status %d is not an error status", f.Status)
	}
	if f.Match.Path != "" {
		for _, seg := range strings.Split(strings.Trim(f.Match.Path, "/"), "/") {
			if _, err := path.Match(seg, ""); err != nil {
				return fmt.Errorf("fault.Match.Path: %w", err)
			}
		}
	}
	if _, err := path.Match(f.Match.Sandbox, ""); err != nil {
		return fmt.Errorf("fault.Match.Sandbox: %w", err)
	}
	return nil
}

// AddFault installs a fault and returns its id (for RemoveFault and
// FaultHits). Faults are tried in the order they were added; among the
// response and create kinds the first matching fault with uses left wins,
// while all matching latency faults add up. Safe for concurrent use.
func (s *Server) AddFault(f Fault) (int, error) {
	if err := f.validate(); err != nil {
		return 0, fmt.Errorf("invalid fault: %w", err)
	}
	return s.faults.add(f), nil
}

// RemoveFault removes a fault; removing an unknown id does nothing.
func (s *Server) RemoveFault(id int) { s.faults.remove(id) }

// ClearFaults removes every fault.
func (s *Server) ClearFaults() { s.faults.clear() }

// FaultHits reports how many requests a fault has applied to (also after
// it has been used up; 0 for an unknown id).
func (s *Server) FaultHits(id int) int { return s.faults.hits(id) }

type faultEntry struct {
	id   int
	f    Fault
	left int // -1: unlimited
	hit  int
}

type faultSet struct {
	mu      sync.Mutex
	next    int
	entries []*faultEntry
	done    map[int]int // hits of entries that were used up
	sandbox int         // entries scoped by sandbox
}

func (fs *faultSet) add(f Fault) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.next++
	left := f.Times
	if left == 0 {
		left = -1
	}
	fs.entries = append(fs.entries, &faultEntry{id: fs.next, f: f, left: left})
	if f.Match.Sandbox != "" {
		fs.sandbox++
	}
	return fs.next
}

func (fs *faultSet) remove(id int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, e := range fs.entries {
		if e.id == id {
			fs.retireLocked(i)
			return
		}
	}
}

func (fs *faultSet) clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for len(fs.entries) > 0 {
		fs.retireLocked(len(fs.entries) - 1)
	}
}

func (fs *faultSet) retireLocked(i int) {
	e := fs.entries[i]
	if fs.done == nil {
		fs.done = map[int]int{}
	}
	fs.done[e.id] = e.hit
	if e.f.Match.Sandbox != "" {
		fs.sandbox--
	}
	fs.entries = append(fs.entries[:i], fs.entries[i+1:]...)
}

func (fs *faultSet) hits(id int) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, e := range fs.entries {
		if e.id == id {
			return e.hit
		}
	}
	return fs.done[id]
}

func (fs *faultSet) scopedBySandbox() bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.sandbox > 0
}

// useLocked counts one application of entry i and retires it when used up.
func (fs *faultSet) useLocked(i int) {
	e := fs.entries[i]
	e.hit++
	if e.left > 0 {
		e.left--
		if e.left == 0 {
			fs.retireLocked(i)
		}
	}
}

// latency sums the delays of the matching latency faults.
func (fs *faultSet) latency(info requestInfo) time.Duration {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var d time.Duration
	for i := 0; i < len(fs.entries); i++ {
		e := fs.entries[i]
		if e.f.Kind != FaultLatency || !e.f.Match.matches(info) {
			continue
		}
		d += e.f.Delay
		n := len(fs.entries)
		fs.useLocked(i)
		if len(fs.entries) < n {
			i--
		}
	}
	return d
}

// take consumes the first matching fault of one of the kinds.
func (fs *faultSet) take(info requestInfo, kinds ...FaultKind) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, e := range fs.entries {
		if !hasKind(kinds, e.f.Kind) || !e.f.Match.matches(info) {
			continue
		}
		f := e.f
		fs.useLocked(i)
		return f, true
	}
	return Fault{}, false
}

func hasKind(kinds []FaultKind, k FaultKind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// requestInfo is what faults are matched against.
type requestInfo struct {
	op        string
	method    string
	path      string
	sandboxes []string // id and/or name, when known
}

type requestInfoKey struct{}

func withRequestInfo(ctx context.Context, info requestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

func requestInfoFrom(ctx context.Context) requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(requestInfo)
	return info
}

func (m Match) matches(info requestInfo) bool {
	if m.Operation != "" && !strings.EqualFold(m.Operation, info.op) {
		return false
	}
	if m.Method != "" && !strings.EqualFold(m.Method, info.method) {
		return false
	}
	if m.Path != "" && !matchPath(m.Path, info.path) {
		return false
	}
	if m.Sandbox != "" {
		found := false
		for _, name := range info.sandboxes {
			if ok, _ := path.Match(m.Sandbox, name); ok {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// matchPath matches a request path against a pattern whose segments use
// path.Match syntax and where "**" matches any number of segments.
func matchPath(pattern, p string) bool {
	return matchSegments(strings.Split(strings.Trim(pattern, "/"), "/"), strings.Split(strings.Trim(p, "/"), "/"))
}

func matchSegments(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if matchSegments(pat[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}

// throttler names the Daytona rate-limit throttler of an operation.
func throttler(op string) string {
	switch op {
	case "createSandbox":
		return "sandbox-create"
	case "deleteSandbox", "startSandbox", "stopSandbox", "recoverSandbox":
		return "sandbox-lifecycle"
	}
	return "authenticated"
}

// writeFault answers a request with a response-kind fault.
func (s *Server) writeFault(w http.ResponseWriter, r *http.Request, info requestInfo, f Fault) {
	s.log.Info("daytonalocal fault injected", "kind", f.Kind.String(), "method", r.Method, "path", r.URL.Path)
	switch f.Kind {
	case FaultRateLimit:
		secs := int((f.RetryAfter + time.Second - 1) / time.Second)
		if secs < 1 {
			secs = 1
		}
		s.writeRateLimited(w, r, throttler(info.op), 1, secs)
	case FaultUnavailable:
		s.errorFor(w, r, http.StatusServiceUnavailable, "", "Service Unavailable")
	case FaultBadGateway:
		writeEmpty(w, http.StatusBadGateway)
	case FaultError:
		status := f.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		s.writeStatusFault(w, r, status, f.Message)
	}
}

// writeStatusFault writes an injected error status with the API's body (an
// empty body for 502).
func (s *Server) writeStatusFault(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if status == http.StatusBadGateway {
		writeEmpty(w, status)
		return
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	code := ""
	switch status {
	case http.StatusBadRequest:
		code = codeBadRequest
	case http.StatusNotFound:
		code = codeNotFound
	case http.StatusConflict:
		code = codeConflict
	case http.StatusInternalServerError:
		code = codeInternal
	}
	s.errorFor(w, r, status, code, msg)
}

func writeEmpty(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}
