package service

import (
	"context"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Another user's sandbox or task is still 404, as if absent, but the
// attempt leaves one denied line naming the caller and the target; a
// sandbox or task that does not exist leaves none.
func TestDeniedNotOwner(t *testing.T) {
	ctx := context.Background()
	bob := Call{UserID: "bob", RequestID: "req-2"}
	absentSandbox, absentTask := NewSandboxID(), NewTaskID()
	tests := []struct {
		name string
		// run tries something of alice's (sandbox sb, task tk) as bob.
		run    func(h *scopeHarness, sb, tk string) error
		target string // "sandbox" or "task": alice's; "" for an absent one
	}{
		{"get a sandbox", func(h *scopeHarness, sb, _ string) error { _, err := h.svc.GetSandbox(ctx, bob, sb); return err }, "sandbox"},
		{"exec in a sandbox", func(h *scopeHarness, sb, _ string) error {
			_, err := h.svc.Exec(ctx, bob, sb, ExecInput{Command: "cat .sandstep/secrets.env"})
			return err
		}, "sandbox"},
		{"delete a sandbox", func(h *scopeHarness, sb, _ string) error { _, err := h.svc.DeleteSandbox(ctx, bob, sb); return err }, "sandbox"},
		{"get a task", func(h *scopeHarness, _, tk string) error { _, err := h.svc.GetTask(ctx, bob, tk); return err }, "task"},
		{"cancel a task", func(h *scopeHarness, _, tk string) error { _, err := h.svc.CancelTask(ctx, bob, tk); return err }, "task"},
		{"read a task's logs", func(h *scopeHarness, _, tk string) error { _, err := h.svc.ReadTaskLogs(ctx, bob, tk, ""); return err }, "task"},
		{"list a task's artifacts", func(h *scopeHarness, _, tk string) error { _, err := h.svc.TaskArtifacts(ctx, bob, tk); return err }, "task"},
		{"get an absent sandbox", func(h *scopeHarness, _, _ string) error {
			_, err := h.svc.GetSandbox(ctx, bob, absentSandbox)
			return err
		}, ""},
		{"get an absent task", func(h *scopeHarness, _, _ string) error { _, err := h.svc.GetTask(ctx, bob, absentTask); return err }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newScopeHarness(t)
			sb, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{SecretEnv: map[string]string{"T": "ssm:/sandstep/secrets/users/alice/token"}})
			if err != nil {
				t.Fatal(err)
			}
			tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "true"})
			if err != nil {
				t.Fatal(err)
			}
			wantCode(t, tc.run(h, sb.ID, tk.ID), sandstep.ENOTFOUND)
			switch tc.target {
			case "":
				if lines := deniedLines(t, h.logs); len(lines) != 0 {
					t.Errorf("an absent target logged denied: %v", lines)
				}
				return
			case "sandbox":
				wantDenied(t, h.logs, map[string]string{"reason": DeniedNotOwner, "userId": "bob", "target": sb.ID})
			case "task":
				wantDenied(t, h.logs, map[string]string{"reason": DeniedNotOwner, "userId": "bob", "target": tk.ID})
			}
			if got, err := h.svc.GetSandbox(ctx, alice(), sb.ID); err != nil || got.State != sandstep.StateReady {
				t.Errorf("alice's sandbox after bob's attempt: %+v, %v", got, err)
			}
		})
	}
}

// A create or a task's sandbox over the owner's quota is 429 and one
// denied line; the creates within it log none.
func TestDeniedQuota(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(h *scopeHarness) error
	}{
		{"create", func(h *scopeHarness) error {
			_, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
			return err
		}},
		{"agent-execute", func(h *scopeHarness) error {
			_, err := h.svc.AgentExecute(ctx, alice(), AgentExecuteInput{Command: "true"})
			return err
		}},
		{"a task's sandbox", func(h *scopeHarness) error {
			tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "true"})
			if err != nil {
				return err
			}
			_, err = h.svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: tk.Owner})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newScopeHarness(t) // quota 3
			for range 3 {
				if _, err := h.svc.CreateSandbox(ctx, alice(), CreateSandboxInput{}); err != nil {
					t.Fatal(err)
				}
			}
			if lines := deniedLines(t, h.logs); len(lines) != 0 {
				t.Fatalf("creates within the quota logged denied: %v", lines)
			}
			wantCode(t, tc.run(h), sandstep.EQUOTA)
			lines := deniedLines(t, h.logs)
			if len(lines) != 1 {
				t.Fatalf("%d denied lines, want 1:\n%s", len(lines), h.logs.String())
			}
			target, _ := lines[0]["target"].(string)
			if lines[0]["reason"] != DeniedQuota || lines[0]["userId"] != "alice" || lines[0]["level"] != "WARN" || !strings.HasPrefix(target, "sbx_") {
				t.Errorf("denied line %v: want WARN, reason quota, alice and the refused sandbox's id", lines[0])
			}
		})
	}
}
