package service

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/notify"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// rawStatusReceiver is a receiver on loopback answering every notice with
// the status line "HTTP/1.1 " + status, as the receiver wrote it: a
// handler's WriteHeader cannot choose the reason phrase.
func rawStatusReceiver(t *testing.T, status string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		_ = writeRaw(brw, "HTTP/1.1 "+status+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func writeRaw(w *bufio.ReadWriter, s string) error {
	if _, err := w.WriteString(s); err != nil {
		return err
	}
	return w.Flush()
}

// A failed attempt's message quotes the receiver's status line as sent,
// and becomes the notice's lastError. DynamoDB's client writes each byte
// that is not UTF-8 as U+FFFD, so the record holds another lastError than
// the one recordNotice wrote. When that settling write lands with its
// answer lost, the update called again compares the two
// (sameSettlement), finds them different, and the notice's failure is
// neither audited (no task.notify "failed") nor counted in NoticesGivenUp.
func TestNoticeFailedByAReceiversRawStatusIsAudited(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status string
	}{
		{"a plain reason", "503 Service Unavailable"},
		{"a reason not UTF-8", "503 Unavailable \xff\xfe"},
		{"a reason with control characters", "503 Unavailable \x1b[31m\x00"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rcv := rawStatusReceiver(t, tt.status)
			sender := notify.NewSender(notify.Options{Local: true})
			h := newNoticeHarness(t, sender, func(o *Options) { o.NotifyRetryFor = 10 * time.Minute })
			deps := Deps{Provider: h.provider, Sandboxes: h.store, Quota: h.store, Idempotency: h.store, Audit: h.store, Secrets: h.secrets,
				Inventory: h.store, Catalog: h.provider, Tasks: &noticeWriteLandsTwice{Tasks: h.store}, Objects: h.objects,
				Machine: fakeMachine{}, Sessions: fakeSessions{}, Notifier: sender}
			svc, err := New(deps, Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: h.clock.Now,
				NotifyRetryFor: 10 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			h.svc = svc
			tk := h.start(t, &NotifyInput{URL: rcv.URL + "/hook"})
			h.collected(t, tk.ID)
			// The window's last attempt: the receiver's answer fails it.
			h.advance(10*time.Minute - time.Second)
			if !h.svc.notifyEnded(h.ctx(), h.record(t, tk.ID)) {
				t.Fatal("no attempt was made")
			}
			got := h.record(t, tk.ID).Notify
			if got.Status != sandstep.NoticeFailed || !strings.Contains(got.LastError, "503") {
				t.Fatalf("notice %+v; want failed, its lastError quoting the 503", got)
			}
			if !h.audited(t, tk.ID, "failed") {
				t.Errorf("no task.notify event saying failed (lastError %q): the trail never says the notice was given up", got.LastError)
			}
			var emf bytes.Buffer
			if err := h.metrics.WriteTo(&emf, "test", time.Now()); err != nil || !strings.Contains(emf.String(), `"NoticesGivenUp":1,`) {
				t.Errorf("metrics %s (%v); want NoticesGivenUp 1", emf.String(), err)
			}
		})
	}
}
