package daytonalocal

import (
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

var sandboxRequired = []string{"id", "organizationId", "name", "user", "env", "labels", "public",
	"networkBlockAll", "target", "cpu", "gpu", "memory", "disk", "toolboxProxyUrl"}

var listItemRequired = []string{"id", "organizationId", "name", "target", "user", "public",
	"networkBlockAll", "cpu", "gpu", "memory", "disk", "labels", "toolboxProxyUrl"}

func requireKeys(t *testing.T, what string, m map[string]any, keys []string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s: required field %q missing in %v", what, k, m)
		}
	}
}

// checkAPIError checks the main API's error body.
func checkAPIError(t *testing.T, r reply, status int, msgPart string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	m := r.json(t)
	requireKeys(t, "error body", m, []string{"statusCode", "message", "error", "path", "timestamp"})
	if got := m["statusCode"]; got != float64(status) {
		t.Errorf("statusCode = %v, want %d", got, status)
	}
	if got := m["error"]; got != http.StatusText(status) {
		t.Errorf("error = %v, want %q", got, http.StatusText(status))
	}
	if msg, _ := m["message"].(string); !strings.Contains(msg, msgPart) {
		t.Errorf("message = %q, want it to contain %q", msg, msgPart)
	}
}

// checkToolboxError checks the toolbox's error body.
func checkToolboxError(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	m := r.json(t)
	requireKeys(t, "toolbox error body", m, []string{"statusCode", "message", "timestamp", "path", "method"})
	if got := m["statusCode"]; got != float64(status) {
		t.Errorf("statusCode = %v, want %d", got, status)
	}
	if code != "" && m["code"] != code {
		t.Errorf("code = %v, want %s", m["code"], code)
	}
	if p, _ := m["path"].(string); strings.HasPrefix(p, "/toolbox/") {
		t.Errorf("path = %q, want the daemon's path without the proxy prefix", p)
	}
}

func TestCreateGetDelete(t *testing.T) {
	h := newHarness(t, Options{})
	r := h.api("POST", "/sandbox", map[string]any{
		"name":   "sbx-one",
		"labels": map[string]string{"owner": "alice", "sandstep.id": "sbx-one"},
		"env":    map[string]string{"GREETING": "hello"},
	})
	if r.status != http.StatusOK {
		t.Fatalf("create status = %d, want 200 (body %s)", r.status, r.body)
	}
	m := r.json(t)
	requireKeys(t, "Sandbox", m, sandboxRequired)
	var sb testSandbox
	r.decode(t, &sb)
	if sb.Name != "sbx-one" || sb.State != "started" || sb.DesiredState != "started" {
		t.Errorf("created sandbox = %+v, want name sbx-one, started", sb)
	}
	if want := h.ts.URL + "/toolbox"; sb.ToolboxProxyURL != want {
		t.Errorf("toolboxProxyUrl = %q, want %q", sb.ToolboxProxyURL, want)
	}
	if sb.Labels["owner"] != "alice" || sb.Env["GREETING"] != "hello" || sb.CPU != 1 || sb.AutoStop != 15 || sb.AutoDelete != -1 {
		t.Errorf("created sandbox = %+v: labels, env or defaults wrong", sb)
	}
	if _, err := time.Parse(time.RFC3339, sb.CreatedAt); err != nil {
		t.Errorf("createdAt %q: %v", sb.CreatedAt, err)
	}

	for _, ref := range []string{sb.ID, sb.Name} {
		got, status := h.get(ref)
		if status != http.StatusOK || got.ID != sb.ID {
			t.Errorf("GET %s: status %d id %q, want 200 %q", ref, status, got.ID, sb.ID)
		}
	}

	r = h.api("GET", "/sandbox/"+sb.ID+"/toolbox-proxy-url", nil)
	var u struct{ URL string }
	r.decode(t, &u)
	if r.status != http.StatusOK || u.URL != h.ts.URL+"/toolbox" {
		t.Errorf("toolbox-proxy-url: %d %s", r.status, r.body)
	}
	dir := h.workDir(sb.ID)

	r = h.api("DELETE", "/sandbox/"+sb.Name, nil)
	if r.status != http.StatusOK {
		t.Fatalf("delete status = %d (body %s)", r.status, r.body)
	}
	var del testSandbox
	r.decode(t, &del)
	requireKeys(t, "deleted Sandbox", r.json(t), sandboxRequired)
	if del.DesiredState != "destroyed" {
		t.Errorf("delete desiredState = %q, want destroyed", del.DesiredState)
	}
	checkAPIError(t, h.api("GET", "/sandbox/"+sb.ID, nil), http.StatusNotFound, "not found")
	checkAPIError(t, h.api("DELETE", "/sandbox/"+sb.ID, nil), http.StatusNotFound, "not found")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("work directory %s still there after delete (err %v)", dir, err)
	}
	// The name is free again.
	h.create(map[string]any{"name": "sbx-one"})
}

