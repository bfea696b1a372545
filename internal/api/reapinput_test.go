package api

import (
	"context"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/service"
)

// TestReapMaxActionsOutOfRange: the reaper's maxActions bounds how
// many things a run changes (deletes sandboxes, ends tasks). A value that
// is no bound (0, negative) is invalid_input naming it, never taken for
// the default of 200 changes: an operator's {"maxActions": 0} must not
// run a full reaping.
func TestReapMaxActionsOutOfRange(t *testing.T) {
	tests := []struct {
		name, payload string
	}{
		{"zero", `{"action":"reap","maxActions":0}`},
		{"negative", `{"action":"reap","maxActions":-1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			a, _ := newTestAPI(svc, Options{})
			ive := invokeError(t, a, FunctionReaper, tt.payload)
			if ive.Type != "Sandbox.InvalidInput" || !strings.HasPrefix(ive.Message, "maxActions: ") {
				t.Errorf("error %+v, want Sandbox.InvalidInput naming maxActions", ive)
			}
			if calls := svc.recordedCalls(); len(calls) != 0 {
				t.Errorf("the reaper ran: %+v", calls)
			}
		})
	}
}

// A bound given is passed on; none leaves the service its default.
func TestReapMaxActionsPassedOn(t *testing.T) {
	for payload, want := range map[string]int{`{"action":"reap","maxActions":5}`: 5, `{"action":"reap"}`: 0, `{"action":"reap","maxActions":null}`: 0} {
		svc := &fakeService{}
		a, _ := newTestAPI(svc, Options{})
		if _, err := a.Handler(FunctionReaper).Invoke(context.Background(), []byte(payload)); err != nil {
			t.Fatalf("%s: %v", payload, err)
		}
		if calls := svc.recordedCalls(); len(calls) != 1 || calls[0].in.(service.ReapOptions).MaxActions != want {
			t.Errorf("%s: calls %+v, want maxActions %d", payload, calls, want)
		}
	}
}
