package daytonalocal

import (
	"net/http"
	"testing"
	"time"
)

// Daytona refuses to delete a sandbox while a state change is in flight
// (409 "Sandbox state change in progress"; daytonaio/daytona#2236 saw a
// stuck start do it for good). A local server that deleted it at once
// would hide what a caller must do then: leave it for the reaper.
func TestDeleteMidTransitionIsRefused(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		setup func(h *harness) testSandbox
		want  string
	}{
		{name: "creating", opts: Options{StartDelay: 300 * time.Millisecond},
			setup: func(h *harness) testSandbox { return h.create(map[string]any{"name": "t"}) },
			want:  "creating"},
		{name: "starting", opts: Options{StartDelay: 300 * time.Millisecond},
			setup: func(h *harness) testSandbox {
				sb := h.create(map[string]any{"name": "t"})
				eventually(h.t, "started", func() bool { got, _ := h.get(sb.ID); return got.State == "started" })
				if r := h.api("POST", "/sandbox/t/stop", nil); r.status != http.StatusOK {
					h.t.Fatalf("stop: %d %s", r.status, r.body)
				}
				if r := h.api("POST", "/sandbox/t/start", nil); r.status != http.StatusOK {
					h.t.Fatalf("start: %d %s", r.status, r.body)
				}
				return sb
			},
			want: "starting"},
		{name: "stopping", opts: Options{StopDelay: 300 * time.Millisecond},
			setup: func(h *harness) testSandbox {
				sb := h.create(map[string]any{"name": "t"})
				if r := h.api("POST", "/sandbox/t/stop", nil); r.status != http.StatusOK {
					h.t.Fatalf("stop: %d %s", r.status, r.body)
				}
				return sb
			},
			want: "stopping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.opts)
			sb := tt.setup(h)
			if got, _ := h.get(sb.ID); got.State != tt.want {
				t.Fatalf("state %s, want %s", got.State, tt.want)
			}
			checkAPIError(t, h.api("DELETE", "/sandbox/"+sb.ID, nil), http.StatusConflict, "Sandbox state change in progress")
			if got, status := h.get(sb.ID); status != http.StatusOK || got.State == "destroying" {
				t.Fatalf("after a refused delete: %d %s", status, got.State)
			}
			// Once it has settled, the delete goes through.
			eventually(t, "a settled state", func() bool { got, _ := h.get(sb.ID); return got.State != tt.want })
			if r := h.api("DELETE", "/sandbox/"+sb.ID, nil); r.status != http.StatusOK {
				t.Fatalf("delete once settled: %d %s", r.status, r.body)
			}
		})
	}
}

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
