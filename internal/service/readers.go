package service

import (
	"context"
	"slices"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Readers says who, besides a repository's own user, may read its tasks,
// their logs and artifacts, and cancel them (the repositories document's
// readers).
type Readers interface {
	Readers(ctx context.Context, repo string) ([]string, error)
}

// mayRead reports whether the caller may see t: its owner, or a reader of
// the repository that owns it. Readers act on the repository's tasks; they
// never list them as theirs or start one as the repository. Readers that
// cannot be read are logged and read as none: an error would tell anyone
// who is not a reader that the id is a task, where a missing id is not
// found.
func (s *Service) mayRead(ctx context.Context, call Call, t *sandstep.Task) bool {
	if t.Owner == call.UserID {
		return true
	}
	repo, ok := sandstep.RepoOf(t.Owner)
	if !ok || s.readers == nil {
		return false
	}
	readers, err := s.readers.Readers(ctx, repo)
	if err != nil {
		s.opts.Logger.ErrorContext(ctx, "the repository's readers were not read; answered as to anyone else", "repo", repo, "taskId", t.ID, "err", err)
		return false
	}
	return slices.Contains(readers, call.UserID)
}

// readerDetail is the audit detail of a reader acting on the repository's
// task: whose task it was.
func readerDetail(call Call, t *sandstep.Task) map[string]string {
	if call.UserID == t.Owner {
		return nil
	}
	return map[string]string{"owner": t.Owner}
}