func TestCreateRejects(t *testing.T) {
	h := newHarness(t, Options{})
	h.create(map[string]any{"name": "taken"})
	tests := []struct {
		name   string
		body   any
		status int
		msg    string
	}{
		{"duplicate name", map[string]any{"name": "taken"}, 409, "Sandbox with name taken already exists"},
		{"resources with snapshot", map[string]any{"snapshot": "snap", "cpu": 2}, 400, "Cannot specify Sandbox resources when using a snapshot"},
		{"snapshot and buildInfo", map[string]any{"snapshot": "snap", "buildInfo": map[string]any{"dockerfileContent": "FROM x\n"}}, 400, "snapshot and buildInfo"},
		{"negative ttl", map[string]any{"ttlMinutes": -1}, 400, "ttlMinutes"},
		{"bad gpu type", map[string]any{"gpu": 1, "gpuType": "A100"}, 400, "gpuType"},
		{"cpu not an integer", map[string]any{"cpu": 1.5}, 400, "cpu"},
		{"not JSON", strings.NewReader("{"), 400, "invalid JSON"},
		{"slash in name", map[string]any{"name": "a/b"}, 400, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkAPIError(t, h.api("POST", "/sandbox", tt.body), tt.status, tt.msg)
		})
	}
	r := h.api("GET", "/sandbox", nil)
	var list struct{ Items []testSandbox }
	r.decode(t, &list)
	if len(list.Items) != 1 {
		t.Errorf("rejected creates left sandboxes behind: %s", r.body)
	}
}

