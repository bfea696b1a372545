package service

import (
	"context"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The audit trail of a sandbox or task is its owner's to read, a page at a
// time; to anyone else it does not exist, exactly as the sandbox or task.
func TestEventsOfOwnSandboxAndTask(t *testing.T) {
	ctx := context.Background()
	h := newFaultHarness(t, 5)
	h.svc.auditLog = h.store
	sb, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Exec(ctx, alice(), sb.ID, ExecInput{Command: "true"}); err != nil {
		t.Fatal(err)
	}
	tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "true"})
	if err != nil {
		t.Fatal(err)
	}
	list := map[string]func(Call, string, ListInput) (*EventList, error){
		"sandbox": func(c Call, id string, in ListInput) (*EventList, error) { return h.svc.SandboxEvents(ctx, c, id, in) },
		"task":    func(c Call, id string, in ListInput) (*EventList, error) { return h.svc.TaskEvents(ctx, c, id, in) },
	}
	ids := map[string]string{"sandbox": sb.ID, "task": tk.ID}
	tests := []struct {
		name      string
		call      Call
		id        func(kind string) string
		in        ListInput
		wantCode  sandstep.Code
		wantField string
	}{
		{name: "owner", call: alice(), id: func(k string) string { return ids[k] }},
		{name: "owner, one a page", call: alice(), id: func(k string) string { return ids[k] }, in: ListInput{Limit: intp(1)}},
		{name: "someone else", call: Call{UserID: "bob"}, id: func(k string) string { return ids[k] }, wantCode: sandstep.ENOTFOUND},
		{name: "no such id", call: alice(), id: func(k string) string {
			if k == "task" {
				return "tsk_" + "aaaaaaaaaaaaaaaaaaaaaaaaaa"
			}
			return "sbx_aaaaaaaaaaaaaaaaaaaaaaaaaa"
		}, wantCode: sandstep.ENOTFOUND},
		{name: "limit 0", call: alice(), id: func(k string) string { return ids[k] }, in: ListInput{Limit: intp(0)}, wantCode: sandstep.EINVALID, wantField: "limit"},
		{name: "limit over the most", call: alice(), id: func(k string) string { return ids[k] }, in: ListInput{Limit: intp(MaxListLimit + 1)}, wantCode: sandstep.EINVALID, wantField: "limit"},
		{name: "bad cursor", call: alice(), id: func(k string) string { return ids[k] }, in: ListInput{Cursor: "nonsense"}, wantCode: sandstep.EINVALID, wantField: "cursor"},
		{name: "no caller", call: Call{}, id: func(k string) string { return ids[k] }, wantCode: sandstep.EUNAUTHENTICATED},
	}
	for _, tc := range tests {
		for kind, do := range list {
			t.Run(tc.name+"/"+kind, func(t *testing.T) {
				var all []sandstep.AuditEvent
				in := tc.in
				for {
					page, err := do(tc.call, tc.id(kind), in)
					if tc.wantCode != "" {
						if sandstep.ErrorCode(err) != tc.wantCode || sandstep.ErrorField(err) != tc.wantField {
							t.Fatalf("err = %v, want %s on %q", err, tc.wantCode, tc.wantField)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					if in.Limit != nil && len(page.Items) > *in.Limit {
						t.Fatalf("page of %d, limit %d", len(page.Items), *in.Limit)
					}
					all = append(all, page.Items...)
					if page.NextCursor == "" {
						break
					}
					in.Cursor = page.NextCursor
				}
				want := map[string][]string{"sandbox": {ActionCreate, ActionExec}, "task": {ActionTaskStart}}[kind]
				if len(all) != len(want) {
					t.Fatalf("events %+v, want actions %v", all, want)
				}
				for i, ev := range all {
					if ev.Action != want[i] || ev.UserID != "alice" {
						t.Errorf("event %d = %+v, want %s by alice", i, ev, want[i])
					}
				}
			})
		}
	}
}
