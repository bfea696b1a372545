package service

import (
	"context"
	"fmt"
	"strings"

	"github.com/sandstep/sandstep/internal/lazyre"
	"github.com/sandstep/sandstep/internal/logging"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// githubToken is what GitHub's tokens look like (installation, user,
// OAuth, refresh, personal; fine-grained personal).
var githubToken = lazyre.New(`gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}`)

// quotedTail is the end of t's output as its issue's comment quotes it.
// Anyone may read an issue of a public repository, and an agent steered by
// the text may print what it holds: the task's secret values, and
// anything shaped like a GitHub token, are hidden. When its secrets cannot
// be read to hide them, nothing is quoted.
func (s *Service) quotedTail(ctx context.Context, t *sandstep.Task) string {
	if t.LogSeq == 0 {
		return s.outputTail(ctx, t, commentTail) // at most the marker of output not stored: ours
	}
	hidden, err := s.taskSecretValues(ctx, t)
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "the issue's comment quotes none of the task's output: its secrets could not be read to hide them", "taskId", t.ID, "err", err)
		return ""
	}
	r, longest := logging.NewRedactor(), 0
	for _, v := range hidden {
		r.Add(v)
		longest = max(longest, len(v))
	}
	// Hidden before the tail is cut, so no part of a secret that straddles
	// the cut is quoted.
	tail := githubToken.ReplaceAllString(r.Redact(s.outputTail(ctx, t, commentTail+longest)), logging.Redacted)
	if len(tail) > commentTail {
		tail = strings.ToValidUTF8(tail[len(tail)-commentTail:], "")
	}
	return tail
}

// taskSecretValues are the values of the secrets t's sandbox was given.
func (s *Service) taskSecretValues(ctx context.Context, t *sandstep.Task) ([]string, error) {
	spec, err := s.taskSpec(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	var values []string
	for _, r := range secretRefs("sandbox.", &spec.Sandbox) {
		if s.secrets == nil {
			return nil, fmt.Errorf("task %s names secrets, and secret references are not enabled in this deployment", t.ID)
		}
		v, err := s.secrets.Resolve(ctx, t.Owner, r.field, r.ref)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", r.field, err)
		}
		values = append(values, v)
	}
	return values, nil
}
