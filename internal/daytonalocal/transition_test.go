package daytonalocal

import (
	"net/http"
	"testing"
	"time"
)

// Daytona's stop answers at once and the sandbox passes through stopping:
// toolbox calls are refused and start and stop answer 409 until it has
// stopped, and its processes live until then.
func TestStopIsAsynchronous(t *testing.T) {
	h := newHarness(t, Options{StopDelay: 300 * time.Millisecond})
	sb := h.create(map[string]any{"name": "slow-stop"})
	pids := h.startEscapers(sb.ID)

	r := h.api("POST", "/sandbox/slow-stop/stop", nil)
	var got testSandbox
	r.decode(t, &got)
	if r.status != http.StatusOK || got.State != "stopping" || got.DesiredState != "stopped" {
		t.Fatalf("stop answered %d %s/%s, want 200 stopping/stopped", r.status, got.State, got.DesiredState)
	}
	checkToolboxError(t, h.tb(sb.ID, "GET", "/work-dir", nil), 400, "BAD_REQUEST")
	checkAPIError(t, h.api("POST", "/sandbox/slow-stop/start", nil), http.StatusConflict, "Sandbox state change in progress")
	checkAPIError(t, h.api("POST", "/sandbox/slow-stop/stop", nil), http.StatusConflict, "Sandbox state change in progress")
	for _, pid := range pids {
		if processGone(pid) {
			t.Errorf("process %d died when the stop began, not when it ended", pid)
		}
	}
	eventually(t, "stopped", func() bool { got, _ := h.get(sb.ID); return got.State == "stopped" })
	checkAllGone(t, pids)
	if r := h.api("POST", "/sandbox/slow-stop/start", nil); r.status != http.StatusOK {
		t.Fatalf("start once stopped: %d %s", r.status, r.body)
	}
}
