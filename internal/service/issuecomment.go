package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// IssueComments writes the one comment that follows an issue's task:
// created the first time (commentID 0), edited afterwards.
type IssueComments interface {
	UpsertComment(ctx context.Context, installationID int64, repo string, issue int, commentID int64, body string) (int64, error)
}

// commentTail bounds the output an ending comment quotes.
const commentTail = 2000

// tellsIssue says whether t's issue is told how it goes.
func (s *Service) tellsIssue(t *sandstep.Task) bool {
	return s.comments != nil && issueTaskOf(t) && t.Metadata.IssueID != ""
}

// commentOnIssue writes the comment of an issue's task t, saying body. A
// failure to comment never fails the task: it is logged. Only a patient
// caller waits GitHub's rate limit out: the state machine's clean-up
// step, whose ended comment is the issue's last word and which has
// nothing else to do (a webhook has 10 s, the reaper other tasks, and a
// queued task's note is not worth holding its step). It reports whether
// the issue says body now.
func (s *Service) commentOnIssue(ctx context.Context, t *sandstep.Task, body string, patient bool) bool {
	if !s.tellsIssue(t) {
		return false
	}
	inst := installationOf(t)
	issue, _ := strconv.Atoi(t.Metadata.IssueID)
	var id int64
	upsert := func() (err error) {
		cctx, cancel := s.cleanupContext(ctx)
		defer cancel()
		id, err = s.comments.UpsertComment(cctx, inst, t.Metadata.Repo, issue, t.IssueComment, body)
		return err
	}
	var err error
	if patient {
		err = s.withGitHubWaits(ctx, githubWaitFloor, upsert)
	} else {
		err = upsert()
	}
	cctx, cancel := s.cleanupContext(ctx)
	defer cancel()
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "the issue was not told", "taskId", t.ID, "repo", t.Metadata.Repo, "err", err)
		return false
	}
	if id == t.IssueComment {
		return true
	}
	// Kept only over the id this comment replaced, in the same write: an
	// id another writer kept meanwhile (the ended comment) stays. Its own,
	// found when a write whose answer was lost is made again, is kept.
	kept := false
	keep := func(r *sandstep.Task) {
		if kept = r.IssueComment == t.IssueComment || r.IssueComment == id; kept {
			r.IssueComment = id
		}
	}
	_, err = s.tasks.TransitionTask(cctx, t.ID, []sandstep.TaskStatus{t.Status}, t.Status, keep)
	if sandstep.ErrorCode(err) == sandstep.ECONFLICT {
		// The task moved on while the comment was written (a cancel while
		// its start announced it): the id is kept all the same, or its end
		// writes a second comment.
		if cur, gerr := s.tasks.GetTask(cctx, t.ID); gerr == nil {
			_, err = s.tasks.TransitionTask(cctx, t.ID, []sandstep.TaskStatus{cur.Status}, cur.Status, keep)
		}
	}
	if err == nil && !kept {
		err = errors.New("another comment's id was kept meanwhile")
	}
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "the issue comment's id was not kept", "taskId", t.ID, "err", err)
		return true
	}
	t.IssueComment = id
	return true
}

// startedComment says the task started, and how to follow it.
func (s *Service) startedComment(t *sandstep.Task) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**sandstep** started task `%s` for this issue.\n\n", t.ID)
	if t.APIURL != "" {
		fmt.Fprintf(&b, "Follow it: `GET %s/tasks/%s/logs`.\n", strings.TrimRight(t.APIURL, "/"), t.ID)
	}
	b.WriteString("Remove the label, or comment `cancel` after the command, to cancel it.\n")
	return b.String()
}

// busyComment is the task's comment as it stands (started; or, for a task
// that waits, why: paused while sandstep is drained, else as its issue
// was told, queued or waiting for Daytona) with a note that someone asked
// again. The login is GitHub's (letters, digits, -).
func (s *Service) busyComment(ctx context.Context, t *sandstep.Task, sender string) string {
	note := func(while string) string {
		n := "\nAsked again while it " + while
		if sender != "" {
			n += " by @" + sandstep.Clip(sender, 39)
		}
		return n + ": one task runs for an issue at a time; this one goes on.\n"
	}
	if t.Status != sandstep.TaskQueued || t.QueuedAt == nil && t.Waiting == "" || s.admittedTo(ctx, t) {
		return s.startedComment(t) + note("runs")
	}
	reason := cmp.Or(t.Waiting, waitQueued)
	switch {
	case s.drain != nil && s.drain.Drained(ctx):
		reason = waitPaused
	case reason == waitPaused:
		reason = waitQueued // resumed since it was told
	}
	return s.waitingComment(t, reason) + note("waits")
}

