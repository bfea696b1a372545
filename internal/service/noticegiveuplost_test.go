package service

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A notice whose window's last attempt was claimed but never recorded (its
// process died while the receiver answered) is given up by the next
// claim, in claimNotice's write. When that write lands with its answer
// lost, the store reads the record again and calls the update again
// (noticeWriteLandsTwice): the notice is failed now, so the update finds
// nothing due and the give-up is neither audited (no task.notify, the
// trail's last word on the notice) nor counted in NoticesGivenUp (the
// operator's alarm). recordNotice keeps a settlement its own earlier try
// landed ("is still told once"); the give-up must be told once too.
func TestNoticeGivenUpByAWriteWhoseAnswerWasLostIsAudited(t *testing.T) {
	for _, tt := range []struct {
		name string
		// lost: the give-up's write lands with its answer lost.
		lost bool
	}{
		{name: "the give-up's answer arrives"},
		{name: "the give-up's answer is lost", lost: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			notifier := &fakeNotifier{err: sandstep.Errorf(sandstep.ETRANSIENT, "hooks.example.com answered 503")}
			h := newNoticeHarness(t, notifier, func(o *Options) { o.NotifyRetryFor = 10 * time.Minute })
			if tt.lost {
				deps := Deps{Provider: h.provider, Sandboxes: h.store, Quota: h.store, Idempotency: h.store, Audit: h.store, Secrets: h.secrets,
					Inventory: h.store, Catalog: h.provider, Tasks: &noticeWriteLandsTwice{Tasks: h.store}, Objects: h.objects,
					Machine: fakeMachine{}, Sessions: fakeSessions{}, Notifier: notifier}
				svc, err := New(deps, Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: h.clock.Now,
					NotifyRetryFor: 10 * time.Minute})
				if err != nil {
					t.Fatal(err)
				}
				h.svc = svc
			}
			tk := h.start(t, &NotifyInput{URL: "https://hooks.example.com/x"})
			h.collected(t, tk.ID)
			// The window's last attempt is claimed a second before it ends;
			// its process dies before it records what the receiver said.
			h.advance(10*time.Minute - time.Second)
			claimed, err := h.svc.claimNotice(h.ctx(), h.record(t, tk.ID))
			if err != nil || claimed == nil {
				t.Fatalf("claimNotice = %v, %v; want the last attempt claimed", claimed, err)
			}
			// The reaper's run after the claim's retry time gives it up.
			h.advance(2 * time.Minute)
			h.reap(t)
			if got := h.record(t, tk.ID).Notify; got.Status != sandstep.NoticeFailed {
				t.Fatalf("notice %+v; want failed (given up)", got)
			}
			if !h.audited(t, tk.ID, "failed") {
				t.Errorf("no task.notify event saying failed: the trail never says the notice was given up")
			}
			var emf bytes.Buffer
			if err := h.metrics.WriteTo(&emf, "test", time.Now()); err != nil || !strings.Contains(emf.String(), `"NoticesGivenUp":1,`) {
				t.Errorf("metrics %s (%v); want NoticesGivenUp 1", emf.String(), err)
			}
		})
	}
}
