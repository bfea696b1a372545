package service

import (
	"context"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A failed create's audit event keeps the failure's message, clipped to
// what an event's detail holds: a long message (a build's log, a provider's
// page) no longer costs the whole event.
func TestAFailedCreatesAuditEventKeepsALongError(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
	}{
		{"a short message", "the setup failed"},
		{"a message longer than an event's detail holds", "the setup failed: " + strings.Repeat("build log line\n", 400)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			h := newHarness(t, 2)
			h.provider.failOn("upload", sandstep.Errorf(sandstep.EINVALID, "%s", tc.msg))
			if _, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{Files: []File{{Path: "a", ContentBase64: "eA=="}}}); err == nil {
				t.Fatal("create succeeded; want the upload's failure")
			}
			list, err := h.svc.ListSandboxes(ctx, alice(), SandboxListInput{State: "all"})
			if err != nil || len(list.Items) != 1 {
				t.Fatalf("records %+v, %v; want the failed one", list, err)
			}
			events, _, lerr := h.store.ListAudit(ctx, list.Items[0].ID, "", 10, "")
			if lerr != nil || len(events) != 2 || events[1].Action != ActionCreate || events[1].Outcome != "invalid_input" {
				t.Fatalf("audit events %+v, %v; want the create's start and its failure", events, lerr)
			}
			if got := events[1].Detail["error"]; !strings.HasPrefix(tc.msg, strings.TrimSuffix(got, "…")) || got == "" {
				t.Errorf("detail.error = %q; want the message, clipped", got)
			}
		})
	}
}
