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
// OAuth, refresh, personal; fine-grained personal), at most
// githubTokenMax bytes.
var githubToken = lazyre.New(`gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}`)

const githubTokenMax = len("github_pat_") + 255

// quotedTail is the end of t's output as its issue's comment quotes it.
// Anyone may read an issue of a public repository, and an agent steered by
// the text may print what it holds: the task's secret values, and
// anything shaped like a GitHub token, are hidden. When its secrets cannot
// be read to hide them, nothing is quoted.
func (s *Service) quotedTail(ctx context.Context, t *sandstep.Task) string {
	if t.LogSeq == 0 {
		tail, _ := s.outputTail(ctx, t, commentTail) // at most an end marker: ours
		return tail
	}
	values, err := s.taskSecretValues(ctx, t)
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "the issue's comment quotes none of the task's output: its spec or secrets could not be read to hide them", "taskId", t.ID, "err", err)
		return ""
	}
	// Read longer than quoted by the longest thing hidden, which is
	// dropped from the front unless the read is all the output: a secret
	// or token the read cut lies wholly within it.
	longest := githubTokenMax
	for _, v := range values {
		longest = max(longest, len(v))
	}
	tail, whole := s.outputTail(ctx, t, commentTail+longest)
	drop := longest
	if whole {
		drop = 0
	}
	return hideSecrets(tail, values, drop, commentTail)
}

// hideSecrets is the last keep bytes of text after its first drop, with
// each of values (of logging.MinSecretLen bytes or more, and trimmed of
// white space too) and each GitHub token shape replaced by
// logging.Redacted. Found in all of text before any is dropped or
// replaced, so neither moves where another is found.
func hideSecrets(text string, values []string, drop, keep int) string {
	hidden := make([]bool, len(text))
	hide := func(i, j int) {
		for k := i; k < j; k++ {
			hidden[k] = true
		}
	}
	for _, v := range values {
		for _, c := range []string{v, strings.TrimSpace(v)} {
			if len(strings.TrimSpace(c)) < logging.MinSecretLen {
				continue
			}
			for i := 0; ; {
				j := strings.Index(text[i:], c)
				if j < 0 {
					break
				}
				hide(i+j, i+j+len(c))
				i += j + 1
			}
		}
	}
	for _, m := range githubToken.FindAllStringIndex(text, -1) {
		hide(m[0], m[1])
	}
	var b strings.Builder
	for i := min(drop, len(text)); i < len(text); i++ {
		switch {
		case !hidden[i]:
			b.WriteByte(text[i])
		case i == drop || !hidden[i-1]:
			b.WriteString(logging.Redacted)
		}
	}
	out := b.String()
	if len(out) > keep {
		out = out[len(out)-keep:]
	}
	return strings.ToValidUTF8(out, "")
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
