package daytona

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// daytonaFake is a small stateful main API: POST /sandbox runs the next
// scripted create outcome, GET/DELETE /sandbox/{idOrName} see what exists.
type daytonaFake struct {
	mu      sync.Mutex
	byName  map[string]map[string]any
	creates []createOutcome
	// states, if set, is the sequence of states GET reports (last repeats).
	states  []SandboxState
	gets    int
	deletes int
	// getHidden makes the first n GETs by name answer 404 (eventual
	// consistency after a create).
	getHidden int
	// deleteStatus, if set, answers DELETE with it.
	deleteStatus int
	*fake
}

// createOutcome scripts one POST /sandbox.
type createOutcome struct {
	create bool          // make the sandbox
	status int           // answer status (200 returns it)
	msg    string        // error message
	delay  time.Duration // before answering
	state  SandboxState  // state in the create answer (default creating)
}

func newDaytonaFake(t *testing.T, creates ...createOutcome) *daytonaFake {
	d := &daytonaFake{byName: map[string]map[string]any{}, creates: creates}
	d.fake = newFake(t, d.serve)
	return d
}

func (d *daytonaFake) serve(w http.ResponseWriter, r *http.Request, body []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case r.Method == "POST" && r.URL.Path == "/sandbox":
		var req struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(body, &req)
		// Daytona's throttler answers before the handler looks at the name.
		if len(d.creates) > 0 && d.creates[0].status == http.StatusTooManyRequests {
			d.creates = d.creates[1:]
			w.Header().Set("Retry-After", "1")
			writeJSON(w, 429, map[string]any{"statusCode": 429, "message": "ThrottlerException: Too Many Requests"})
			return
		}
		if _, exists := d.byName[req.Name]; exists && req.Name != "" {
			writeJSON(w, 409, map[string]any{"statusCode": 409, "message": "Sandbox with name " + req.Name + " already exists", "error": "Conflict"})
			return
		}
		if len(d.creates) == 0 {
			writeJSON(w, 500, map[string]any{"message": "unscripted create"})
			return
		}
		o := d.creates[0]
		d.creates = d.creates[1:]
		var sb map[string]any
		if o.create {
			state := o.state
			if state == "" {
				state = StateCreating
			}
			sb = sandboxJSON("id-"+req.Name, req.Name, state, "")
			d.byName[req.Name] = sb
		}
		if o.delay > 0 {
			d.mu.Unlock()
			select {
			case <-time.After(o.delay):
			case <-r.Context().Done():
			}
			d.mu.Lock()
		}
		if o.status == 200 {
			writeJSON(w, 200, sb)
			return
		}
		writeJSON(w, o.status, map[string]any{"statusCode": o.status, "message": o.msg})
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/sandbox/"):
		d.gets++
		key := strings.TrimPrefix(r.URL.Path, "/sandbox/")
		sb := d.find(key)
		if sb == nil || d.getHidden > 0 {
			d.getHidden--
			writeJSON(w, 404, map[string]any{"statusCode": 404, "message": "Sandbox not found"})
			return
		}
		if len(d.states) > 0 {
			sb["state"] = string(d.states[0])
			if d.states[0] == StateError {
				sb["errorReason"] = "image pull failed"
			}
			if len(d.states) > 1 {
				d.states = d.states[1:]
			}
		}
		writeJSON(w, 200, sb)
	case r.Method == "DELETE" && strings.HasPrefix(r.URL.Path, "/sandbox/"):
		d.deletes++
		if d.deleteStatus != 0 {
			writeJSON(w, d.deleteStatus, map[string]any{"message": "delete refused"})
			return
		}
		sb := d.find(strings.TrimPrefix(r.URL.Path, "/sandbox/"))
		if sb == nil {
			writeJSON(w, 404, map[string]any{"message": "Sandbox not found"})
			return
		}
		delete(d.byName, sb["name"].(string))
		sb["desiredState"] = "destroyed"
		writeJSON(w, 200, sb)
	default:
		http.NotFound(w, r)
	}
}

func (d *daytonaFake) find(key string) map[string]any {
	if sb, ok := d.byName[key]; ok {
		return sb
	}
	for _, sb := range d.byName {
		if sb["id"] == key {
			return sb
		}
	}
	return nil
}

