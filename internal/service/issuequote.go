package service

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/sandstep/sandstep/internal/lazyre"
	"github.com/sandstep/sandstep/internal/logging"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// githubToken is what GitHub's tokens look like (installation, user,
// OAuth, refresh, personal; fine-grained personal), at most
// githubTokenMax bytes; githubTokenCut is the start of one that ends the
// text, githubTokenRest the rest of one that starts it (16 of its
// characters or more, a word not taken for one; at most
// githubTokenMax-1).
var (
	githubToken     = lazyre.New(`gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}`)
	githubTokenCut  = lazyre.New(`(?:gh[pousr]_[A-Za-z0-9]*|github_pat_[A-Za-z0-9_]*)$`)
	githubTokenRest = lazyre.New(`^[A-Za-z0-9_]{16,265}`)
)

const githubTokenMax = len("github_pat_") + 255

// quotedTail is the end of t's output as its issue's comment quotes it,
// with its end marker (endMarker). Anyone may read an issue of a public
// repository, and an agent steered by the text may print what it
// holds: the task's secret values, and anything shaped like a GitHub
// token, are hidden. When its secrets cannot be read to hide them, none
// of its output is quoted. read says the quote is all it should be: false
// when the secrets or the output could not be read.
func (s *Service) quotedTail(ctx context.Context, t *sandstep.Task) (quote string, read bool) {
	read = true
	if t.LogSeq > 0 && s.objects != nil {
		values, err := s.taskSecretValues(ctx, t)
		if err != nil {
			s.opts.Logger.WarnContext(ctx, "the issue's comment quotes none of the task's output: its spec or secrets could not be read to hide them", "taskId", t.ID, "err", err)
			return "", false
		}
		// Read longer than quoted by the longest thing hidden, as hiding
		// shortens the text. A stream the read did not take from its first
		// byte may begin with the rest of a secret or token the read cut.
		longest := githubTokenMax
		for _, v := range values {
			longest = max(longest, len(v))
		}
		pieces, whole, err := s.storedTail(ctx, t, commentTail+2*longest)
		if err != nil {
			s.opts.Logger.WarnContext(ctx, "the issue's comment quotes less of the task's output than it has: a read failed", "taskId", t.ID, "err", err)
			read = false
		}
		var cut [2]bool
		for i := range cut {
			j := slices.IndexFunc(pieces, func(p logPiece) bool { return p.stream == i })
			cut[i] = !whole && j >= 0 && pieces[j].offset != 0
		}
		quote = hideSecrets(pieces, values, cut)
	}
	if m, ok := endMarker(t); ok {
		quote += m.Data
	}
	quote = strings.TrimRight(quote, "\n")
	if from := len(quote) - commentTail; from > 0 {
		// Not inside a [REDACTED]: it is quoted whole.
		if i := strings.LastIndex(quote[max(0, from-len(logging.Redacted)+1):from+len(logging.Redacted)-1], logging.Redacted); i >= 0 {
			from = max(0, from-len(logging.Redacted)+1) + i
		}
		quote = quote[from:]
	}
	return strings.ToValidUTF8(quote, ""), read
}

// quotedError is the task's error as the comment quotes it, GitHub token
// shapes hidden. What it quotes of git's or the agent's words had the
// task's secrets hidden where it was written (quotedStderr), so no
// secret is read here: the GitHub function, which writes comments too,
// cannot read them.
func quotedError(t *sandstep.Task) string {
	// Hidden before the ellipsis goes back on: a token the cut ends in is
	// hidden by its start.
	text, clipped := strings.CutSuffix(sandstep.Clip(t.Error, 500), "…")
	quoted := hideSecrets([]logPiece{{data: []byte(text)}}, nil, [2]bool{})
	if clipped {
		quoted += "…"
	}
	return quoted
}

// quotedStderr is stderr, words of git's that a task's error quotes, as
// the error quotes them: its first 500 bytes, with the task's secrets
// (spec's) and GitHub tokens hidden as its output is in the issue's
// comment; a note instead when the secrets cannot be read.
func (s *Service) quotedStderr(ctx context.Context, t *sandstep.Task, spec *TaskInput, stderr string) string {
	values, err := s.secretValues(ctx, t, spec)
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "what git printed is not quoted in the task's error: its secrets could not be read to hide them", "taskId", t.ID, "err", err)
		return "(not quoted: the task's secrets could not be read to hide them)"
	}
	return sandstep.Clip(hideSecrets([]logPiece{{data: []byte(strings.TrimSpace(stderr))}}, values, [2]bool{}), 500)
}

