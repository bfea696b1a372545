package service

import (
	"context"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A task whose command exited 0 and whose collect then failed (its pull
// request refused) must not be told on its issue as "failed with exit
// code 0": the command did not fail, what came after it did.
func TestEndedCommentExitZeroFailed(t *testing.T) {
	tests := []struct {
		name    string
		code    int
		commit  bool
		refuse  bool
		want    string // the ended comment's first line holds it
		notWant string // and never this
	}{
		{
			name:   "the command exited 0, then the pull request was refused",
			commit: true, refuse: true,
			want: "failed (the command exited 0", notWant: "with exit code 0",
		},
		{
			name: "the command exited 3",
			code: 3,
			want: "failed with exit code 3",
		},
		{
			name: "the command exited 0 and nothing was committed",
			want: "succeeded with exit code 0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			if tt.refuse {
				h.access.limit = func(op string) error {
					if op == "pull" {
						return sandstep.Errorf(sandstep.EINVALID, "GitHub refused it: Validation Failed")
					}
					return nil
				}
			}
			if tt.commit {
				git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
			}
			got := h.exit(t, tt.code)
			body, _ := h.svc.endedComment(context.Background(), got)
			first, _, _ := strings.Cut(body, "\n")
			if !strings.Contains(first, tt.want) || tt.notWant != "" && strings.Contains(first, tt.notWant) {
				t.Errorf("the ended comment's first line is %q; want it to say %q (task %s, error %q)", first, tt.want, got.Status, got.Error)
			}
		})
	}
}