func (d *daytonaFake) stats() (posts, gets, deletes int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.count("POST", "/sandbox"), d.gets, d.deletes
}

func TestCreateIdempotency(t *testing.T) {
	tests := []struct {
		name       string
		outcomes   []createOutcome
		getHidden  int
		notSent    bool // the first attempt's dial fails: nothing reaches the fake
		foreign    bool // another sandbox already has the name
		params     CreateSandboxParams
		wantID     string
		wantErr    string // substring; "" = success
		wantSbOnEr bool   // a sandbox returned with the error
		posts      int
		minGets    int
	}{
		{
			name:     "plain success",
			outcomes: []createOutcome{{create: true, status: 200}},
			wantID:   "id-ss-1", posts: 1,
		},
		{
			name:     "5xx after the sandbox exists: found by name, no second create",
			outcomes: []createOutcome{{create: true, status: 500, msg: "internal"}},
			wantID:   "id-ss-1", posts: 1, minGets: 1,
		},
		{
			name:     "502 before anything was made: looked up, then created again",
			outcomes: []createOutcome{{status: 502}, {create: true, status: 200}},
			wantID:   "id-ss-1", posts: 2, minGets: 1,
		},
		{
			name:      "409 duplicate on retry: fetched by name",
			outcomes:  []createOutcome{{create: true, status: 504}},
			getHidden: 1, // the first lookup does not see it yet
			wantID:    "id-ss-1", posts: 2, minGets: 2,
		},
		{
			// A create never sent cannot have made the sandbox, so the
			// name is another's: adopting it would hand the caller (and
			// its cleanup) a sandbox it does not own.
			name:    "409 after a not-sent attempt: the conflict, no lookup",
			notSent: true, foreign: true,
			wantErr: "already exists", posts: 1,
		},
		{
			name:      "409 after a not-sent attempt and then a 5xx: fetched by name",
			outcomes:  []createOutcome{{create: true, status: 504}},
			notSent:   true,
			getHidden: 1, // the first lookup does not see it yet
			wantID:    "id-ss-1", posts: 2, minGets: 2,
		},
		{
			name:     "400 failed to start: error plus the sandbox to clean up",
			outcomes: []createOutcome{{create: true, status: 400, msg: "Sandbox failed to start: runner unavailable"}},
			wantErr:  "failed to start", wantSbOnEr: true, wantID: "id-ss-1", posts: 1, minGets: 1,
		},
		{
			name:     "other 400: no lookup, no retry",
			outcomes: []createOutcome{{status: 400, msg: "Total CPU limit exceeded"}},
			wantErr:  "Total CPU limit exceeded", posts: 1,
		},
		{
			// The wait is the caller's: a budget shared by several clients
			// must be spent before any asks again.
			name:     "429: returned at once, not retried, no lookup",
			outcomes: []createOutcome{{status: 429}, {create: true, status: 200}},
			wantErr:  "429", posts: 1,
		},
		{
			name:      "429 after a 5xx that made it: found by name",
			outcomes:  []createOutcome{{create: true, status: 504}, {status: 429}},
			getHidden: 1, // the first lookup does not see it yet
			wantID:    "id-ss-1", posts: 2, minGets: 2,
		},
		{
			name:     "429 after a 5xx that made nothing: the 429, after a lookup",
			outcomes: []createOutcome{{status: 502}, {status: 429}, {create: true, status: 200}},
			wantErr:  "429", posts: 2, minGets: 2,
		},
		{
			name:     "no name: a 429 is returned at once",
			outcomes: []createOutcome{{status: 429}, {create: true, status: 200}},
			params:   CreateSandboxParams{Snapshot: "s"},
			wantErr:  "429", posts: 1,
		},
		{
			name:     "timeout after the sandbox exists: found by name",
			outcomes: []createOutcome{{create: true, status: 200, delay: 2 * time.Second}},
			wantID:   "id-ss-1", posts: 1, minGets: 1,
		},
		{
			name:     "no name: a 5xx is not retried",
			outcomes: []createOutcome{{status: 503}, {create: true, status: 200}},
			params:   CreateSandboxParams{Snapshot: "s"},
			wantErr:  "503", posts: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDaytonaFake(t, tt.outcomes...)
			d.getHidden = tt.getHidden
			if tt.foreign {
				d.byName["ss-1"] = sandboxJSON("id-old", "ss-1", StateStarted, "")
			}
			c := newClient(t, d.URL, func(cfg *Config) {
				cfg.ResponseHeaderTimeout = 200 * time.Millisecond
				if tt.notSent {
					cfg.HTTPClient = failFirstDial()
				}
			})
			c.sleep = (&fakeSleep{}).sleep
			p := tt.params
			if p.Name == "" && p.Snapshot == "" {
				p.Name = "ss-1"
			}
			sb, err := c.CreateSandbox(context.Background(), p)
			posts, gets, _ := d.stats()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if (err == nil || tt.wantSbOnEr) && (sb == nil || sb.ID != tt.wantID) {
				t.Errorf("sandbox = %+v, want id %q", sb, tt.wantID)
			}
			if err != nil && !tt.wantSbOnEr && sb != nil {
				t.Errorf("sandbox %+v returned with error %v", sb, err)
			}
			if posts != tt.posts {
				t.Errorf("%d creates, want %d", posts, tt.posts)
			}
			if gets < tt.minGets {
				t.Errorf("%d lookups, want at least %d", gets, tt.minGets)
			}
			if tt.minGets == 0 && gets != 0 {
				t.Errorf("%d lookups, want none", gets)
			}
			d.mu.Lock()
			n := len(d.byName)
			d.mu.Unlock()
			if n > 1 {
				t.Errorf("%d sandboxes exist, want at most 1", n)
			}
		})
	}
}