// hideSecrets is pieces, in order, valid UTF-8 (each stream's text
// rendered, logging.Rendered), with, found in each stream's own text (a
// secret one stream printed is not split by the other's chunks) and in
// the text as shown (one printed half on each stream), each of values
// (of logging.MinSecretLen bytes or more, trimmed of white space too),
// each GitHub token shape, an end that begins one of them (the
// output cut there, or never stored past it), and, in a stream cut[stream]
// says the read began past its first byte, a start that ends one of them
// replaced by logging.Redacted. Rendered before the secrets are looked
// for, as the text is shown: a stray byte dropped after would join the
// halves of a secret printed around it.
func hideSecrets(pieces []logPiece, values []string, cut [2]bool) string {
	var raw [2][]byte
	for _, p := range pieces {
		raw[p.stream] = append(raw[p.stream], p.data...)
	}
	var texts [2]string
	var at [2][]int
	var hidden [2][]bool
	for i := range raw {
		texts[i], at[i] = renderedStream(raw[i])
		hidden[i] = secretsIn(texts[i], values, cut[i])
	}
	// Looked for too in the text as the quote shows it, both streams'
	// chunks in turn: a secret printed half on each reads whole there.
	var shown []byte
	var from [][2]int // the stream and position in its text of each byte of shown
	var read [2]int
	for _, p := range pieces {
		i := p.stream
		for pos := at[i][read[i]]; pos < at[i][read[i]+len(p.data)]; pos++ {
			shown = append(shown, texts[i][pos])
			from = append(from, [2]int{i, pos})
		}
		read[i] += len(p.data)
	}
	for k, h := range secretsIn(string(shown), values, false) {
		if h {
			hidden[from[k][0]][from[k][1]] = true
		}
	}
	var b strings.Builder
	inRun := false
	for k, c := range shown {
		switch {
		case !hidden[from[k][0]][from[k][1]]:
			b.WriteByte(c)
			inRun = false
		case !inRun:
			b.WriteString(logging.Redacted)
			inRun = true
		}
	}
	return b.String()
}

// renderedStream is text rendered (logging.Rendered), and, for each byte
// offset of text and its end, where the first character starting there or
// after begins in it: a character split between two pieces shows whole in
// the piece it starts in.
func renderedStream(text []byte) (string, []int) {
	var b strings.Builder
	at := make([]int, len(text)+1)
	next := 0
	for i, r := range string(text) { // an invalid byte ranges as one utf8.RuneError
		for ; next <= i; next++ {
			at[next] = b.Len()
		}
		b.WriteRune(r)
	}
	for ; next <= len(text); next++ {
		at[next] = b.Len()
	}
	return b.String(), at
}

// secretsIn marks the bytes of text hideSecrets hides; cut says text
// begins past its stream's first byte. All are found in all of text, so no
// replacement moves where another is found.
func secretsIn(text string, values []string, cut bool) []bool {
	hidden := make([]bool, len(text))
	hide := func(i, j int) {
		for k := i; k < j; k++ {
			hidden[k] = true
		}
	}
	for _, v := range values {
		forms := logging.SecretForms(v)
		logging.MarkSecrets(hidden, text, forms)
		for _, c := range forms {
			// A head or tail cut inside a character is looked for as the
			// text shows it: rendered (hideSecrets renders it first).
			for k := len(c) - 1; k >= logging.MinSecretLen; k-- {
				if f := logging.Rendered(c[:k]); strings.HasSuffix(text, f) {
					hide(len(text)-len(f), len(text))
					break
				}
			}
			for k := len(c) - 1; cut && k >= logging.MinSecretLen; k-- {
				if f := logging.Rendered(c[len(c)-k:]); strings.HasPrefix(text, f) {
					hide(0, len(f))
					break
				}
			}
		}
	}
	// Each token looked for again from its start's next byte: tokens may
	// overlap (two side by side, the first swallowing the second's
	// prefix).
	for i := 0; i < len(text); {
		m := githubToken.FindStringIndex(text[i:])
		if m == nil {
			break
		}
		hide(i+m[0], i+m[1])
		i += m[0] + 1
	}
	if m := githubTokenCut.FindStringIndex(text); m != nil {
		hide(m[0], m[1])
	}
	// The rest of a token has no prefix to know it by: a long run of its
	// characters at a cut start is taken for one.
	if m := githubTokenRest.FindStringIndex(text); m != nil && cut {
		hide(m[0], m[1])
	}
	return hidden
}

// taskSecretValues are the values of the secrets t's sandbox was given.
func (s *Service) taskSecretValues(ctx context.Context, t *sandstep.Task) ([]string, error) {
	spec, err := s.taskSpec(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	return s.secretValues(ctx, t, spec)
}

// secretValues are the values of the secrets spec, t's, names.
func (s *Service) secretValues(ctx context.Context, t *sandstep.Task, spec *TaskInput) ([]string, error) {
	ctx = s.oneRead(ctx)
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
