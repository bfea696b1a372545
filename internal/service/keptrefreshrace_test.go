package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// endingUpload is a provider whose next upload lands after its task has
// ended and its kept sandbox been cleaned up: a watch's refresh that was
// under way as the clean-up ran (a watch invocation outliving its state's
// timeout, or the clean-up of another execution).
type endingUpload struct {
	Provider
	end func()
}

func (p *endingUpload) Upload(ctx context.Context, id string, files []UploadFile) error {
	if end := p.end; end != nil {
		p.end = nil
		end()
	}
	return p.Provider.Upload(ctx, id, files)
}

// A refresh of the agent's token that uploads after the kept sandbox's
// clean-up took the token out must not leave the token it uploaded live
// in that sandbox: the task is no longer running (its record refuses the
// expiry), and nobody else will revoke it.
func TestKeptSandboxRefreshAfterCleanUp(t *testing.T) {
	tests := []struct {
		name string
		code int
	}{
		{name: "the command failed", code: 1},
		{name: "the command exited 0, nothing committed", code: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarnessSpec(t, nil, func(in *TaskInput) { in.KeepSandbox = true })
			ctx := context.Background()
			running := h.record(t)
			sb, err := h.store.GetSandbox(ctx, running.SandboxID)
			if err != nil {
				t.Fatal(err)
			}
			h.clock.Set(h.clock.Now().Add(55 * time.Minute))
			h.svc.provider = &endingUpload{Provider: h.provider, end: func() {
				h.exit(t, tt.code)
				_, err := h.svc.CleanUpTaskStep(ctx, h.task.ID, nil)
				var outcome *OutcomeError
				if err != nil && !errors.As(err, &outcome) {
					t.Fatalf("CleanUpTaskStep: %v", err)
				}
			}}
			h.svc.refreshReadToken(ctx, running, sb)

			if rec := h.record(t); !rec.Status.Terminal() {
				t.Fatalf("task %s; want ended", rec.Status)
			}
			cred, err := os.ReadFile(filepath.Join(h.provider.dir, readCredential))
			if errors.Is(err, os.ErrNotExist) {
				return // nothing left in the sandbox
			}
			if err != nil {
				t.Fatal(err)
			}
			_, held, _ := strings.Cut(strings.TrimSpace(string(cred)), "password=")
			h.access.mu.Lock()
			revoked := slices.Clone(h.access.revoked)
			h.access.mu.Unlock()
			if held != "" && !slices.Contains(revoked, held) {
				t.Errorf("the kept sandbox of the ended task holds the refreshed token %q, not revoked (revoked %q): it stays live for its hour", held, revoked)
			}
		})
	}
}
