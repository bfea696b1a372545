package service

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// downUntil is a receiver that is down (503) until the clock reaches
// back, and accepts from then on.
type downUntil struct {
	mu    sync.Mutex
	now   func() time.Time
	back  time.Time
	sends []time.Time
}

func (d *downUntil) CheckURL(string) error { return nil }

func (d *downUntil) Send(context.Context, string, string, []byte, string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	d.sends = append(d.sends, now)
	if now.Before(d.back) {
		return sandstep.Errorf(sandstep.ETRANSIENT, "hooks.example.com answered 503 Service Unavailable")
	}
	return nil
}

// README ("Completion notices"): failed attempts are retried "until
// NOTIFY_RETRY_FOR after the end; then the notice is failed". A receiver
// that is back before that window has passed gets the notice: the
// backoff's last wait must not carry the next attempt past the window and
// give the notice up early.
func TestNoticeRetriedUntilTheWindowEnds(t *testing.T) {
	tests := []struct {
		name     string
		retryFor time.Duration
		// down is how long after the task's end the receiver is back.
		down time.Duration
	}{
		{"an hour's window, receiver back after 45 minutes", time.Hour, 45 * time.Minute},
		{"the default day, receiver back after 23h30m", 24 * time.Hour, 23*time.Hour + 30*time.Minute},
		{"ten minutes, receiver back after 9 minutes", 10 * time.Minute, 9 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &downUntil{}
			h := newNoticeHarness(t, rc, func(o *Options) { o.NotifyRetryFor = tt.retryFor })
			rc.now = h.clock.Now
			tk := h.start(t, &NotifyInput{URL: "https://hooks.example.com/x"})
			end := h.collected(t, tk.ID)
			rc.back = end.Add(tt.down)
			if _, err := h.svc.CleanUpTask(h.ctx(), tk.ID, nil); err != nil {
				t.Fatalf("CleanUpTask: %v", err)
			}
			// The reaper every minute, until the window has passed.
			for h.clock.Now().Before(end.Add(tt.retryFor + 2*time.Minute)) {
				h.advance(time.Minute)
				h.reap(t)
			}
			n := h.record(t, tk.ID).Notify
			if n.Status != sandstep.NoticeDelivered {
				last := time.Duration(0)
				if len(rc.sends) > 0 {
					last = rc.sends[len(rc.sends)-1].Sub(end)
				}
				t.Errorf("notice %s after %d attempts, the last %s after the end (%q); want delivered: the receiver was back %s after the end, within NOTIFY_RETRY_FOR %s",
					n.Status, n.Attempts, last, n.LastError, tt.down, tt.retryFor)
			}
		})
	}
}