// A create's 429 reaches the caller as a *RateLimitError with Daytona's
// wait, after one request.
func TestCreateRateLimitedCarriesTheWait(t *testing.T) {
	d := newDaytonaFake(t, createOutcome{status: http.StatusTooManyRequests}, createOutcome{create: true, status: 200})
	c := newClient(t, d.URL)
	sb, err := c.CreateSandbox(context.Background(), CreateSandboxParams{Name: "ss-1"})
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != time.Second || sb != nil {
		t.Fatalf("sb, err = %+v, %v; want a *RateLimitError asking for 1s", sb, err)
	}
	if posts, gets, _ := d.stats(); posts != 1 || gets != 0 {
		t.Errorf("%d creates and %d lookups, want 1 and 0", posts, gets)
	}
}

// failFirstDial returns an HTTP client whose first dial fails the way a
// refused connection or DNS blip does (a *net.OpError "dial"), so that the
// first request provably never reached the server.
func failFirstDial() *http.Client {
	var n atomic.Int32
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if n.Add(1) == 1 {
				return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
			}
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func TestCreateFirstAttemptConflictIsAnError(t *testing.T) {
	d := newDaytonaFake(t)
	d.byName["ss-1"] = sandboxJSON("id-old", "ss-1", StateStarted, "")
	c := newClient(t, d.URL)
	sb, err := c.CreateSandbox(context.Background(), CreateSandboxParams{Name: "ss-1"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusConflict || sb != nil {
		t.Fatalf("sb, err = %+v, %v; want a conflict", sb, err)
	}
	if _, gets, _ := d.stats(); gets != 0 {
		t.Errorf("%d lookups after a first-attempt conflict", gets)
	}
}

func TestCreateCancelledAfterSendStillReportsTheSandbox(t *testing.T) {
	d := newDaytonaFake(t, createOutcome{create: true, status: 200, delay: 5 * time.Second})
	c := newClient(t, d.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	sb, err := c.CreateSandbox(ctx, CreateSandboxParams{Name: "ss-1"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if sb == nil || sb.ID != "id-ss-1" {
		t.Errorf("sandbox = %+v; the caller must learn what to clean up", sb)
	}
}

func TestWaitUntilStarted(t *testing.T) {
	tests := []struct {
		name         string
		states       []SandboxState
		timeout      time.Duration
		deleteStatus int
		wantErr      error
		wantDeleted  bool
		wantCleanErr bool
		deletes      int
	}{
		{name: "becomes started", states: []SandboxState{StateCreating, StateStarting, StateStarted}},
		{name: "error state", states: []SandboxState{StateStarting, StateError}, wantErr: ErrSandboxFailed, wantDeleted: true, deletes: 1},
		{name: "build failed", states: []SandboxState{StatePendingBuild, StateBuildFailed}, wantErr: ErrSandboxFailed, wantDeleted: true, deletes: 1},
		{name: "deadline", states: []SandboxState{StateStarting}, timeout: 80 * time.Millisecond, wantErr: context.DeadlineExceeded, wantDeleted: true, deletes: 1},
		{name: "destroyed while waiting", states: []SandboxState{StateStarting, StateDestroyed}, wantErr: ErrSandboxGone, wantDeleted: true},
		{name: "cleanup fails", states: []SandboxState{StateError}, deleteStatus: 400, wantErr: ErrSandboxFailed, wantCleanErr: true, deletes: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDaytonaFake(t)
			d.byName["ss-1"] = sandboxJSON("id-ss-1", "ss-1", StateCreating, "")
			d.states = tt.states
			d.deleteStatus = tt.deleteStatus
			c := newClient(t, d.URL)
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			sb, err := c.WaitUntilStarted(ctx, "id-ss-1")
			_, gets, deletes := d.stats()
			if deletes != tt.deletes {
				t.Errorf("%d deletes, want %d", deletes, tt.deletes)
			}
			if tt.wantErr == nil {
				if err != nil || sb.State != StateStarted {
					t.Fatalf("sb, err = %+v, %v", sb, err)
				}
				if gets != len(tt.states) {
					t.Errorf("%d GETs, want %d", gets, len(tt.states))
				}
				return
			}
			var se *StartError
			if !errors.As(err, &se) || !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want *StartError wrapping %v", err, tt.wantErr)
			}
			if se.Deleted != tt.wantDeleted || (se.CleanupErr != nil) != tt.wantCleanErr {
				t.Errorf("Deleted=%v CleanupErr=%v", se.Deleted, se.CleanupErr)
			}
			if tt.wantErr == ErrSandboxFailed && se.ErrorReason == "" && tt.states[len(tt.states)-1] == StateError {
				t.Errorf("ErrorReason lost: %+v", se)
			}
			if tt.wantErr == ErrSandboxFailed && !strings.Contains(err.Error(), string(tt.states[len(tt.states)-1])) {
				t.Errorf("error %q does not name the state", err)
			}
		})
	}
}

func TestWaitUntilStartedCleansUpForACancelledCaller(t *testing.T) {
	d := newDaytonaFake(t)
	d.byName["ss-1"] = sandboxJSON("id-ss-1", "ss-1", StateStarting, "")
	c := newClient(t, d.URL)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	_, err := c.WaitUntilStarted(ctx, "id-ss-1")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if _, _, deletes := d.stats(); deletes != 1 {
		t.Errorf("%d deletes, want 1 on a detached context", deletes)
	}
}

func TestCreateSandboxAndWait(t *testing.T) {
	t.Run("started", func(t *testing.T) {
		d := newDaytonaFake(t, createOutcome{create: true, status: 200})
		d.states = []SandboxState{StateStarting, StateStarted}
		c := newClient(t, d.URL)
		sb, err := c.CreateSandboxAndWait(context.Background(), CreateSandboxParams{Name: "ss-1", Snapshot: "s"})
		if err != nil || sb.State != StateStarted {
			t.Fatalf("sb, err = %+v, %v", sb, err)
		}
	})
	t.Run("failed to start is deleted", func(t *testing.T) {
		d := newDaytonaFake(t, createOutcome{create: true, status: 400, msg: "Sandbox failed to start: boom"})
		c := newClient(t, d.URL)
		sb, err := c.CreateSandboxAndWait(context.Background(), CreateSandboxParams{Name: "ss-1"})
		var se *StartError
		if sb != nil || !errors.As(err, &se) || !se.Deleted {
			t.Fatalf("sb, err = %+v, %v", sb, err)
		}
		if _, _, deletes := d.stats(); deletes != 1 {
			t.Errorf("%d deletes, want 1", deletes)
		}
	})
	t.Run("already started in the create answer", func(t *testing.T) {
		d := newDaytonaFake(t, createOutcome{create: true, status: 200, state: StateStarted})
		c := newClient(t, d.URL)
		sb, err := c.CreateSandboxAndWait(context.Background(), CreateSandboxParams{Name: "ss-1"})
		if err != nil || sb.State != StateStarted {
			t.Fatalf("sb, err = %+v, %v", sb, err)
		}
		if _, gets, _ := d.stats(); gets != 0 {
			t.Errorf("%d GETs, want 0", gets)
		}
	})
}
