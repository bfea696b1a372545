package service

import (
	"context"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The agent reads anyone's issue text, and what git prints about its
// clone is the agent's to choose: git echoes a bad configuration value
// whole, newlines included. The task's error quotes git's words and the
// issue's ended comment, written as the App, quotes the error: there they
// must be text, as the output's tail is (fenced), never markdown that
// mentions people (GitHub notifies them), links elsewhere or forges the
// comment's own lines.
func TestEndedCommentQuotesGitsWordsAsText(t *testing.T) {
	tests := []struct {
		name  string
		value string // what the agent puts in its clone's configuration
		never string // what must not be markdown in the comment
	}{
		{"a mention", "@octo-org/everyone please review", "@octo-org/everyone"},
		{"a link", "see [the fix](https://evil.example/fix)", "](https://evil.example/fix)"},
		{"a forged line of the comment", "x\n\nPull request: https://evil.example/pull/1\n", "Pull request: https://evil.example/pull/1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			git(t, h.clone, "config", "core.bigFileThreshold", tt.value)
			got := h.exit(t, 0)
			if got.Status != sandstep.TaskFailed || !strings.Contains(got.Error, tt.never) {
				t.Fatalf("task %s, error %q; want failed, quoting what git printed", got.Status, sandstep.Clip(got.Error, 300))
			}
			body, _ := h.svc.endedComment(context.Background(), got)
			if md := outsideFences(body); strings.Contains(md, tt.never) {
				t.Errorf("the ended comment renders the agent's %q as markdown:\n%s", tt.never, body)
			}
		})
	}
}

// outsideFences is body's markdown with its fenced code blocks left out:
// what GitHub renders (and whose mentions it notifies).
func outsideFences(body string) string {
	var b strings.Builder
	fence := ""
	for line := range strings.Lines(body) {
		trimmed := strings.TrimSpace(line)
		switch {
		case fence == "" && strings.HasPrefix(trimmed, "```"):
			fence = trimmed[:len(trimmed)-len(strings.TrimLeft(trimmed, "`"))]
		case fence != "" && strings.Trim(trimmed, "`") == "" && len(trimmed) >= len(fence):
			fence = ""
		case fence == "":
			b.WriteString(line)
		}
	}
	return b.String()
}
