package store_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

func TestAuditAppendAndList(t *testing.T) {
	clk := newClock()
	st, _, _ := storetest.New(t, store.Options{Now: clk.Now})
	c := ctx(t)
	md := sandstep.Metadata{Repo: "o/r", IssueID: "12"}
	events := []sandstep.AuditEvent{
		{Action: "sandbox.create", UserID: "u", SandboxID: "s1", RequestID: "r1", Metadata: md, Outcome: "ok"},
		{Action: "sandbox.exec", UserID: "u", SandboxID: "s1", Outcome: "ok", Detail: map[string]string{"exitCode": "0"}},
		// The same instant as the one before: must not collide.
		{Action: "sandbox.exec", UserID: "u", SandboxID: "s1", Outcome: "ok", Detail: map[string]string{"exitCode": "1"}},
		{Action: "task.start", UserID: "u", SandboxID: "s1", TaskID: "t1", Outcome: "ok"},
		{Action: "sandbox.delete", UserID: "u", SandboxID: "s1", Outcome: "conflict", Detail: map[string]string{"state": "deleting"}},
	}
	for i, ev := range events {
		if i != 2 {
			clk.Advance(time.Millisecond)
		}
		if err := st.AppendAudit(c, ev); err != nil {
			t.Fatalf("AppendAudit %d: %v", i, err)
		}
	}
	var got []sandstep.AuditEvent
	cursor := ""
	for {
		page, next, err := st.ListAudit(c, "s1", "", 2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(got) != len(events) {
		t.Fatalf("listed %d events, want %d: %+v", len(got), len(events), got)
	}
	for i, ev := range got {
		want := events[i]
		if ev.Action != want.Action || ev.Outcome != want.Outcome || fmt.Sprint(ev.Detail) != fmt.Sprint(want.Detail) ||
			ev.Metadata != want.Metadata || ev.RequestID != want.RequestID || ev.TaskID != want.TaskID || ev.Time.IsZero() {
			t.Errorf("event %d = %+v, want %+v", i, ev, want)
		}
		if i > 0 && ev.Time.Before(got[i-1].Time) {
			t.Errorf("event %d out of order", i)
		}
	}
	// The event naming a task lists under the task too.
	taskEvents, next, err := st.ListAudit(c, "", "t1", 20, "")
	if err != nil || len(taskEvents) != 1 || taskEvents[0].Action != "task.start" || next != "" {
		t.Fatalf("task events = %+v, %q, %v", taskEvents, next, err)
	}
	// A cursor of one partition is not accepted for another.
	_, c1, err := st.ListAudit(c, "s1", "", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = st.ListAudit(c, "s2", "", 1, c1)
	wantCode(t, err, sandstep.EINVALID, "cursor")
	_, _, err = st.ListAudit(c, "", "s1", 1, c1)
	wantCode(t, err, sandstep.EINVALID, "cursor")
}

func TestAuditConcurrentSameInstant(t *testing.T) {
	clk := newClock() // never advances: every event at the same instant
	st, _, _ := storetest.New(t, store.Options{Now: clk.Now})
	c := ctx(t)
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := st.AppendAudit(c, sandstep.AuditEvent{Action: "x", UserID: "u", SandboxID: "s", Detail: map[string]string{"i": fmt.Sprint(i)}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	page, _, err := st.ListAudit(c, "s", "", 100, "")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ev := range page {
		seen[ev.Detail["i"]] = true
	}
	if len(page) != n || len(seen) != n {
		t.Fatalf("%d events stored (%d distinct), want %d", len(page), len(seen), n)
	}
}

func TestAuditRefusesSecretsAndBadInput(t *testing.T) {
	st, client, table := storetest.New(t, store.Options{})
	c := ctx(t)
	ok := sandstep.AuditEvent{Action: "sandbox.create", UserID: "u", SandboxID: "s"}
	with := func(f func(*sandstep.AuditEvent)) sandstep.AuditEvent {
		ev := ok
		f(&ev)
		return ev
	}
	detail := func(k, v string) sandstep.AuditEvent {
		return with(func(e *sandstep.AuditEvent) { e.Detail = map[string]string{"state": "ready", k: v} })
	}
	many := map[string]string{}
	for i := range store.MaxAuditDetailEntries + 1 {
		many[fmt.Sprint("k", i)] = "v"
	}
	tests := []struct {
		name  string
		ev    sandstep.AuditEvent
		field string
	}{
		{"detail token", detail("token", "abc"), "detail.token"},
		{"detail api key", detail("apiKey", "abc"), "detail.apiKey"},
		{"detail API_KEY", detail("DAYTONA_API_KEY", "abc"), "detail.DAYTONA_API_KEY"},
		{"detail password", detail("db.Password", "abc"), "detail.db.Password"},
		{"detail secret", detail("webhook-secret", "abc"), "detail.webhook-secret"},
		{"detail authorization", detail("Authorization", "x"), "detail.Authorization"},
		{"detail credentials", detail("awsCredentials", "x"), "detail.awsCredentials"},
		{"bearer value", detail("header", "Bearer abcdef"), "detail.header"},
		{"github token value", detail("note", "cloned with ghp_0123456789abcdefghijABCDEFGHIJ"), "detail.note"},
		{"aws key id value", detail("note", "AKIAABCDEFGHIJKLMNOP"), "detail.note"},
		{"jwt value", detail("note", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.sig"), "detail.note"},
		{"pem value", detail("note", "-----BEGIN RSA PRIVATE KEY-----\nMII"), "detail.note"},
		{"long value", detail("note", strings.Repeat("v", sandstep.MaxAuditDetailValueLength+1)), "detail.note"},
		{"odd key", detail("a b", "v"), "detail"},
		{"too many entries", with(func(e *sandstep.AuditEvent) { e.Detail = many }), "detail"},
		{"no action", with(func(e *sandstep.AuditEvent) { e.Action = "" }), "action"},
		{"action with spaces", with(func(e *sandstep.AuditEvent) { e.Action = "create sandbox" }), "action"},
		{"no user", with(func(e *sandstep.AuditEvent) { e.UserID = "" }), "userId"},
		{"neither sandbox nor task", with(func(e *sandstep.AuditEvent) { e.SandboxID = "" }), "sandboxId"},
		{"bad task id", with(func(e *sandstep.AuditEvent) { e.TaskID = "t#1" }), "taskId"},
		{"bad target user", with(func(e *sandstep.AuditEvent) { e.SandboxID, e.TargetUserID = "", "a#b" }), "targetUserId"},
		{"bad outcome", with(func(e *sandstep.AuditEvent) { e.Outcome = "not ok!" }), "outcome"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := st.AppendAudit(c, tt.ev)
			wantCode(t, err, sandstep.EINVALID, tt.field)
			for _, v := range tt.ev.Detail {
				if len(v) > 3 && strings.Contains(err.Error(), v) {
					t.Fatalf("error %q repeats the refused value", err)
				}
			}
		})
	}
	out, err := client.Scan(c, &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 0 {
		t.Fatalf("refused events wrote %d items", len(out.Items))
	}
	// Harmless details pass.
	if err := st.AppendAudit(c, detail("exitCode", "0")); err != nil {
		t.Fatal(err)
	}
	_, _, err = st.ListAudit(c, "s", "t", 0, "")
	wantCode(t, err, sandstep.EINVALID, "sandboxId")
	_, _, err = st.ListAudit(c, "", "", 0, "")
	wantCode(t, err, sandstep.EINVALID, "sandboxId")
	_, _, err = st.ListUserAudit(c, "a b", 1, "")
	wantCode(t, err, sandstep.EINVALID, "userId")
}

// An administrator's event lists under its target user only, paged, and
// a cursor of a user's trail is not one of a sandbox's.
func TestAuditUnderTargetUser(t *testing.T) {
	clk := newClock()
	st, _, _ := storetest.New(t, store.Options{Now: clk.Now, DefaultQuota: 1})
	c := ctx(t)
	for _, action := range []string{"admin.quota.set", "admin.usage.read", "admin.quota.clear"} {
		clk.Advance(time.Millisecond)
		if err := st.AppendAudit(c, sandstep.AuditEvent{Action: action, UserID: "root", TargetUserID: "alice", Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	// The user's quota items share the partition; they are not events.
	if err := st.SetUserLimit(c, "alice", quota(t, st, "alice"), 2); err != nil {
		t.Fatal(err)
	}
	var got []string
	cursor := ""
	for {
		page, next, err := st.ListUserAudit(c, "alice", 2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page {
			got = append(got, ev.Action)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if want := []string{"admin.quota.set", "admin.usage.read", "admin.quota.clear"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("alice's trail = %v, want %v", got, want)
	}
	if others, _, err := st.ListUserAudit(c, "root", 10, ""); err != nil || len(others) != 0 {
		t.Errorf("the actor's own trail = %+v, %v; want nothing", others, err)
	}
	_, c1, err := st.ListUserAudit(c, "alice", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = st.ListAudit(c, "alice", "", 1, c1)
	wantCode(t, err, sandstep.EINVALID, "cursor")
}