// admittedTo says whether queued t has its sandbox, ready: admitted (told
// it started), its command about to start. A sandbox recorded and then
// lost does not count: the task waits again.
func (s *Service) admittedTo(ctx context.Context, t *sandstep.Task) bool {
	if t.SandboxID == "" {
		return false
	}
	sb, err := s.sandboxes.GetSandbox(ctx, t.SandboxID)
	return err == nil && sb.State == sandstep.StateReady
}

// endedComment says how the task ended: outcome, exit code, duration and
// the tail of its output; quoted says the tail is all it should be
// (quotedTail).
func (s *Service) endedComment(ctx context.Context, t *sandstep.Task) (body string, quoted bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "**sandstep** task `%s` %s", t.ID, strings.ReplaceAll(string(t.Status), "_", " "))
	switch {
	case t.ExitCode == nil:
	case *t.ExitCode == 0 && t.Status != sandstep.TaskSucceeded:
		// The command did not fail: what came after it did (the
		// collect's push or pull request, its error below).
		b.WriteString(" (the command exited 0; what followed it did not succeed)")
	default:
		fmt.Fprintf(&b, " with exit code %d", *t.ExitCode)
	}
	if t.StartedAt != nil && t.FinishedAt != nil {
		fmt.Fprintf(&b, " after %s", t.FinishedAt.Sub(*t.StartedAt).Round(time.Second))
	}
	b.WriteString(".\n")
	switch {
	case t.PullRequest != "":
		fmt.Fprintf(&b, "\nPull request: %s\n", t.PullRequest)
	case t.Status == sandstep.TaskSucceeded && s.repoTask(t):
		// Succeeded without one is only ever nothing committed
		// (finishTask): said, so it is not read as a pull request
		// opened elsewhere.
		b.WriteString("\nNo pull request: the agent committed nothing.\n")
	}
	if e := quotedError(t); e != "" {
		// Fenced as the output is: it may quote git's words about the
		// agent's clone, which are the agent's to choose (a mention there
		// would notify, a line could pass for this comment's own).
		fmt.Fprintf(&b, "\n%s\n", fenced(e))
	}
	tail, quoted := s.quotedTail(ctx, t)
	if tail != "" {
		fmt.Fprintf(&b, "\nThe end of its output:\n\n%s\n", fenced(tail))
	}
	return b.String(), quoted
}

// fenced is text as a code block, shown as it is: a fence longer than
// any run of backticks in it keeps it from closing early.
func fenced(text string) string {
	fence := strings.Repeat("`", max(3, longestRun(text, '`')+1))
	return fence + "\n" + text + "\n" + fence
}

// storedTail is at least the last n bytes of the task's stored output
// (whole seqs), as a reader reads them, in order; whole says it is all of
// it, from the first byte; err is the read that failed, which ended it.
func (s *Service) storedTail(ctx context.Context, t *sandstep.Task, n int) (pieces []logPiece, whole bool, err error) {
	// Gathered back a seq at a time and read forward as a reader reads
	// them: a seq can hold a losing writer's chunk beside the recorded
	// one, and each byte counts once.
	var chunks []logObject
	seq, size := t.LogSeq, 0
gather:
	for ; seq > 0 && size < n; seq-- {
		var keys []string
		keys, err = s.objects.List(ctx, fmt.Sprintf("%s%012d-", logPrefix(t.ID), seq), "", maxLogPage)
		if err != nil || len(keys) == 0 {
			break
		}
		at := make([]logObject, 0, len(keys))
		for _, key := range keys {
			var data []byte
			if data, err = s.objects.Get(ctx, key); err != nil {
				break gather
			}
			at = append(at, logObject{strings.TrimPrefix(key, logPrefix(t.ID)), data})
		}
		chunks = append(at, chunks...)
		pieces, size = readLogObjects(chunks, t.LogBytes)
	}
	return pieces, seq == 0, err
}

// A logObject is a stored chunk: its name under the task's log prefix, and
// its bytes.
type logObject struct {
	name string
	data []byte
}

// A logPiece is what a reader is given of a stored chunk: its stream's
// index, where its bytes start in the stream's file (-1: unknown), and
// the bytes.
type logPiece struct {
	stream int
	offset int64
	data   []byte
}

// readLogObjects is what a reader is given of chunks, in order, each byte
// the record counts (recorded, its LogBytes) once; and its size.
func readLogObjects(chunks []logObject, recorded [2]int64) ([]logPiece, int) {
	var pieces []logPiece
	var cur logCursor
	size := 0
	for _, c := range chunks {
		ch, offset, ok := parseLogKey(c.name)
		if !ok {
			continue
		}
		i := streamIndex(ch.Stream)
		start := max(offset, cur.sent[i])
		if offset < 0 {
			start = -1
		}
		if data := cur.take(i, offset, recorded[i], c.data); len(data) > 0 {
			pieces = append(pieces, logPiece{i, start, data})
			size += len(data)
		}
	}
	return pieces, size
}

func longestRun(s string, c byte) int {
	best, run := 0, 0
	for i := range len(s) {
		if s[i] == c {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return best
}