func TestCreateWithBuildInfoAndResources(t *testing.T) {
	h := newHarness(t, Options{})
	r := h.api("POST", "/sandbox", map[string]any{
		"buildInfo": map[string]any{"dockerfileContent": "FROM python:3.12\n"},
		"cpu":       2, "memory": 4, "disk": 8,
	})
	if r.status != 200 {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
	m := r.json(t)
	bi, _ := m["buildInfo"].(map[string]any)
	requireKeys(t, "buildInfo", bi, []string{"createdAt", "updatedAt", "snapshotRef"})
	if m["cpu"] != 2.0 || m["memory"] != 4.0 || m["disk"] != 8.0 {
		t.Errorf("resources = %v/%v/%v, want 2/4/8", m["cpu"], m["memory"], m["disk"])
	}
}

func TestStartDelay(t *testing.T) {
	h := newHarness(t, Options{StartDelay: 50 * time.Millisecond})
	sb := h.create(map[string]any{"name": "slow"})
	if sb.State != "creating" || sb.DesiredState != "started" {
		t.Fatalf("state = %s/%s, want creating/started", sb.State, sb.DesiredState)
	}
	checkToolboxError(t, h.tb(sb.ID, "POST", "/process/execute", map[string]any{"command": "true"}), 400, "BAD_REQUEST")
	checkAPIError(t, h.api("POST", "/sandbox/slow/stop", nil), 409, "Sandbox state change in progress")
	eventually(t, "started", func() bool { got, _ := h.get(sb.ID); return got.State == "started" })
}

func TestStartStop(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(map[string]any{"name": "life"})
	h.upload(sb.ID, map[string]string{"keep.txt": "kept"})

	r := h.api("POST", "/sandbox/life/stop", nil)
	var got testSandbox
	r.decode(t, &got)
	if r.status != 200 || got.State != "stopped" {
		t.Fatalf("stop: %d %s", r.status, r.body)
	}
	checkToolboxError(t, h.tb(sb.ID, "GET", "/work-dir", nil), 400, "BAD_REQUEST")
	checkAPIError(t, h.api("POST", "/sandbox/life/stop", nil), 400, "not started")

	r = h.api("POST", "/sandbox/life/start", nil)
	r.decode(t, &got)
	if r.status != 200 || got.State != "started" {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	if r := h.download(sb.ID, "keep.txt"); string(r.body) != "kept" {
		t.Errorf("file after stop/start = %q, want kept", r.body)
	}
	if r := h.api("POST", "/sandbox/life/start", nil); r.status != 200 {
		t.Errorf("start of a started sandbox: %d, want 200", r.status)
	}
	checkAPIError(t, h.api("POST", "/sandbox/nope/start", nil), 404, "nope")
}

func TestEphemeralStopDeletes(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(map[string]any{"autoDeleteInterval": 0})
	if r := h.api("POST", "/sandbox/"+sb.ID+"/stop", nil); r.status != 200 {
		t.Fatalf("stop: %d %s", r.status, r.body)
	}
	if _, status := h.get(sb.ID); status != 404 {
		t.Errorf("GET after stopping an ephemeral sandbox = %d, want 404", status)
	}
}

func TestList(t *testing.T) {
	h := newHarness(t, Options{})
	var names []string
	for i := range 7 {
		name := "list-" + strconv.Itoa(i)
		team := "red"
		if i%2 == 1 {
			team = "blue"
		}
		h.create(map[string]any{"name": name, "labels": map[string]string{"team": team, "app": "x"}})
		names = append(names, name)
	}
	h.api("POST", "/sandbox/list-0/stop", nil)

	list := func(q url.Values) (items []map[string]any, next *string, status int) {
		r := h.api("GET", "/sandbox?"+q.Encode(), nil)
		if r.status != 200 {
			return nil, nil, r.status
		}
		var resp struct {
			Items      []map[string]any `json:"items"`
			NextCursor *string          `json:"nextCursor"`
		}
		m := r.json(t)
		if _, ok := m["nextCursor"]; !ok {
			t.Errorf("nextCursor missing (it is required, null on the last page): %s", r.body)
		}
		r.decode(t, &resp)
		for _, it := range resp.Items {
			requireKeys(t, "SandboxListItem", it, listItemRequired)
			if _, ok := it["env"]; ok {
				t.Errorf("list item carries env: %v", it)
			}
		}
		return resp.Items, resp.NextCursor, 200
	}
	namesOf := func(items []map[string]any) []string {
		var out []string
		for _, it := range items {
			out = append(out, it["name"].(string))
		}
		sort.Strings(out)
		return out
	}

	tests := []struct {
		name   string
		q      url.Values
		want   []string // names; nil means only a status check
		status int
	}{
		{"label containment", url.Values{"labels": {`{"team":"blue","app":"x"}`}}, []string{"list-1", "list-3", "list-5"}, 200},
		{"label mismatch", url.Values{"labels": {`{"team":"green"}`}}, []string{}, 200},
		{"states", url.Values{"states": {"started"}}, []string{"list-1", "list-2", "list-3", "list-4", "list-5", "list-6"}, 200},
		{"name prefix", url.Values{"name": {"LIST-6"}}, []string{"list-6"}, 200},
		{"limit 0", url.Values{"limit": {"0"}}, nil, 400},
		{"limit 201", url.Values{"limit": {"201"}}, nil, 400},
		{"bad labels", url.Values{"labels": {"team=blue"}}, nil, 400},
		{"bad state", url.Values{"states": {"running"}}, nil, 400},
		{"bad cursor", url.Values{"cursor": {"garbage"}}, nil, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, _, status := list(tt.q)
			if status != tt.status {
				t.Fatalf("status = %d, want %d", status, tt.status)
			}
			if tt.want != nil && strings.Join(namesOf(items), ",") != strings.Join(tt.want, ",") {
				t.Errorf("names = %v, want %v", namesOf(items), tt.want)
			}
		})
	}
	t.Run("state filter", func(t *testing.T) {
		items, _, _ := list(url.Values{"states": {"stopped", "error"}})
		if len(items) != 1 || items[0]["name"] != "list-0" || items[0]["state"] != "stopped" {
			t.Errorf("states=stopped&states=error returned %v, want only list-0", items)
		}
	})
	t.Run("paging visits every sandbox once even with deletes between pages", func(t *testing.T) {
		var seen []string
		q := url.Values{"limit": {"3"}}
		deleted := false
		for pages := 0; ; pages++ {
			items, next, status := list(q)
			if status != 200 || pages > 5 {
				t.Fatalf("page %d: status %d", pages, status)
			}
			if len(items) > 3 {
				t.Fatalf("page has %d items, limit 3", len(items))
			}
			seen = append(seen, namesOf(items)...)
			if next == nil {
				break
			}
			if !deleted { // delete an item already returned: paging must not skip others
				h.api("DELETE", "/sandbox/"+items[0]["id"].(string), nil)
				deleted = true
			}
			q.Set("cursor", *next)
		}
		sort.Strings(seen)
		if strings.Join(seen, ",") != strings.Join(names, ",") {
			t.Errorf("paged names = %v, want %v", seen, names)
		}
	})

}

func TestTimersAndTTL(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, Options{Clock: clock.Now, SweepInterval: 5 * time.Millisecond})
	sb := h.create(map[string]any{"name": "ttl", "ttlMinutes": 5, "autoStopInterval": 0})
	created, _ := time.Parse(time.RFC3339, sb.CreatedAt)
	if got, _ := time.Parse(time.RFC3339, sb.AutoDestroyAt); !got.Equal(created.Add(5 * time.Minute)) {
		t.Errorf("autoDestroyAt = %q, want createdAt+5m", sb.AutoDestroyAt)
	}

	r := h.api("POST", "/sandbox/ttl/autostop/30", nil)
	var got testSandbox
	r.decode(t, &got)
	if r.status != 200 || got.AutoStop != 30 {
		t.Errorf("autostop: %d %s", r.status, r.body)
	}
	checkAPIError(t, h.api("POST", "/sandbox/ttl/autostop/-1", nil), 400, "interval")
	checkAPIError(t, h.api("POST", "/sandbox/ttl/ttl/abc", nil), 400, "ttlMinutes")

	clock.Advance(3 * time.Minute)
	r = h.api("POST", "/sandbox/ttl/ttl/10", nil) // re-anchored to now
	r.decode(t, &got)
	if want := clock.Now().Add(10 * time.Minute); r.status != 200 || got.AutoDestroyAt != want.Format(isoMillis) {
		t.Errorf("ttl: autoDestroyAt = %q, want %q", got.AutoDestroyAt, want.Format(isoMillis))
	}
	if r := h.api("POST", "/sandbox/"+sb.ID+"/last-activity", nil); r.status != 201 {
		t.Errorf("last-activity: %d %s, want 201", r.status, r.body)
	}
	dir := h.workDir(sb.ID)
	clock.Advance(9 * time.Minute) // 9 of 10: still alive
	h.srv.sweep()
	if _, status := h.get(sb.ID); status != 200 {
		t.Fatalf("sandbox gone before its TTL: %d", status)
	}
	clock.Advance(2 * time.Minute)
	eventually(t, "TTL destroy", func() bool { _, status := h.get(sb.ID); return status == 404 })
	// The record goes first, its directory just after.
	eventually(t, "the directory removed after the TTL", func() bool { _, err := os.Stat(dir); return os.IsNotExist(err) })
}

