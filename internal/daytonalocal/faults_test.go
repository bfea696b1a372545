package daytonalocal

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestResponseFaults(t *testing.T) {
	tests := []struct {
		name    string
		fault   Fault
		call    func(h *harness, sb testSandbox) reply
		status  int
		check   func(t *testing.T, r reply)
		wantAPI bool // the main API's error body (else the toolbox's, or empty)
	}{
		{
			name:  "429 on create with Retry-After-sandbox-create",
			fault: Fault{Kind: FaultRateLimit, Match: Match{Operation: "createSandbox"}, Times: 2, RetryAfter: 1500 * time.Millisecond},
			call:  func(h *harness, _ testSandbox) reply { return h.api("POST", "/sandbox", map[string]any{}) },
			check: func(t *testing.T, r reply) {
				checkAPIError(t, r, 429, "Too Many Requests")
				if r.header.Get("Retry-After") != "2" || r.header.Get("Retry-After-sandbox-create") != "2" ||
					r.header.Get("X-RateLimit-Remaining-sandbox-create") != "0" {
					t.Errorf("rate-limit headers = %v", r.header)
				}
			},
			status: 429,
		},
		{
			name:  "429 on get names the authenticated throttler",
			fault: Fault{Kind: FaultRateLimit, Match: Match{Method: "GET", Path: "/api/sandbox/*"}, Times: 1},
			call:  func(h *harness, sb testSandbox) reply { return h.api("GET", "/sandbox/"+sb.ID, nil) },
			check: func(t *testing.T, r reply) {
				checkAPIError(t, r, 429, "Too Many Requests")
				if r.header.Get("Retry-After-authenticated") != "1" {
					t.Errorf("headers = %v", r.header)
				}
			},
			status: 429,
		},
		{
			name:   "burst of 503 on get",
			fault:  Fault{Kind: FaultUnavailable, Match: Match{Operation: "getSandbox"}, Times: 3},
			call:   func(h *harness, sb testSandbox) reply { return h.api("GET", "/sandbox/"+sb.ID, nil) },
			check:  func(t *testing.T, r reply) { checkAPIError(t, r, 503, "Service Unavailable") },
			status: 503,
		},
		{
			name:  "empty-body 502 on toolbox execute",
			fault: Fault{Kind: FaultBadGateway, Match: Match{Path: "/toolbox/*/process/**"}, Times: 2},
			call: func(h *harness, sb testSandbox) reply {
				return h.tb(sb.ID, "POST", "/process/execute", map[string]any{"command": "true"})
			},
			check: func(t *testing.T, r reply) {
				if r.status != 502 || len(r.body) != 0 {
					t.Errorf("got %d %q, want 502 with an empty body", r.status, r.body)
				}
			},
			status: 502,
		},
		{
			name:  "504 on delete",
			fault: Fault{Kind: FaultError, Status: 504, Message: "gateway timeout", Match: Match{Operation: "deleteSandbox"}, Times: 1},
			call:  func(h *harness, sb testSandbox) reply { return h.api("DELETE", "/sandbox/"+sb.ID, nil) },
			check: func(t *testing.T, r reply) {
				checkAPIError(t, r, 504, "gateway timeout")
			},
			status: 504,
		},
		{
			name:  "503 on a toolbox call has the toolbox body",
			fault: Fault{Kind: FaultUnavailable, Match: Match{Operation: "GetWorkDir"}, Times: 1},
			call:  func(h *harness, sb testSandbox) reply { return h.tb(sb.ID, "GET", "/work-dir", nil) },
			check: func(t *testing.T, r reply) {
				checkToolboxError(t, r, 503, "")
			},
			status: 503,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			sb := h.create(nil)
			id, err := h.srv.AddFault(tt.fault)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.fault.Times {
				r := tt.call(h, sb)
				if r.status != tt.status {
					t.Fatalf("call %d: status %d, want %d (%s)", i, r.status, tt.status, r.body)
				}
				tt.check(t, r)
			}
			if r := tt.call(h, sb); r.status >= 300 {
				t.Errorf("after %d faults: status %d (%s), want success", tt.fault.Times, r.status, r.body)
			}
			if got := h.srv.FaultHits(id); got != tt.fault.Times {
				t.Errorf("FaultHits = %d, want %d", got, tt.fault.Times)
			}
		})
	}
}

