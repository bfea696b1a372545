package service

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/testutil"
)

// TestNoPullRequestLogged: an issue's task whose push or pull
// request GitHub refuses fails, `no pull request: ...` on its record
// (README, "The pull request"), and the step answers success: the edge
// writes no failure line, and the clean-up's outcome is "logged by the
// service when it happened" (api.directFailure). So the service logs it,
// naming the task, its owner and why, or an operator searching the logs
// for why a task failed finds nothing.
func TestNoPullRequestLogged(t *testing.T) {
	tests := []struct {
		name   string
		github func(h *repoHarness)
	}{
		{name: "the push refused (a branch named sandstep)", github: func(h *repoHarness) {
			git(t, h.origin, "branch", "sandstep", "main")
		}},
		{name: "the push token forbidden", github: func(h *repoHarness) {
			h.access.limit = func(op string) error {
				if op == "push" {
					return sandstep.Errorf(sandstep.EUNAUTHENTICATED, "github: 403 Resource not accessible by integration")
				}
				return nil
			}
		}},
		{name: "the pull request refused", github: func(h *repoHarness) {
			h.access.limit = func(op string) error {
				if op == "pull" {
					return sandstep.Errorf(sandstep.EINVALID, "github: 422 Validation Failed")
				}
				return nil
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			logs := &testutil.Buffer{}
			h.svc.opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
			tt.github(h)
			git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
			ctx := context.Background()
			if err := h.svc.recordExit(ctx, h.task, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := h.svc.CollectTask(ctx, TaskStep{TaskID: h.task.ID, UserID: h.task.Owner}); err != nil {
				t.Fatalf("collect: %v", err)
			}
			got := h.record(t)
			if got.Status != sandstep.TaskFailed || !strings.HasPrefix(got.Error, "no pull request: ") {
				t.Fatalf("task %s, error %q; want failed, no pull request", got.Status, got.Error)
			}
			var line map[string]any
			for l := range strings.SplitSeq(logs.String(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && m["taskId"] == got.ID && strings.Contains(l, "no pull request") {
					line = m
				}
			}
			if line == nil {
				t.Fatalf("task %s failed (%q) with no log line naming it and why; logs:\n%s", got.ID, sandstep.Clip(got.Error, 120), logs.String())
			}
			if line["userId"] != got.Owner || line["sandboxId"] != got.SandboxID {
				t.Errorf("the line %v; want userId %s and sandboxId %s", line, got.Owner, got.SandboxID)
			}
		})
	}
}