func TestAutoStopAndAutoDelete(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, Options{Clock: clock.Now, SweepInterval: 5 * time.Millisecond})
	sb := h.create(map[string]any{"autoStopInterval": 2, "autoDeleteInterval": 5})
	clock.Advance(90 * time.Second)
	h.execute(sb.ID, "true") // toolbox calls count as activity
	clock.Advance(90 * time.Second)
	h.srv.sweep()
	if got, _ := h.get(sb.ID); got.State != "started" {
		t.Fatalf("state = %s after activity, want started", got.State)
	}
	clock.Advance(time.Minute)
	eventually(t, "auto-stop", func() bool { got, _ := h.get(sb.ID); return got.State == "stopped" })
	clock.Advance(5 * time.Minute)
	eventually(t, "auto-delete", func() bool { _, status := h.get(sb.ID); return status == 404 })
}

func TestLabelsAndRecover(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(map[string]any{"labels": map[string]string{"a": "1"}})
	r := h.request("PUT", "/api/sandbox/"+sb.ID+"/labels", map[string]any{"labels": map[string]string{"b": "2"}}, nil)
	var out struct{ Labels map[string]string }
	r.decode(t, &out)
	if r.status != 200 || len(out.Labels) != 1 || out.Labels["b"] != "2" {
		t.Errorf("labels: %d %s", r.status, r.body)
	}
	checkAPIError(t, h.api("POST", "/sandbox/"+sb.ID+"/recover", nil), 400, "recoverable")
}

