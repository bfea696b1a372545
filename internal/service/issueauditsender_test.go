package service

import (
	"context"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A repository's task is started and cancelled by people on GitHub (the
// label added or removed, a comment), each checked for write permission:
// its audit trail says who, as a reader's cancel through the API names
// the reader. The repository's own user id says nothing of it.
func TestIssueTaskTrailNamesTheSender(t *testing.T) {
	ctx := context.Background()
	h := issueHarness(t, nil)
	h.svc.collaborators = fakeCollaborators{"maintainer": true, "reviewer": true}
	ev := IssueEvent{Delivery: "d1", Repo: "octo/hello", InstallationID: 7, Issue: 12, Title: "t", Body: "b",
		Sender: "maintainer", CloneURL: "https://github.com/octo/hello.git", DefaultBranch: "main"}
	out, err := h.svc.HandleIssue(ctx, ev)
	if err != nil || out.Action != "started" {
		t.Fatalf("start = %+v, %v", out, err)
	}
	ev.Delivery, ev.Sender, ev.Cancel = "d2", "reviewer", true
	if out, err := h.svc.HandleIssue(ctx, ev); err != nil || out.Action != "cancelled" {
		t.Fatalf("cancel = %+v, %v", out, err)
	}
	events, _, err := h.store.ListAudit(ctx, "", out.TaskID, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ActionTaskStart: "maintainer", ActionTaskCancel: "reviewer"}
	for _, tc := range []struct{ name, action string }{
		{"the start", ActionTaskStart},
		{"the cancel", ActionTaskCancel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var found *sandstep.AuditEvent
			for i := range events {
				if events[i].Action == tc.action {
					found = &events[i]
				}
			}
			if found == nil {
				t.Fatalf("no %s event in %+v", tc.action, events)
			}
			if got := found.Detail["sender"]; got != want[tc.action] {
				t.Errorf("%s: userId %q, detail %v; want the sender %q named", tc.action, found.UserID, found.Detail, want[tc.action])
			}
		})
	}
}
