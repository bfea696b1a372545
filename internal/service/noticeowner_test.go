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

// TestNoticeLinesNameTheOwner: the reaper makes a notice's later
// attempts and gives it up, raising <stack>-notices-given-up; its lines
// about the notice ("notice not delivered", "notice given up") are what
// the operator has, and name the task's owner as userId, as the reaper's
// other lines about a user's task do: the run's context names none.
func TestNoticeLinesNameTheOwner(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		// then brings the reaper's run that writes msg, the task's
		// command having ended.
		then func(t *testing.T, h *noticeHarness, id string)
	}{
		{"an attempt of the reaper's refused", "notice not delivered", func(t *testing.T, h *noticeHarness, id string) {
			h.succeed(t, id)
			h.advance(2 * time.Minute)
		}},
		{"given up by the reaper's claim", "notice given up", func(t *testing.T, h *noticeHarness, id string) {
			h.collected(t, id)
			h.advance(10*time.Minute - time.Second)
			if claimed, err := h.svc.claimNotice(h.ctx(), h.record(t, id)); err != nil || claimed == nil {
				t.Fatalf("claimNotice = %v, %v; want the last attempt claimed", claimed, err)
			}
			h.advance(2 * time.Minute)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &testutil.Buffer{}
			notifier := &fakeNotifier{err: sandstep.Errorf(sandstep.ETRANSIENT, "hooks.example.com answered 503")}
			h := newNoticeHarness(t, notifier, func(o *Options) {
				o.NotifyRetryFor = 10 * time.Minute
				o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
			})
			tk := h.start(t, &NotifyInput{URL: "https://hooks.example.com/x"})
			tt.then(t, h, tk.ID)
			before := len(logs.String())
			h.reap(t)
			var line map[string]any
			for l := range strings.SplitSeq(logs.String()[before:], "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == tt.msg && m["taskId"] == tk.ID {
					line = m
				}
			}
			if line == nil {
				t.Fatalf("no line %q of task %s in the run's logs:\n%s", tt.msg, tk.ID, logs.String()[before:])
			}
			if line["userId"] != tk.Owner {
				t.Errorf("the reaper's line %v; want userId %s", line, tk.Owner)
			}
		})
	}
}
