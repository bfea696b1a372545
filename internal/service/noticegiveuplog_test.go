package service

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/testutil"
)

// TestNoticeGivenUpIsLogged: every notice given up raises
// <stack>-notices-given-up, and the log is where an operator learns which
// task's it was (the metric has no task dimension). A notice given up
// after its last attempt failed says so ("notice not delivered", status
// failed); one given up by the next claim, its last attempt never
// recorded (the process died), must say so too.
func TestNoticeGivenUpIsLogged(t *testing.T) {
	logs := &testutil.Buffer{}
	notifier := &fakeNotifier{err: sandstep.Errorf(sandstep.ETRANSIENT, "hooks.example.com answered 503")}
	h := newNoticeHarness(t, notifier, func(o *Options) {
		o.NotifyRetryFor = 10 * time.Minute
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})
	tk := h.start(t, &NotifyInput{URL: "https://hooks.example.com/x"})
	h.collected(t, tk.ID)
	// The window's last attempt is claimed; its process dies before it
	// records what the receiver said.
	h.advance(10*time.Minute - time.Second)
	if claimed, err := h.svc.claimNotice(h.ctx(), h.record(t, tk.ID)); err != nil || claimed == nil {
		t.Fatalf("claimNotice = %v, %v; want the last attempt claimed", claimed, err)
	}
	h.advance(2 * time.Minute)
	h.reap(t)
	if got := h.record(t, tk.ID).Notify; got.Status != sandstep.NoticeFailed {
		t.Fatalf("notice %+v; want failed (given up)", got)
	}
	found := false
	for l := range strings.SplitSeq(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["taskId"] == tk.ID && m["status"] == string(sandstep.NoticeFailed) &&
			(m["level"] == "WARN" || m["level"] == "ERROR") {
			found = true
		}
	}
	if !found {
		t.Errorf("the notice of %s was given up and counted, but no line names it; the run logged:\n%s", tk.ID, logs.String())
	}
}