func TestFaultScopesAndLifetime(t *testing.T) {
	h := newHarness(t, Options{Faults: []Fault{
		{Kind: FaultUnavailable, Match: Match{Operation: "createSandbox", Sandbox: "victim-*"}},
	}})
	for i, name := range []string{"victim-1", "victim-2"} {
		checkAPIError(t, h.api("POST", "/sandbox", map[string]any{"name": name}), 503, "Unavailable")
		if i == 0 {
			if _, status := h.get(name); status != 404 {
				t.Errorf("a 503 create made a sandbox")
			}
		}
	}
	other := h.create(map[string]any{"name": "bystander"})

	// Sandbox scope on a toolbox route matches the id or the name.
	id, err := h.srv.AddFault(Fault{Kind: FaultBadGateway, Match: Match{Sandbox: "bystander"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // Times 0: every matching request until removed
		if r := h.tb(other.ID, "GET", "/work-dir", nil); r.status != 502 {
			t.Fatalf("scoped 502: got %d", r.status)
		}
	}
	h.srv.RemoveFault(id)
	if r := h.tb(other.ID, "GET", "/work-dir", nil); r.status != 200 {
		t.Errorf("after RemoveFault: %d", r.status)
	}
	if got := h.srv.FaultHits(id); got != 3 {
		t.Errorf("FaultHits after removal = %d, want 3", got)
	}
	h.srv.ClearFaults()
	h.create(map[string]any{"name": "victim-3"})
}

func TestLatencyFault(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(nil)
	id, err := h.srv.AddFault(Fault{Kind: FaultLatency, Delay: time.Hour, Match: Match{Operation: "getSandbox"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.ts.URL+"/api/sandbox/"+sb.ID, nil)
	req.Header.Set("Authorization", "Bearer x")
	if resp, err := h.ts.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a request delayed by an hour answered %d", resp.StatusCode)
	}
	// Other operations are not delayed.
	if r := h.api("GET", "/sandbox", nil); r.status != 200 {
		t.Errorf("list: %d", r.status)
	}
	h.srv.RemoveFault(id)
	if _, status := h.get(sb.ID); status != 200 {
		t.Errorf("get after removal: %d", status)
	}
}

func TestCreateFaults(t *testing.T) {
	tests := []struct {
		name       string
		fault      Fault
		status     int
		msg        string
		emptyBody  bool
		finalState string
		reason     string
	}{
		{"stuck in creating", Fault{Kind: FaultCreateStuck}, 200, "", false, "creating", ""},
		{"goes to error", Fault{Kind: FaultCreateError, Message: "disk on fire", Recoverable: true}, 200, "", false, "error", "disk on fire"},
		{"400 failed to start, sandbox exists", Fault{Kind: FaultCreateFailedToStart, Message: "no runner"}, 400, "Sandbox failed to start: no runner", false, "error", "no runner"},
		{"500 but the sandbox exists", Fault{Kind: FaultCreateLostResponse}, 500, "Internal Server Error", false, "started", ""},
		{"empty 502 but the sandbox exists", Fault{Kind: FaultCreateLostResponse, Status: 502}, 502, "", true, "started", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{StartDelay: 20 * time.Millisecond})
			tt.fault.Times = 1
			if _, err := h.srv.AddFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			r := h.api("POST", "/sandbox", map[string]any{"name": "faulty"})
			switch {
			case tt.emptyBody:
				if r.status != tt.status || len(r.body) != 0 {
					t.Fatalf("create = %d %q, want %d empty", r.status, r.body, tt.status)
				}
			case tt.status != 200:
				checkAPIError(t, r, tt.status, tt.msg)
			default:
				if r.status != 200 {
					t.Fatalf("create = %d %s", r.status, r.body)
				}
			}
			// The client finds it by name.
			var got testSandbox
			eventually(t, "state "+tt.finalState, func() bool {
				var status int
				got, status = h.get("faulty")
				return status == 200 && got.State == tt.finalState
			})
			if got.ErrorReason != tt.reason {
				t.Errorf("errorReason = %q, want %q", got.ErrorReason, tt.reason)
			}
			checkAPIError(t, h.api("POST", "/sandbox", map[string]any{"name": "faulty"}), 409, "already exists")
			if tt.finalState == "creating" {
				checkAPIError(t, h.api("POST", "/sandbox/faulty/start", nil), 409, "state change in progress")
			}
			if tt.finalState != "started" {
				checkToolboxError(t, h.tb(got.ID, "GET", "/work-dir", nil), 400, "BAD_REQUEST")
			}
			if tt.finalState == "creating" {
				// Daytona refuses it while the create is in flight.
				checkAPIError(t, h.api("DELETE", "/sandbox/faulty", nil), 409, "state change in progress")
			} else if r := h.api("DELETE", "/sandbox/faulty", nil); r.status != 200 {
				t.Errorf("delete: %d %s", r.status, r.body)
			}
			// Used up: the next create is normal.
			if next := h.create(map[string]any{"name": "next"}); next.State != "creating" {
				t.Errorf("next create state = %s", next.State)
			}
		})
	}
}

func TestRecoverAfterErrorFault(t *testing.T) {
	h := newHarness(t, Options{Faults: []Fault{{Kind: FaultCreateError, Recoverable: true, Times: 1}}})
	sb := h.create(nil)
	if sb.State != "error" || sb.ErrorReason == "" {
		t.Fatalf("state %s reason %q, want error with a reason", sb.State, sb.ErrorReason)
	}
	r := h.api("POST", "/sandbox/"+sb.ID+"/recover", nil)
	var got testSandbox
	r.decode(t, &got)
	if r.status != 200 || got.State != "started" || got.ErrorReason != "" {
		t.Errorf("recover: %d %s", r.status, r.body)
	}
}

func TestFollowDropFault(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(nil)
	h.tb(sb.ID, "POST", "/process/session", map[string]any{"sessionId": "d"})
	_, m := h.sessionExec(sb.ID, "d", "echo 0123456789", true)
	cmdID := m["cmdId"].(string)
	h.waitExit(sb.ID, "d", cmdID)
	if _, err := h.srv.AddFault(Fault{Kind: FaultFollowDrop, AfterBytes: 5, Times: 1}); err != nil {
		t.Fatal(err)
	}
	data, status, err := h.follow(sb.ID, "d", cmdID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "01234" || status != -1 {
		t.Errorf("dropped follow = %q close %v, want 5 bytes and no close frame", data, status)
	}
	data, status, _ = h.follow(sb.ID, "d", cmdID, nil)
	if string(data) != "0123456789\n" || status != websocket.StatusNormalClosure {
		t.Errorf("next follow = %q close %v", data, status)
	}
}

func TestAddFaultValidates(t *testing.T) {
	h := newHarness(t, Options{})
	tests := []struct {
		name  string
		fault Fault
	}{
		{"unknown kind", Fault{Kind: 99}},
		{"zero kind", Fault{}},
		{"negative times", Fault{Kind: FaultUnavailable, Times: -1}},
		{"latency without delay", Fault{Kind: FaultLatency}},
		{"non-error status", Fault{Kind: FaultError, Status: 200}},
		{"bad path pattern", Fault{Kind: FaultUnavailable, Match: Match{Path: "/api/["}}},
		{"bad sandbox pattern", Fault{Kind: FaultUnavailable, Match: Match{Sandbox: "["}}},
		{"create fault on another operation", Fault{Kind: FaultCreateStuck, Match: Match{Operation: "getSandbox"}}},
		{"follow drop on another operation", Fault{Kind: FaultFollowDrop, Match: Match{Operation: "ExecuteCommand"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := h.srv.AddFault(tt.fault); err == nil {
				t.Error("AddFault accepted an invalid fault")
			}
		})
	}
}

func TestFaultsConcurrentUse(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(nil)
	const n = 20
	if _, err := h.srv.AddFault(Fault{Kind: FaultUnavailable, Match: Match{Operation: "getSandbox"}, Times: n}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for range 2 * n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", h.ts.URL+"/api/sandbox/"+sb.ID, nil)
			req.Header.Set("Authorization", "Bearer x")
			resp, err := h.ts.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			counts[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	for range 10 { // add and remove faults while requests run
		id, _ := h.srv.AddFault(Fault{Kind: FaultLatency, Delay: time.Millisecond})
		h.srv.RemoveFault(id)
	}
	wg.Wait()
	if counts[503] != n || counts[200] != n {
		t.Errorf("status counts = %v, want %d×503 and %d×200", counts, n, n)
	}
}

func TestMatchPath(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"/api/sandbox", "/api/sandbox", true},
		{"/api/sandbox/*", "/api/sandbox/abc", true},
		{"/api/sandbox/*", "/api/sandbox/abc/start", false},
		{"/api/**", "/api/sandbox/abc/start", true},
		{"/api/**", "/api", true},
		{"/toolbox/*/process/**", "/toolbox/id/process/session/s/exec", true},
		{"/toolbox/*/files/**", "/toolbox/id/process/execute", false},
		{"/**/logs", "/toolbox/id/process/session/s/command/c/logs", true},
		{"/api/sandbox/sbx-*", "/api/sandbox/other", false},
	}
	for _, tt := range tests {
		if got := matchPath(tt.pattern, tt.path); got != tt.want {
			t.Errorf("matchPath(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}

func TestDemux(t *testing.T) {
	tests := []struct {
		raw, stdout, stderr string
	}{
		{"", "", ""},
		{"\x01\x01\x01a\n\x02\x02\x02b\n\x01\x01\x01c\n", "a\nc\n", "b\n"},
		{"\x02\x02\x02e1\ne2\n", "", "e1\ne2\n"},
		{"\x01\x01\x01has \x01 byte\n", "has \x01 byte\n", ""},
	}
	for _, tt := range tests {
		so, se := demux([]byte(tt.raw))
		if string(so) != tt.stdout || string(se) != tt.stderr {
			t.Errorf("demux(%q) = %q, %q; want %q, %q", tt.raw, so, se, tt.stdout, tt.stderr)
		}
	}
}

func TestSDKAtLeast(t *testing.T) {
	tests := []struct {
		header string
		want   bool
	}{
		{"", false}, {"0.167.0", true}, {"0.218.0", true}, {"v0.167.1", true}, {"0.166.99", false},
		{"1.0.0", true}, {"0.167", true}, {"0.167.0-rc.1", true}, {"garbage", false},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest("GET", "/", nil)
		if tt.header != "" {
			r.Header.Set("X-Daytona-SDK-Version", tt.header)
		}
		if got := sdkAtLeast(r, 0, 167, 0); got != tt.want {
			t.Errorf("sdkAtLeast(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}