func TestAuth(t *testing.T) {
	open := newHarness(t, Options{})
	keyed := newHarness(t, Options{APIKey: "s3cret"})
	sb := open.create(nil)
	tests := []struct {
		name    string
		h       *harness
		path    string
		auth    string
		status  int
		toolbox bool
	}{
		{"no header", open, "/api/sandbox", "", 401, false},
		{"empty bearer", open, "/api/sandbox", "Bearer ", 401, false},
		{"basic scheme", open, "/api/sandbox", "Basic abc", 401, false},
		{"any token", open, "/api/sandbox", "Bearer whatever", 200, false},
		{"lower-case scheme", open, "/api/sandbox", "bearer whatever", 200, false},
		{"toolbox without token", open, "/toolbox/" + sb.ID + "/work-dir", "", 401, true},
		{"wrong key", keyed, "/api/sandbox", "Bearer nope", 401, false},
		{"right key", keyed, "/api/sandbox", "Bearer s3cret", 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{"Authorization": tt.auth}
			r := tt.h.request("GET", tt.path, nil, hdr)
			switch {
			case tt.status == 200 && r.status != 200:
				t.Errorf("status = %d, want 200 (%s)", r.status, r.body)
			case tt.status == 401 && tt.toolbox:
				checkToolboxError(t, r, 401, "UNAUTHORIZED")
			case tt.status == 401:
				checkAPIError(t, r, 401, "Unauthorized")
			}
			if strings.Contains(string(r.body), "s3cret") {
				t.Errorf("response leaks the key: %s", r.body)
			}
		})
	}
}

func TestUnknownRoute(t *testing.T) {
	h := newHarness(t, Options{})
	checkAPIError(t, h.api("GET", "/nope", nil), 404, "Cannot GET")
	sb := h.create(nil)
	checkToolboxError(t, h.tb(sb.ID, "GET", "/nope", nil), 404, "NOT_FOUND")
	checkToolboxError(t, h.tb("missing", "GET", "/work-dir", nil), 404, "NOT_FOUND")
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"negative start delay", Options{StartDelay: -1}},
		{"negative stop delay", Options{StopDelay: -1}},
		{"negative output bound", Options{MaxOutputBytes: -1}},
		{"bad fault", Options{Faults: []Fault{{Kind: FaultLatency}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Root = t.TempDir()
			if s, err := New(tt.opts); err == nil {
				s.Close()
				t.Fatal("New succeeded, want an error")
			}
		})
	}
}

// The liveness check answers without a key, as Daytona's does; the API
// beside it still wants one.
func TestHealthNeedsNoKey(t *testing.T) {
	h := newHarness(t, Options{APIKey: testToken})
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/api/health", http.StatusOK},
		{"/api/sandbox", http.StatusUnauthorized},
	} {
		resp, err := http.Get(h.ts.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET %s without a key: %d, want %d", tt.path, resp.StatusCode, tt.want)
		}
	}
}

// Daytona refuses a delete while a state change is pending, except in
// pending_build: an image whose build has not started is deleted at once.
func TestDeleteWhileTheImageWaitsForItsBuild(t *testing.T) {
	h := newHarness(t, Options{StartDelay: 2 * time.Second})
	sb := h.create(map[string]any{"name": "img", "buildInfo": map[string]any{"dockerfileContent": "FROM alpine\n"}})
	if got, _ := h.get(sb.ID); got.State != "pending_build" {
		t.Fatalf("state %s, want pending_build", got.State)
	}
	if r := h.api("DELETE", "/sandbox/"+sb.ID, nil); r.status != http.StatusOK {
		t.Fatalf("delete in pending_build: %d %s; Daytona deletes it", r.status, r.body)
	}
	time.Sleep(3 * time.Second) // past the build: it must not bring the sandbox back
	if got, _ := h.get(sb.ID); got.State == "started" {
		t.Fatalf("the deleted sandbox came back %s after its build's time", got.State)
	}
}
